// The report's open-loop diagnosis: the open loop's CPU per call against the peak run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult } from '../src/load-worker.ts';
import { openOverPeakCpu, renderMarkdown, type Report, type RungResult } from '../src/report.ts';

const run = (rps: number, cpu: number): LoadResult => ({ requestsPerSecond: rps, total: rps * 5, errors: 0, p50: 1, p95: 2, p99: 3, max: 4, serverCpuMicrosPerCall: cpu });

function rung(openCpu: number | undefined): RungResult {
  // The peak run is at 64 connections; 8 connections has the lowest CPU per call but fewer calls/s.
  const r = { id: 'berth-modern', label: 'Berth', era: 'modern', throughput: { 1: run(2500, 270), 8: run(9000, 80), 64: run(10000, 90) }, extra: {} } as unknown as RungResult;
  if (openCpu !== undefined) {
    const window = { sent: 1000, errors: 0, p50: 0.3, p95: 1, p99: 3, p999: 4, max: 5, serviceP99: 2.9, lagP99: 0.05 };
    r.openLoop = { ...window, requestsPerSecond: 5000, total: 1000, lagMax: 1, connectionsOpened: 8, generator: 'g', windows: [window], median: 0, rate: 5000, rateBasis: 'peak', realtime: false, durationSeconds: 5, warmupSeconds: 4, connections: 64, serverCpuMicrosPerCall: openCpu, serverCoreShare: 0.72, server: { seconds: 5, loopDelayMs: { p50: 0, p99: 1, p999: 2, max: 3, samples: 5000 }, gc: {} } } as unknown as RungResult['openLoop'];
  }
  return r;
}

test('the open loop\'s CPU per call is divided by the run with the most calls/s, not the cheapest', () => {
  assert.equal(openOverPeakCpu(rung(144)), 1.6);
  assert.equal(openOverPeakCpu(rung(undefined)), undefined);
});

test('the tail table shows the closed loop\'s CPU per call at each concurrency beside the open loop\'s', () => {
  const md = renderMarkdown({ generatedAt: 'now', quick: false, durationSeconds: 5, rounds: 1, machine: { cpuModel: 'cpu', cores: 2, memoryGiB: 1, node: 'v24', os: 'linux', loadAverage: [0, 0, 0] }, results: [rung(144)] } as unknown as Report);
  assert.match(md, /\| closed loop @1 \/ @8 \/ @64 \| ÷ peak \|/);
  assert.match(md, /\| Berth \| 5000 \| 72% \| 144 \| 270 \/ 80 \/ 90 \| 1\.60 \|/);
});
