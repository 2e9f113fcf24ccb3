import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from '../src/controller/queue.ts';

test('keys are deduplicated while they wait', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('a key is never handed to two workers; a re-add during processing runs once more afterwards', async () => {
  const q = new WorkQueue();
  q.add('a');
  const first = await q.get();
  assert.equal(first, 'a');
  q.add('a');
  q.add('a');
  assert.equal(q.length, 0, 'held back while processed');
  let second: string | undefined;
  const waiting = q.get().then((k) => (second = k));
  await sleep(10);
  assert.equal(second, undefined);
  q.done('a');
  await waiting;
  assert.equal(second, 'a');
  q.done('a');
  assert.equal(q.length, 0);
});

test('a waiting get is woken by add and released by its abort signal', async () => {
  const q = new WorkQueue();
  const got = q.get();
  q.add('x');
  assert.equal(await got, 'x');
  const ac = new AbortController();
  const pending = q.get(ac.signal);
  ac.abort();
  assert.equal(await pending, undefined);
  q.add('y');
  assert.equal(q.length, 1, 'the aborted waiter did not swallow the key');
});

test('failures back off exponentially per key; forget resets', () => {
  const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, qps: 1000, burst: 1000, now: () => 0 });
  const delays = [q.nextDelay('k'), q.nextDelay('k'), q.nextDelay('k'), q.nextDelay('k'), q.nextDelay('k')];
  assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
  assert.equal(q.nextDelay('other'), 100, 'per key');
  q.forget('k');
  assert.equal(q.nextDelay('k'), 100);
});

test('the overall token bucket spaces out retries of many keys', () => {
  let now = 0;
  const q = new WorkQueue({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 5, now: () => now });
  const delays = Array.from({ length: 8 }, (_, i) => q.nextDelay(`k${i}`));
  assert.deepEqual(delays.slice(0, 5), [1, 1, 1, 1, 1]);
  assert.ok(delays[5]! >= 99 && delays[7]! >= 299, `bucket delays: ${delays.join(',')}`);
  now += 10_000;
  assert.equal(q.nextDelay('later'), 1, 'refilled');
});

test('addAfter delivers later; the earliest schedule wins', async () => {
  const q = new WorkQueue();
  q.addAfter('k', 200);
  q.addAfter('k', 30);
  q.addAfter('k', 500);
  assert.equal(q.delayed, 1);
  assert.equal(q.length, 0);
  const started = Date.now();
  assert.equal(await q.get(), 'k');
  const waited = Date.now() - started;
  assert.ok(waited >= 25 && waited < 190, `waited ${waited} ms`);
});

test('shutdown releases waiters and refuses new work', async () => {
  const q = new WorkQueue();
  const w = q.get();
  q.shutdown();
  assert.equal(await w, undefined);
  q.add('z');
  assert.equal(await q.get(), undefined);
});
