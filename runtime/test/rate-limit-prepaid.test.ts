/** Tool decisions made with a request's own limits, kept for the policy layer: order, expiry and bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepaidDecisions } from '../src/security/rate-limit/prepaid.ts';
import type { LimitDecision } from '../src/security/types.ts';

const ok: LimitDecision = { ok: true };
const refused = (s: number): LimitDecision => ({ ok: false, retryAfterSeconds: s, scope: 'tool' });

test('a decision is taken once, oldest first, and a taken pair can be filled again', () => {
  const p = prepaidDecisions();
  assert.equal(p.take('alice', 'echo'), undefined);
  p.put('alice', 'echo', ok);
  assert.deepEqual(p.take('alice', 'echo'), ok);
  assert.equal(p.take('alice', 'echo'), undefined, 'taken once');
  for (let round = 0; round < 3; round++) {
    p.put('alice', 'echo', refused(1));
    p.put('alice', 'echo', refused(2));
    assert.deepEqual(p.take('alice', 'echo'), refused(1));
    assert.deepEqual(p.take('alice', 'echo'), refused(2));
    assert.equal(p.take('alice', 'echo'), undefined);
  }
  p.put('alice', 'echo', ok);
  assert.equal(p.take('bob', 'echo'), undefined, 'another principal');
  assert.equal(p.take('alice', 'other'), undefined, 'another tool');
});

test('expired decisions are skipped, and the pairs kept stay bounded', () => {
  let now = 0;
  const p = prepaidDecisions({ ttlMs: 100, maxKeys: 2, now: () => now });
  p.put('a', 't', refused(1));
  now = 50;
  p.put('a', 't', ok);
  now = 120;
  assert.deepEqual(p.take('a', 't'), ok, 'the expired first entry is skipped');
  now = 300;
  p.put('a', 't', ok);
  assert.deepEqual(p.take('a', 't'), ok);
  // Taken pairs keep their slot; a third pair evicts the oldest.
  p.put('b', 't', ok);
  p.put('c', 't', ok);
  assert.equal(p.take('a', 't'), undefined, 'the oldest pair was evicted');
  assert.deepEqual(p.take('b', 't'), ok);
  assert.deepEqual(p.take('c', 't'), ok);
});
