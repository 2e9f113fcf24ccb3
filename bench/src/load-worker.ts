// One closed-loop load run (N connections, each sends when its last answer
// arrived), started pinned to its own core by the harness: it measures
// throughput. Latency at a fixed rate is berth-loadgen's (loadgen.ts): a
// Node process scheduling with timers cannot hold a constant rate of
// thousands of requests/s without becoming the tail it measures.
// Input: a JSON LoadSpec in argv[2]; output: one JSON LoadResult line.
import { Pool } from 'undici';

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  /** Request body; `$ID` is replaced by a per-request counter. */
  body: string;
  connections: number;
  durationSeconds: number;
  /** A response body must contain this text to count as a success. */
  expect?: string;
  /** Stop after this many requests (or at the duration, whichever is first). */
  maxRequests?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  total: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Filled in by the harness: server CPU microseconds per successful call (every server-side process). */
  serverCpuMicrosPerCall?: number;
  /** Filled in by the harness for multi-process systems: the same, per process role. */
  cpuMicrosPerCallByRole?: Record<string, number>;
  /** Filled in by the harness when a rung has several closed-loop rounds: the round this run came from (1-based). */
  round?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const url = new URL(spec.url);
const pool = new Pool(url.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 });
const latencies: number[] = [];
let errors = 0;
let counter = 0;
const parts = spec.body.split('$ID');

async function once(sentAt: number): Promise<void> {
  counter += 1;
  const body = parts.join(String(counter));
  try {
    const res = await pool.request({ path: url.pathname, method: 'POST', headers: spec.headers, body });
    const text = await res.body.text();
    if (res.statusCode !== 200 || (spec.expect && !text.includes(spec.expect))) errors += 1;
    else latencies.push(performance.now() - sentAt);
  } catch {
    errors += 1;
  }
}

const started = performance.now();
const endAt = started + spec.durationSeconds * 1000;
await Promise.all(
  Array.from({ length: spec.connections }, async () => {
    const max = spec.maxRequests ?? Infinity;
    while (performance.now() < endAt && counter < max) await once(performance.now());
  }),
);
const elapsed = (performance.now() - started) / 1000;
await pool.close();
latencies.sort((a, b) => a - b);
const pct = (p: number): number => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! : NaN);
const result: LoadResult = {
  requestsPerSecond: latencies.length / elapsed,
  total: latencies.length,
  errors,
  p50: pct(50),
  p95: pct(95),
  p99: pct(99),
  max: latencies.at(-1) ?? NaN,
};
process.stdout.write(JSON.stringify(result) + '\n');
