// `npm run bench [-- --quick] [-- --only id,id]`: the performance ladder of
// TARGETS.md, one run on one machine, server and load generator pinned to
// different cores. Writes bench/results/{results.json,results.md,chart.svg}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineFacts } from './machine.ts';
import { ladder, type Rung } from './rungs.ts';
import { cpuMicros, freePort, rssBytes, runToEnd, type Started } from './proc.ts';
import type { LoadResult, LoadSpec } from './load-worker.ts';
import { renderMarkdown, renderSvg, type RungResult } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? new Set((args[onlyIdx + 1] ?? '').split(',')) : undefined;
const outDir = quick ? join(here, '..', 'results', 'tmp') : join(here, '..', 'results');
const seconds = quick ? 1 : 5;
const concurrencies = quick ? [8] : [1, 8, 64];
const SERVER_CORE = 0;
const LOAD_CORE = 1;

/** Resolves when something accepts TCP connections on the port. */
export function tcpReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function progress(text: string): void {
  process.stdout.write(`[bench] ${text}\n`);
}

async function load(spec: LoadSpec): Promise<LoadResult> {
  const out = await runToEnd(process.execPath, [join(here, 'load-worker.ts'), JSON.stringify(spec)], LOAD_CORE);
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
}

async function measure(rung: Rung): Promise<RungResult> {
  const port = await freePort();
  let server: Started | undefined;
  const result: RungResult = { id: rung.id, label: rung.label, era: rung.era, throughput: {}, extra: {} };
  try {
    server = await rung.start(port, SERVER_CORE);
    const url = `http://127.0.0.1:${server.port}${rung.path ?? '/mcp'}`;
    const wire = await rung.request(url);
    // A sanity call first: a rung that answers wrongly is an error, not a number.
    const check = await fetch(url, { method: 'POST', headers: wire.headers, body: wire.body.replace('$ID', '1') });
    const text = await check.text();
    if (!check.ok || !text.includes(wire.expect)) throw new Error(`sanity call failed: HTTP ${check.status} ${text.slice(0, 300)}`);
    let peak = 0;
    for (const c of concurrencies) {
      progress(`${rung.id}: closed loop, ${c} connection(s), ${seconds} s`);
      const cpu0 = cpuMicros(server.child.pid!);
      const r = await load({ url, headers: wire.headers, body: wire.body, connections: c, durationSeconds: seconds, expect: wire.expect });
      // Server CPU per call: robust to a busy machine, unlike calls/s.
      r.serverCpuMicrosPerCall = r.total ? (cpuMicros(server.child.pid!) - cpu0) / r.total : NaN;
      result.throughput[c] = r;
      peak = Math.max(peak, r.requestsPerSecond);
    }
    const rate = Math.max(10, Math.round(peak / 2));
    progress(`${rung.id}: open loop at ${rate} req/s (half of peak), ${seconds} s`);
    result.openLoop = { rate, ...(await load({ url, headers: wire.headers, body: wire.body, connections: 64, durationSeconds: seconds, rate, expect: wire.expect })) };
    result.rssBytes = rssBytes(server.child.pid!);
    if (rung.after) Object.assign(result.extra, await rung.after({ url, server, quick }));
  } catch (err) {
    result.error = (err as Error).message;
    progress(`${rung.id}: FAILED ${result.error.split('\n')[0]}`);
  } finally {
    await server?.stop();
    await rung.cleanup?.();
  }
  return result;
}

const rungs = ladder({ tcpReady }).filter((r) => !only || only.has(r.id));
const started = Date.now();
const results: RungResult[] = [];
for (const [i, rung] of rungs.entries()) {
  progress(`(${i + 1}/${rungs.length}) ${rung.label}`);
  results.push(await measure(rung));
}
const report = { generatedAt: new Date().toISOString(), quick, durationSeconds: seconds, machine: machineFacts(), results };
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
writeFileSync(join(outDir, 'results.md'), renderMarkdown(report));
writeFileSync(join(outDir, 'chart.svg'), renderSvg(report));
progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s → ${outDir}`);
const failed = results.filter((r) => r.error);
if (failed.length) {
  progress(`failed rungs: ${failed.map((r) => r.id).join(', ')}`);
  process.exit(1);
}
