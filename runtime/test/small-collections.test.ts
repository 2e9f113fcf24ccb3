/** The hot path's small collections behave like the Set and Map they replace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotSet, SmallMap, SmallSet } from '../src/small-collections.ts';

test('SlotSet: add, delete from any position, idempotence, snapshot iteration', () => {
  const set = new SlotSet<{ slot: number; n: number }>();
  const items = Array.from({ length: 6 }, (_, n) => ({ slot: -1, n }));
  for (const item of items) set.add(item);
  set.add(items[2]!); // already in: no duplicate
  assert.equal(set.size, 6);
  assert.equal(set.delete(items[0]!), true);
  assert.equal(set.delete(items[0]!), false);
  assert.equal(set.delete(items[5]!), true);
  assert.equal(set.delete(items[3]!), true);
  assert.deepEqual(set.values().map((i) => i.n).sort(), [1, 2, 4]);
  // Deleting while iterating visits every member once.
  const seen: number[] = [];
  for (const item of set) {
    seen.push(item.n);
    set.delete(item);
  }
  assert.deepEqual(seen.sort(), [1, 2, 4]);
  assert.equal(set.size, 0);
  // An item is reusable after removal.
  set.add(items[0]!);
  assert.equal(set.size, 1);
  assert.equal(set.delete(items[0]!), true);
});

for (const keys of [6, 40]) test(`SmallMap: get/set/has/delete/clear/entries agree with Map over a random sequence (${keys} keys${keys > 16 ? ', spilling' : ''})`, () => {
  const small = new SmallMap<number | string, number>();
  const ref = new Map<number | string, number>();
  let peak = 0;
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 2000; step++) {
    const key = rand() < 0.5 ? Math.floor(rand() * keys) : String(Math.floor(rand() * keys));
    const r = rand();
    if (r < 0.55) {
      small.set(key, step);
      ref.set(key, step);
    } else if (r < 0.95) assert.equal(small.delete(key), ref.delete(key));
    else if (r < 0.955) {
      small.clear();
      ref.clear();
    }
    assert.equal(small.get(key), ref.get(key));
    assert.equal(small.has(key), ref.has(key));
    assert.equal(small.size, ref.size);
    peak = Math.max(peak, ref.size);
    if (step % 97 === 0) assert.deepEqual(new Map(small.entries()), ref);
  }
  assert.deepEqual(new Map(small.entries()), ref);
  assert.deepEqual(new Set(small.values()), new Set(ref.values()));
  assert.ok(keys < 16 || peak > 20, `the sequence reaches past the spill limit (peak ${peak})`);
});

for (const values of [8, 40]) test(`SmallSet: add/has/delete/clear agree with Set over a random sequence (${values} values${values > 16 ? ', spilling' : ''})`, () => {
  const small = new SmallSet<number>();
  const ref = new Set<number>();
  let peak = 0;
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 2000; step++) {
    const v = Math.floor(rand() * values);
    const r = rand();
    if (r < 0.55) {
      small.add(v);
      ref.add(v);
    } else if (r < 0.995) assert.equal(small.delete(v), ref.delete(v));
    else {
      small.clear();
      ref.clear();
    }
    assert.equal(small.has(v), ref.has(v));
    assert.equal(small.size, ref.size);
    peak = Math.max(peak, ref.size);
  }
  assert.deepEqual(new Set(small.values()), ref);
  assert.ok(values < 16 || peak > 20, `the sequence reaches past the spill limit (peak ${peak})`);
});
