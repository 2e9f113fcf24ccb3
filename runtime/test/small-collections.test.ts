/** The hot path's small collections behave like the Set and Map they replace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DictMap, SlotSet, SmallMap, SmallSet } from '../src/small-collections.ts';

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

test('SmallMap: the spill of a burst is dropped once its entries are gone, so later keys never reach a DictMap', () => {
  const small = new SmallMap<string, number>();
  for (let i = 0; i < 24; i++) small.set(`burst-${i}`, i);
  assert.equal(small.spilling, true);
  for (let i = 23; i >= 4; i--) small.delete(`burst-${i}`);
  assert.equal(small.spilling, false, 'the last spilled entry took the spill with it');
  assert.deepEqual(small.keys().sort(), ['burst-0', 'burst-1', 'burst-2', 'burst-3']);
  for (let i = 0; i < 100; i++) {
    small.set(`later-${i}`, i);
    assert.equal(small.get(`later-${i}`), i);
    small.delete(`later-${i}`);
  }
  assert.equal(small.spilling, false);
  assert.equal(small.size, 4);
  // Deleting the array entries first leaves the spill until its own entries go.
  for (let i = 0; i < 24; i++) small.set(`again-${i}`, i);
  for (let i = 0; i < 4; i++) small.delete(`burst-${i}`);
  assert.equal(small.spilling, true);
  for (let i = 0; i < 24; i++) small.delete(`again-${i}`);
  assert.equal(small.spilling, false);
  assert.equal(small.size, 0);
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

for (const keys of [5, 300]) test(`DictMap: get/set/has/delete/clear/entries agree with Map over a random sequence (${keys} keys)`, () => {
  const dict = new DictMap<number | string, number>();
  const ref = new Map<number | string, number>();
  let seed = 13;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 3000; step++) {
    const n = Math.floor(rand() * keys);
    // 1 and "1" are different keys, as in a Map; so are 1.5 and "1.5".
    const key = rand() < 0.4 ? n : rand() < 0.5 ? String(n) : n + 0.5;
    const r = rand();
    if (r < 0.55) {
      dict.set(key, step);
      ref.set(key, step);
    } else if (r < 0.997) assert.equal(dict.delete(key), ref.delete(key));
    else {
      dict.clear();
      ref.clear();
    }
    assert.equal(dict.get(key), ref.get(key));
    assert.equal(dict.has(key), ref.has(key));
    assert.equal(dict.size, ref.size);
    if (step % 101 === 0) assert.deepEqual(new Map(dict.entries()), ref);
  }
  assert.deepEqual(new Map(dict), ref);
  assert.deepEqual(new Set(dict.keys()), new Set(ref.keys()));
  assert.deepEqual(dict.values().sort(), [...ref.values()].sort());
});

test('DictMap: keys that name Object.prototype members are ordinary keys', () => {
  const dict = new DictMap<string, number>();
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 's', 'sx']) {
    assert.equal(dict.has(key), false, key);
    assert.equal(dict.get(key), undefined, key);
    dict.set(key, key.length);
  }
  assert.equal(dict.size, 7);
  assert.equal(dict.get('__proto__'), 9);
  assert.equal(dict.get('s'), 1);
  assert.equal(dict.delete('constructor'), true);
  assert.equal(dict.has('constructor'), false);
  assert.deepEqual(dict.keys().sort(), ['', '__proto__', 'hasOwnProperty', 's', 'sx', 'toString']);
});

test('DictMap: iteration is a snapshot, so deleting while iterating is safe', () => {
  const dict = new DictMap<number, string>();
  for (let i = 0; i < 50; i++) dict.set(i, `v${i}`);
  let visited = 0;
  for (const [k] of dict) {
    dict.delete(k);
    dict.delete(k + 1);
    visited++;
  }
  assert.equal(visited, 50);
  assert.equal(dict.size, 0);
});

/**
 * Why DictMap exists (see small-collections.ts): after a full collection, a
 * long-lived Map with entries coming and going keeps every later backing
 * table and its entries alive until the next full collection, so they are
 * promoted. Run in a child with --expose-gc: promoted bytes per churned entry
 * after one forced full collection, Map against DictMap.
 */
test('after a full collection, churning a Map promotes its entries and churning a DictMap does not', () => {
  const script = fileURLToPath(new URL('./fixtures/churn-promotion.ts', import.meta.url));
  const ENTRIES = 20_000;
  const run = (kind: string): number => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', '--max-semi-space-size=4', script, kind], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
    assert.equal(r.status, 0, r.stderr);
    const promoted = [...r.stdout.matchAll(/ gc=s .*? promoted=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    return Math.round(promoted / ENTRIES);
  };
  const map = run('map');
  const dict = run('dict');
  // Each entry holds about 2 KB: a Map promotes most of them (about 1.6 KB
  // per entry here), a DictMap only what start-up promotes (under 40 bytes).
  assert.ok(map > 800, `Map: ${map} bytes promoted per churned entry`);
  assert.ok(dict * 10 < map, `DictMap: ${dict} bytes promoted per churned entry, Map ${map}`);
});
