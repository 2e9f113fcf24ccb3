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
