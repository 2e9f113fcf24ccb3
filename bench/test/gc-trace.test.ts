// The harness reads GC pauses from V8's --trace-gc lines on the server's
// stdout, among whatever else the server writes there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { gcPausesFromTrace } from '../src/gc-trace.ts';

const trace = [
  '[26102:0x36394000]       22 ms: Scavenge 5.0 (5.8) -> 4.6 (6.8) MB, pooled: 0 MB, 0.45 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ',
  '{"level":40,"time":1,"tenant":"bench/echo","msg":"a log line: 3 ms: Scavenge is not a GC"}',
  '[26102:0x36394000]       49 ms: Scavenge 12.1 (17.0) -> 11.7 (19.0) MB, pooled: 0 MB, 6.20 / 0.00 ms  (average mu = 1.000, current mu = 1.000) task; ',
  '[26102:0x36394000]      194 ms: Mark-Compact 89.4 (143.6) -> 67.5 (132.2) MB, pooled: 0 MB, 12.49 / 0.00 ms  (+ 8.5 ms in 31 steps since start of marking, biggest step 1.8 ms, walltime since start of marking 65 ms) (average mu = 0.662, current mu = 0.662) finalize incremental marking via task; GC in old space requested',
  '[26102:0x36394000]      900 ms: Mark-Compact (reduce) 20.1 (30.0) -> 18.0 (29.0) MB, pooled: 0 MB, 3.00 / 0.00 ms  (+ 0.0 ms in 0 steps since start of marking, biggest step 0.0 ms, walltime since start of marking 3 ms) (average mu = 0.9, current mu = 0.9) memory reducer; GC in old space requested',
  '',
].join('\n');

test('scavenges, full collections and their marking steps, by kind; other lines ignored', () => {
  assert.deepEqual(gcPausesFromTrace(trace), {
    minor: { count: 2, totalMs: 6.65, maxMs: 6.2, over1ms: 1, over5ms: 1 },
    major: { count: 2, totalMs: 15.49, maxMs: 12.49, over1ms: 2, over5ms: 1 },
    incremental: { count: 31, totalMs: 8.5, maxMs: 1.8, over1ms: 1, over5ms: 0 },
  });
  assert.deepEqual(gcPausesFromTrace('no collections here\n'), {});
});

test("the format this Node prints: a real --trace-gc run parses to its collections", () => {
  const run = spawnSync(process.execPath, ['--trace-gc', '--max-semi-space-size=1', '-e', 'let k = []; for (let i = 0; i < 3e5; i++) { k.push({ i }); if (k.length > 5e4) k = []; }'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n').filter((l) => / ms: (Scavenge|Mark-Compact)/.test(l)).length;
  assert.ok(lines > 0, 'the run collected garbage');
  const gc = gcPausesFromTrace(run.stdout);
  assert.equal((gc.minor?.count ?? 0) + (gc.major?.count ?? 0), lines, 'every collection line is read');
  assert.ok((gc.minor?.totalMs ?? 0) > 0);
});
