/** The tracked read cache's decisions: what it keeps, for how long, and which reads it refuses to keep. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackedCache } from '../src/store/redis/tracked-cache.ts';

function feed(active = true) {
  const state = { active, epoch: 0 };
  return { state, feed: { active: () => state.active, epoch: () => state.epoch } };
}

test('a settled read is served until its deadline, then forgotten', () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  cache.settle(cache.begin('k'), 'v1', 1000);
  assert.equal(cache.get('k', 999), 'v1');
  assert.equal(cache.get('k', 1000), undefined);
  assert.equal(cache.size, 0);
});

test('an invalidation overtaking the reply spoils that read, but not a read begun after it', () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  const early = cache.begin('k');
  cache.invalidate('k');
  const late = cache.begin('k');
  cache.settle(early, 'stale', 1000);
  assert.equal(cache.get('k', 0), undefined, 'the read in flight during the invalidation is not kept');
  cache.settle(late, 'fresh', 1000);
  assert.equal(cache.get('k', 0), 'fresh');
  cache.invalidate('k');
  assert.equal(cache.get('k', 0), undefined);
});

test('concurrent reads of one key share their fate; other keys are untouched', () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  const a = cache.begin('k');
  const b = cache.begin('k');
  const other = cache.begin('j');
  cache.invalidate('k');
  cache.settle(a, 'a', 1000);
  cache.settle(b, 'b', 1000);
  cache.settle(other, 'j', 1000);
  assert.equal(cache.get('k', 0), undefined);
  assert.equal(cache.get('j', 0), 'j');
});

test('a flush (FLUSHALL) empties the cache and spoils every read in flight', () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  cache.settle(cache.begin('x'), 'x', 1000);
  const inFlight = cache.begin('y');
  cache.invalidate(null);
  assert.equal(cache.get('x', 0), undefined);
  cache.settle(inFlight, 'y', 1000);
  assert.equal(cache.get('y', 0), undefined);
  cache.settle(cache.begin('y'), 'y2', 1000);
  assert.equal(cache.get('y', 0), 'y2');
});

test('nothing is kept or served while tracking is off, nor from a read begun in another tracking epoch', () => {
  const { state, feed: f } = feed(false);
  const cache = new TrackedCache<string>(f, 10);
  cache.settle(cache.begin('k'), 'v', 1000);
  assert.equal(cache.get('k', 0), undefined, 'not kept while off');
  state.active = true;
  const before = cache.begin('k');
  state.epoch++; // tracking restarted while the read was in flight
  cache.settle(before, 'v', 1000);
  assert.equal(cache.get('k', 0), undefined, 'a read from another epoch is not kept');
  cache.settle(cache.begin('k'), 'v', 1000);
  assert.equal(cache.get('k', 0), 'v');
  state.active = false;
  assert.equal(cache.get('k', 0), undefined, 'not served once tracking is off');
});

test('a failed read keeps nothing and the cache stays bounded, oldest first', () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<number>(f, 3);
  cache.settle(cache.begin('failed'));
  assert.equal(cache.get('failed', 0), undefined);
  for (let i = 0; i < 5; i++) cache.settle(cache.begin(`k${i}`), i, 1000);
  assert.equal(cache.size, 3);
  assert.equal(cache.get('k0', 0), undefined);
  assert.equal(cache.get('k1', 0), undefined);
  assert.equal(cache.get('k4', 0), 4);
});

/** A load that answers when told to, counting how often it was called. */
function gatedLoad<V>() {
  const gates: Array<(v: { value: V | undefined; keepMs: number }) => void> = [];
  return {
    calls: () => gates.length,
    load: () => new Promise<{ value: V | undefined; keepMs: number }>((resolve) => gates.push(resolve)),
    answer: (i: number, value: V | undefined, keepMs = 0) => gates[i]!({ value, keepMs }),
  };
}

test('cold reads of one key in flight together send one read and all get its answer', async () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  const g = gatedLoad<string>();
  const reads = [cache.getOrLoad('k', g.load), cache.getOrLoad('k', g.load), cache.getOrLoad('k', g.load)];
  const other = cache.getOrLoad('j', g.load);
  assert.equal(g.calls(), 2, 'one read for k, one for j');
  g.answer(0, 'v');
  g.answer(1, 'w');
  assert.deepEqual(await Promise.all(reads), ['v', 'v', 'v']);
  assert.equal(await other, 'w');
  // Not kept (keepMs 0): the next read goes to Redis again.
  const again = cache.getOrLoad('k', g.load);
  assert.equal(g.calls(), 3);
  g.answer(2, 'v2');
  assert.equal(await again, 'v2');
});

test('callers that joined a read spoiled by an invalidation read again; a failed read fails its joiners', async () => {
  const { feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  const g = gatedLoad<string>();
  const first = cache.getOrLoad('k', g.load);
  const joined = cache.getOrLoad('k', g.load);
  cache.invalidate('k');
  g.answer(0, 'before the write', 1000);
  assert.equal(await first, 'before the write', 'the first caller asked before the write');
  await new Promise((r) => setImmediate(r));
  assert.equal(g.calls(), 2, 'the joiner sends its own read');
  g.answer(1, 'after the write', 1000);
  assert.equal(await joined, 'after the write');

  const failing = new TrackedCache<string>(f, 10);
  let rejectIt!: (e: Error) => void;
  const load = () => new Promise<{ value: string | undefined; keepMs: number }>((_, reject) => (rejectIt = reject));
  const a = failing.getOrLoad('k', load);
  const b = failing.getOrLoad('k', load);
  rejectIt(new Error('redis down'));
  await assert.rejects(a, /redis down/);
  await assert.rejects(b, /redis down/);
});

test('a caller that must see Redis, a tracking restart, or tracking off: nothing is shared', async () => {
  const { state, feed: f } = feed();
  const cache = new TrackedCache<string>(f, 10);
  const g = gatedLoad<string>();
  const a = cache.getOrLoad('k', g.load);
  const mustSee = cache.getOrLoad('k', g.load, false);
  assert.equal(g.calls(), 2, 'serve=false reads for itself');
  state.epoch++;
  const afterRestart = cache.getOrLoad('k', g.load);
  assert.equal(g.calls(), 3, 'a read sent before the restart is not shared after it');
  state.active = false;
  const off = cache.getOrLoad('k', g.load);
  assert.equal(g.calls(), 4, 'tracking off: every caller reads');
  for (let i = 0; i < 4; i++) g.answer(i, `v${i}`);
  assert.deepEqual(await Promise.all([a, mustSee, afterRestart, off]), ['v0', 'v1', 'v2', 'v3']);
});
