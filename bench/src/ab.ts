// Before/after comparison on a busy machine: starts one rung twice — with
// runtime build A and build B — and loads them in alternation (A, B, A, B, …)
// so both see the same background load; reports the median server CPU per
// call and calls/s of each, and their ratio.
//
//   node bench/src/ab.ts --a /tmp/before/runtime/bin/berth.mjs [--b runtime/bin/berth.mjs]
//        --rung berth-modern [--rounds 5] [--seconds 3] [--connections 8]
import { join } from 'node:path';
import { tcpReadyPort } from './tcp.ts';
import { ladder, type System } from './rungs.ts';
import { cpuMicros, freePort, runToEnd, treePids } from './proc.ts';
import type { LoadResult, LoadSpec } from './load-worker.ts';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const flag = (name: string, dflt?: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const sides = { A: flag('--a'), B: flag('--b', join(here, '..', '..', 'runtime', 'bin', 'berth.mjs')) };
const rungId = flag('--rung', 'berth-modern')!;
const rounds = Number(flag('--rounds', '5'));
const seconds = Number(flag('--seconds', '3'));
const connections = Number(flag('--connections', '8'));
if (!sides.A) {
  process.stderr.write('usage: node bench/src/ab.ts --a A/bin/berth.mjs [--b B/bin/berth.mjs] --rung ID [--rounds N] [--seconds S] [--connections C]\n');
  process.exit(2);
}

const load = async (spec: LoadSpec): Promise<LoadResult> => JSON.parse((await runToEnd(process.execPath, [join(here, 'load-worker.ts'), JSON.stringify(spec)], 1)).trim().split('\n').at(-1)!) as LoadResult;
const cpu = (s: System): number =>
  (s.parts?.() ?? [{ role: 'server', pid: s.child.pid! }]).flatMap((p) => treePids(p.pid)).reduce((a, pid) => a + cpuMicros(pid), 0);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const systems: Record<string, { server: System; url: string; spec: Omit<LoadSpec, 'durationSeconds'>; cpu: number[]; rps: number[] }> = {};
try {
  for (const [name, bin] of Object.entries(sides)) {
    const rung = ladder({ tcpReady: tcpReadyPort }).find((r) => r.id === rungId);
    if (!rung) throw new Error(`no rung ${rungId}`);
    const port = await freePort();
    const server = await rung.start(port, 0, { BERTH_BENCH_BIN: bin! });
    const url = `http://127.0.0.1:${port}${rung.path ?? '/mcp'}`;
    const wire = await rung.request(url);
    systems[name] = { server, url, spec: { url, headers: wire.headers, body: wire.body, connections, expect: wire.expect }, cpu: [], rps: [] };
  }
  // Warm-up (JIT, pools) is not measured.
  for (const s of Object.values(systems)) await load({ ...s.spec, durationSeconds: 2 });
  for (let i = 0; i < rounds; i++) {
    for (const [name, s] of i % 2 ? Object.entries(systems).reverse() : Object.entries(systems)) {
      const c0 = cpu(s.server);
      const r = await load({ ...s.spec, durationSeconds: seconds });
      if (r.errors) throw new Error(`${name}: ${r.errors} errors`);
      s.cpu.push((cpu(s.server) - c0) / r.total);
      s.rps.push(r.requestsPerSecond);
      process.stdout.write(`[ab] round ${i + 1} ${name}: ${((cpu(s.server) - c0) / r.total).toFixed(0)} µs/call, ${r.requestsPerSecond.toFixed(0)} calls/s\n`);
    }
  }
  const a = systems.A!;
  const b = systems.B!;
  const line = (n: string, s: typeof a) => `${n}: ${median(s.cpu).toFixed(0)} µs CPU/call (${s.cpu.map((x) => x.toFixed(0)).join(' ')}), ${median(s.rps).toFixed(0)} calls/s`;
  process.stdout.write(`${rungId} @${connections}\n${line('A', a)}\n${line('B', b)}\nB/A: CPU ${(median(b.cpu) / median(a.cpu)).toFixed(3)}, calls/s ${(median(b.rps) / median(a.rps)).toFixed(3)}\n`);
} finally {
  for (const s of Object.values(systems)) await s.server.stop();
}
