// Closed-loop rounds: per concurrency the run with the most calls/s is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult } from '../src/load-worker.ts';
import { bestOf } from '../src/rounds.ts';

const run = (rps: number, round: number): LoadResult => ({ requestsPerSecond: rps, total: rps * 5, errors: 0, p50: 1, p95: 2, p99: 3, max: 4, serverCpuMicrosPerCall: 1e6 / rps, round });

test('keeps, per concurrency, the round with the most calls/s', () => {
  const own = { 1: run(2000, 3), 8: run(9000, 3), 64: run(7000, 3) };
  const best = bestOf(own, [{ 1: run(2100, 1), 8: run(8000, 1), 64: run(11000, 1) }, { 64: run(10000, 2) }]);
  assert.deepEqual(Object.fromEntries(Object.entries(best).map(([c, r]) => [c, r.round])), { 1: 1, 8: 3, 64: 1 });
  assert.equal(best[64]!.requestsPerSecond, 11000);
});

test('a tie keeps the main round; no earlier rounds keep it all; a concurrency only an earlier round has is kept', () => {
  const own = { 8: run(5000, 2) };
  assert.equal(bestOf(own, [{ 8: run(5000, 1) }])[8]!.round, 2);
  assert.deepEqual(bestOf(own, []), own);
  assert.equal(bestOf(own, [{ 1: run(900, 1) }])[1]!.round, 1);
});
