// The quick benchmark run must work end to end (its timings are not judged
// here: numbers come from full runs, as ratios, never from timed tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resumeLatencyPath } from '../src/load-core-idle.ts';

const bench = join(dirname(fileURLToPath(import.meta.url)), '..');

test('npm run bench -- --quick measures every rung and writes the three reports', { timeout: 180_000 }, () => {
  const qos = resumeLatencyPath(1);
  const before = existsSync(qos) ? readFileSync(qos, 'utf8') : undefined;
  const run = spawnSync(process.execPath, [join(bench, 'src', 'main.ts'), '--quick'], { encoding: 'utf8', timeout: 170_000 });
  assert.equal(run.status, 0, `bench exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(readFileSync(join(bench, 'results', 'tmp', 'results.json'), 'utf8')) as {
    results: Array<{
      id: string;
      error?: string;
      throughput: Record<string, { requestsPerSecond: number; errors: number }>;
      openLoop?: { server?: { loopDelayMs: { samples: number }; gc: Record<string, { count: number }> } };
    }>;
  };
  assert.ok(report.results.length >= 7, 'every rung of the ladder ran');
  for (const r of report.results) {
    assert.equal(r.error, undefined, `${r.id} failed: ${r.error}`);
    for (const t of Object.values(r.throughput)) {
      assert.ok(t.requestsPerSecond > 0, `${r.id} served calls`);
      assert.equal(t.errors, 0, `${r.id} answered every call correctly`);
    }
  }
  // The open-loop window is watched: the loop's delay from the preload, GC pauses from the server's --trace-gc lines.
  const watched = report.results.find((r) => r.id === 'berth-modern')?.openLoop?.server;
  assert.ok(watched && watched.loopDelayMs.samples > 0, 'the event loop was watched over the window');
  assert.ok((watched.gc.minor?.count ?? 0) > 0, `scavenges were read from the trace: ${JSON.stringify(watched.gc)}`);
  const md = readFileSync(join(bench, 'results', 'tmp', 'results.md'), 'utf8');
  assert.match(md, /\| rung \|/);
  // The load core polled for the run where the kernel lets it (root, sysfs), and was put back.
  if (before === undefined) assert.match(md, /load generator to core 1, idle as found \(no /);
  else {
    assert.equal(readFileSync(qos, 'utf8'), before, 'the load core\'s setting is restored');
    if (before.trim() !== 'n/a' && process.getuid?.() === 0) assert.match(md, /load generator to core 1, polling when idle for the run/);
    else assert.match(md, /load generator to core 1, (polling when idle as found|idle as found \()/);
  }
  assert.match(readFileSync(join(bench, 'results', 'tmp', 'chart.svg'), 'utf8'), /^<svg/);
});

test('--rounds 2: a closed-loop pass over the ladder first, and per concurrency the better run kept', { timeout: 120_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'berth-bench-rounds-'));
  try {
    const run = spawnSync(process.execPath, [join(bench, 'src', 'main.ts'), '--quick', '--rounds', '2', '--only', 'node-http,berth-modern', '--no-extras', '--out', out], { encoding: 'utf8', timeout: 110_000 });
    assert.equal(run.status, 0, `bench exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
    // Both rungs' first rounds come before either rung's main round.
    const lines = run.stdout.split('\n');
    const at = (text: string): number => lines.findIndex((l) => l.includes(text));
    assert.ok(at('berth-modern: closed loop (round 1 of 2)') >= 0 && at('berth-modern: closed loop (round 1 of 2)') < at('node-http: closed loop (round 2 of 2)'), run.stdout);
    // Each server is warmed up, unmeasured, before its first closed loop.
    assert.ok(at('berth-modern: warm-up, 64 connections') >= 0 && at('berth-modern: warm-up, 64 connections') < at('berth-modern: closed loop (round 1 of 2)'), run.stdout);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { rounds: number; results: Array<{ id: string; throughput: Record<string, { round?: number; requestsPerSecond: number }> }> };
    assert.equal(report.rounds, 2);
    for (const r of report.results) {
      for (const t of Object.values(r.throughput)) assert.ok(t.round === 1 || t.round === 2, `${r.id}: the kept run names its round`);
    }
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /2 rounds per rung minutes apart/);
    assert.match(md, /after 0\.5 s at 64 connections not measured/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
