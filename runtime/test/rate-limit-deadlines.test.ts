/** The rate limiter's shared deadline queue: answers, timeouts, and what a settled entry still holds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deadlines } from '../src/security/rate-limit/deadlines.ts';

test('a promise that answers in time settles with its answer; one that does not is rejected at its deadline', async () => {
  const race = deadlines(30);
  try {
    assert.equal(await race(Promise.resolve('answer')), 'answer');
    await assert.rejects(race(Promise.reject(new Error('redis error'))), /redis error/);
    const started = performance.now();
    await assert.rejects(race(new Promise(() => {})), /no answer within 30 ms/);
    assert.ok(performance.now() - started >= 29);
  } finally {
    race.close();
  }
});

test('an answered entry waiting in the queue for its deadline does not keep the answer alive', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const race = deadlines(60_000);
  try {
    const refs: Array<WeakRef<object>> = [];
    for (let i = 0; i < 50; i++) {
      const answer = { reply: new Array(64).fill(`bucket ${i}`) };
      refs.push(new WeakRef(answer));
      await race(Promise.resolve(answer));
    }
    // Every entry is still queued (its deadline is a minute away).
    await new Promise((r) => setTimeout(r, 10));
    gc();
    // The last answer may still sit in this async function's frame, as it would after a plain await.
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.ok(alive <= 1, `${alive} of 50 answers still alive while their entries wait`);
  } finally {
    race.close();
  }
});
