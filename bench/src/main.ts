// `npm run bench [-- --quick] [-- --only id,id] [-- --profile]`: the
// performance ladder of TARGETS.md, one run on one machine, the system under
// test and the load generator pinned to different cores. Writes
// bench/results/{results.json,results.md,chart.svg}; quick and partial
// (--only) runs write bench/results/tmp instead.
//
// Latency: after the closed-loop runs, an open-loop run at half of the peak
// (berth-loadgen, loadgen.ts): three measured windows back to back, the
// window with the median p99 reported, with the server's event-loop delay and
// GC pauses over the windows.
//
// Options for investigating: --seconds N (per run), --warmup N (open-loop
// warm-up, default 4), --closed-warmup N (the unmeasured run at 64
// connections before the closed loops, default 6), --windows N (open-loop
// measured windows, default 3), --connections a,b,
// --profile (a CPU profile of the first server process over the closed-loop
// runs, summarized next to the results), --profile-open (the same over the
// open-loop run's measured window, where the latency is taken), --out DIR,
// --rt (the open-loop run with the server and the generator on real-time
// priority, SCHED_FIFO, so other work on a shared machine cannot add its
// scheduling delays to the tail; the closed-loop runs stay ordinary), --half-of cpu (the open-loop rate from the
// server core's capacity, 10^6 / CPU µs per call, instead of the measured
// closed-loop peak, which a busy machine lowers), --rates-from FILE (each
// rung's open-loop rate from an earlier report, e.g. a quiet full run's
// bench/results/results.json), --no-extras (skip each rung's extra
// figures: memory, Redis commands, growth, replica loss), --rounds N
// (closed-loop rounds per rung, below), --load-core-idle as-found (leave
// the load generator's core halting when idle; load-core-idle.ts says why
// the ladder keeps it polling).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSummary, summarizeProfile } from './cpu-profile.ts';
import { gcPausesFromTrace } from './gc-trace.ts';
import { pollLoadCoreWhileIdle } from './load-core-idle.ts';
import { machineFacts } from './machine.ts';
import { tcpReadyPort } from './tcp.ts';
import { ladder, type Rung, type System } from './rungs.ts';
import { cpuMicros, freePort, rssBytes, runToEnd, treePids } from './proc.ts';
import type { LoadResult, LoadSpec } from './load-worker.ts';
import { ensureLoadgen, openLoop } from './loadgen.ts';
import { bestOf } from './rounds.ts';
import { renderMarkdown, renderSvg, type Report, type RungResult, type ServerLoop } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
// --profile: the closed-loop runs; --profile-open: the open-loop run's measured window (where p99 is taken).
const profileOpen = args.includes('--profile-open');
const profile = args.includes('--profile') || profileOpen;
const realtime = args.includes('--rt');
const extras = !args.includes('--no-extras');
const halfOf = flag('--half-of') === 'cpu' ? 'cpu' : 'peak';
/** Open-loop rates by rung id from an earlier report (--rates-from). */
const earlierRates: Map<string, number> | undefined = flag('--rates-from')
  ? new Map((JSON.parse(readFileSync(flag('--rates-from')!, 'utf8')) as Report).results.filter((r) => r.openLoop?.rate).map((r) => [r.id, r.openLoop!.rate]))
  : undefined;
const only = flag('--only') ? new Set(flag('--only')!.split(',')) : undefined;
// Only a full run writes bench/results; quick and partial runs go to bench/results/tmp.
const outDir = flag('--out') ? resolve(flag('--out')!) : quick || only ? join(here, '..', 'results', 'tmp') : join(here, '..', 'results');
const seconds = Number(flag('--seconds') ?? (quick ? 1 : 5));
/**
 * Open loop: sent at the same rate on the same connections before the
 * measured window. The switch from the closed-loop runs to one call at a time
 * re-tiers the JIT (on berth-legacy, about 60 functions optimized in the first
 * open-loop seconds, a dozen in the next run) and gave a first-window p99 of
 * 12-27 ms after a 1 s warm-up against 2.4-4.3 ms in later windows; after 4 s
 * the first window matched the later ones. The window measures steady state.
 */
const warmupSeconds = Number(flag('--warmup') ?? (quick ? 0.5 : 4));
/**
 * Closed loops: a run at 64 connections, not measured, before the first
 * measured one. Without it the first runs measured the JIT's warm-up: over
 * back-to-back 4 s runs at 8 connections from a fresh start, the secure
 * modern rung's CPU per call was 202, 140, then 107 µs, berth-redis' 156,
 * 101, then 89 µs; after 6 s at 64 connections, two 3 s runs at 8 gave
 * 113 and 112 µs (88 and 85 on berth-redis).
 */
const closedWarmupSeconds = Number(flag('--closed-warmup') ?? (quick ? 0.5 : 6));
/**
 * Open loop: measured windows, back to back after the warm-up. This machine's
 * speed moves between runs of a few seconds (the same rung's open-loop CPU
 * per call 321-423 µs in three runs of it alone), and one 5 s window's p99
 * is often the host's worst moment in it; the median of three is the rung's.
 */
const windows = Number(flag('--windows') ?? (quick ? 1 : 3));
/** Open loop: the most connections the generator may open (it opens more only when all are busy). */
const OPEN_LOOP_CONNECTIONS = 64;
/**
 * Closed-loop rounds per rung. The host's speed drifts over minutes: in one
 * full ladder the in-memory modern rung's server CPU per call was 121 µs,
 * where the ladders before and after gave 82–93 µs, and its ratio to the SDK
 * fell under the aim on that alone. Each round but the last is a pass over
 * the whole ladder before the main one, so a rung's rounds are minutes
 * apart; for each concurrency the round with more calls/s is kept, and the
 * open-loop rate is half of the peak over all rounds.
 */
const rounds = Math.max(1, Number(flag('--rounds') ?? (quick ? 1 : 2)));
const concurrencies = flag('--connections') ? flag('--connections')!.split(',').map(Number) : quick ? [8] : [1, 8, 64];
const SERVER_CORE = 0;
const LOAD_CORE = 1;

const tcpReady = tcpReadyPort;

function progress(text: string): void {
  process.stdout.write(`[bench] ${text}\n`);
}

async function load(spec: LoadSpec): Promise<LoadResult> {
  const out = await runToEnd(process.execPath, [join(here, 'load-worker.ts'), JSON.stringify(spec)], LOAD_CORE);
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
}

/** Every server-side process of a system (and their descendants) by role. */
function processes(server: System): Array<{ role: string; pid: number }> {
  const parts = server.parts?.() ?? [{ role: 'server', pid: server.child.pid! }];
  return parts.flatMap((p) => treePids(p.pid).map((pid) => ({ role: p.role, pid })));
}

/** CPU µs used so far, per role. */
function cpuByRole(server: System): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of processes(server)) out.set(p.role, (out.get(p.role) ?? 0) + cpuMicros(p.pid));
  return out;
}

function cpuDelta(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [role, v] of b) out.set(role, Math.max(0, v - (a.get(role) ?? 0)));
  return out;
}

/**
 * Moves the processes to SCHED_FIFO (on) or back to SCHED_OTHER (off). Main
 * threads one level above their helper threads: the event loop preempts a
 * background job (a TurboFan compile would otherwise run to its end first),
 * and the helpers a GC waits on still outrank everything else on the core.
 */
function setRealtime(pids: number[], on: boolean): void {
  for (const pid of pids) {
    if (!on) spawnSync('chrt', ['-a', '-o', '-p', '0', String(pid)], { stdio: 'ignore' });
    else {
      spawnSync('chrt', ['-a', '-f', '-p', '20', String(pid)], { stdio: 'ignore' });
      spawnSync('chrt', ['-f', '-p', '30', String(pid)], { stdio: 'ignore' });
    }
  }
}

/**
 * The server's event-loop delay (server-preload.mjs) and GC pauses (its
 * --trace-gc lines on stdout) over the measured window, after `afterSeconds`
 * of warm-up.
 */
async function watchLoop<T>(server: System, file: string, afterSeconds: number, during: () => Promise<T>, withProfile = false): Promise<{ value: T; loop?: ServerLoop }> {
  rmSync(file, { force: true });
  let trace = '';
  const stdout = server.child.stdout;
  const collect = (d: Buffer): void => void (trace += d.toString());
  stdout?.on('data', collect);
  const start = setTimeout(() => {
    server.child.kill('SIGTTIN');
    if (withProfile) server.child.kill('SIGWINCH');
  }, afterSeconds * 1000);
  const value = await during().finally(() => clearTimeout(start));
  server.child.kill('SIGTTOU');
  if (withProfile) server.child.kill('SIGWINCH');
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 20));
  stdout?.off('data', collect);
  try {
    const loop = JSON.parse(readFileSync(file, 'utf8')) as Omit<ServerLoop, 'gc'>;
    return { value, loop: { ...loop, gc: gcPausesFromTrace(trace) } };
  } catch {
    return { value };
  } finally {
    rmSync(file, { force: true });
  }
}

/** Stops the server's CPU profile (the second SIGWINCH; watchLoop sends it for --profile-open), waits for it and writes its summary beside it. */
async function writeProfile(server: System, file: string, rungId: string, calls: number): Promise<void> {
  if (!profileOpen) server.child.kill('SIGWINCH');
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
  const summary = renderSummary(summarizeProfile(file), 40, calls);
  writeFileSync(file.replace(/\.cpuprofile$/, '.txt'), summary + '\n');
  progress(`${rungId}: profile → ${file.replace(/\.cpuprofile$/, '.txt')}`);
}

type Wire = Awaited<ReturnType<Rung['request']>>;

/** The rung's URL and request, after a sanity call: a rung that answers wrongly is an error, not a number. */
async function checkedWire(rung: Rung, server: System): Promise<{ url: string; wire: Wire }> {
  const url = `http://127.0.0.1:${server.port}${rung.path ?? '/mcp'}`;
  const wire = await rung.request(url);
  const check = await fetch(url, { method: 'POST', headers: wire.headers, body: wire.body.replace('$ID', '1') });
  const text = await check.text();
  if (!check.ok || !text.includes(wire.expect)) throw new Error(`sanity call failed: HTTP ${check.status} ${text.slice(0, 300)}`);
  return { url, wire };
}

/** The unmeasured load a fresh server gets before its closed loops (see `closedWarmupSeconds`). */
async function warmUp(rung: Rung, url: string, wire: Wire): Promise<void> {
  if (closedWarmupSeconds <= 0) return;
  progress(`${rung.id}: warm-up, 64 connections, ${closedWarmupSeconds} s (not measured)`);
  await load({ url, headers: wire.headers, body: wire.body, connections: 64, durationSeconds: closedWarmupSeconds, expect: wire.expect });
}

/** The closed-loop runs at every concurrency, with the server's CPU per call; `round` is recorded in each. */
async function closedLoops(rung: Rung, server: System, url: string, wire: Wire, round: number): Promise<Record<number, LoadResult>> {
  const out: Record<number, LoadResult> = {};
  for (const c of concurrencies) {
    progress(`${rung.id}: closed loop${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}, ${c} connection(s), ${seconds} s`);
    const cpu0 = cpuByRole(server);
    const r = await load({ url, headers: wire.headers, body: wire.body, connections: c, durationSeconds: seconds, expect: wire.expect });
    const used = cpuDelta(cpu0, cpuByRole(server));
    // Server CPU per call: robust to a busy machine, unlike calls/s.
    const total = [...used.values()].reduce((a, b) => a + b, 0);
    r.serverCpuMicrosPerCall = r.total ? total / r.total : NaN;
    if (used.size > 1 && r.total) r.cpuMicrosPerCallByRole = Object.fromEntries([...used].map(([role, v]) => [role, Math.round(v / r.total)]));
    if (rounds > 1) r.round = round;
    out[c] = r;
  }
  return out;
}

/** The closed-loop runs alone, in a server of their own: an earlier round (see `rounds`). */
async function closedLoopRound(rung: Rung, round: number): Promise<Record<number, LoadResult> | undefined> {
  const port = await freePort();
  let server: System | undefined;
  try {
    server = await rung.start(port, SERVER_CORE, {});
    const { url, wire } = await checkedWire(rung, server);
    await warmUp(rung, url, wire);
    return await closedLoops(rung, server, url, wire, round);
  } catch (err) {
    // The main round reports the rung's failure; an earlier round only loses its figures.
    progress(`${rung.id}: round ${round} failed: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  } finally {
    await server?.stop();
  }
}

async function measure(rung: Rung): Promise<RungResult> {
  const port = await freePort();
  let server: System | undefined;
  const result: RungResult = { id: rung.id, label: rung.label, era: rung.era, throughput: {}, extra: {} };
  const profileFile = join(outDir, 'profiles', `${rung.id}.cpuprofile`);
  try {
    const loopFile = join(tmpdir(), `berth-bench-loop-${port}.json`);
    const env: NodeJS.ProcessEnv = { BERTH_BENCH_LOOP_FILE: loopFile, ...(profile ? { BERTH_BENCH_PROFILE_FILE: profileFile } : {}) };
    if (profile) mkdirSync(dirname(profileFile), { recursive: true }), rmSync(profileFile, { force: true });
    server = await rung.start(port, SERVER_CORE, env);
    const { url, wire } = await checkedWire(rung, server);
    // Before the profile starts: it covers the measured runs, and its per-call figure divides by their calls.
    await warmUp(rung, url, wire);
    if (profile && !profileOpen) server.child.kill('SIGWINCH');
    const own = await closedLoops(rung, server, url, wire, rounds);
    const calls = Object.values(own).reduce((n, r) => n + r.total, 0);
    result.throughput = bestOf(own, earlierRounds.get(rung.id) ?? []);
    const peak = Math.max(0, ...Object.values(result.throughput).map((r) => r.requestsPerSecond));
    if (profile && !profileOpen) await writeProfile(server, profileFile, rung.id, calls);
    const capacity = halfOf === 'cpu' ? 1e6 / Math.min(...Object.values(result.throughput).map((t) => t.serverCpuMicrosPerCall ?? Infinity)) : peak;
    const earlier = earlierRates?.get(rung.id);
    const rate = earlier ?? Math.max(10, Math.round(capacity / 2));
    const basis = earlier ? 'earlier' : halfOf;
    const why = { earlier: `the rate in ${flag('--rates-from')}`, cpu: 'half of the CPU-per-call capacity', peak: 'half of peak' }[basis];
    progress(`${rung.id}: open loop at ${rate} req/s (${why}), ${warmupSeconds} s warm-up + ${windows > 1 ? `${windows} × ` : ''}${seconds} s${realtime ? ', real-time priority' : ''}`);
    const spec = { url, headers: wire.headers, body: wire.body, rate, durationSeconds: seconds, warmupSeconds, connections: OPEN_LOOP_CONNECTIONS, expect: wire.expect, windows };
    const pids = processes(server).map((p) => p.pid);
    if (realtime) setRealtime(pids, true);
    try {
      const cpu0 = cpuByRole(server);
      const t0 = performance.now();
      const { value: o, loop } = await watchLoop(server, loopFile, warmupSeconds, () => openLoop(spec, LOAD_CORE, { realtime }), profileOpen);
      if (profileOpen) await writeProfile(server, profileFile, rung.id, o.sent);
      // Server CPU over the whole run (warm-up included): per call, and the share of the server core it took.
      const used = cpuDelta(cpu0, cpuByRole(server));
      const cpu = [...used.values()].reduce((a, b) => a + b, 0);
      const calls = Math.round(rate * warmupSeconds) + o.sent;
      const serverCpuMicrosPerCall = calls ? Math.round(cpu / calls) : NaN;
      const cpuMicrosPerCallByRole = used.size > 1 && calls ? Object.fromEntries([...used].map(([role, v]) => [role, Math.round(v / calls)])) : undefined;
      const serverCoreShare = Math.round((cpu / ((performance.now() - t0) * 1000)) * 100) / 100;
      result.openLoop = { ...o, rate, rateBasis: basis, realtime, durationSeconds: seconds, warmupSeconds, connections: OPEN_LOOP_CONNECTIONS, serverCpuMicrosPerCall, serverCoreShare, ...(cpuMicrosPerCallByRole ? { cpuMicrosPerCallByRole } : {}), ...(loop ? { server: loop } : {}) };
    } finally {
      if (realtime) setRealtime(pids, false);
    }
    result.rssBytes = rssBytes(server.child.pid!);
    if (rung.after && extras) {
      progress(`${rung.id}: extra measurements`);
      Object.assign(result.extra, await rung.after({ url, server, wire, quick, load }));
    }
  } catch (err) {
    result.error = (err as Error).message;
    progress(`${rung.id}: FAILED ${result.error.split('\n')[0]}`);
  } finally {
    await server?.stop();
  }
  return result;
}

const started = Date.now();
const machine = machineFacts();
mkdirSync(outDir, { recursive: true });
const rungs = ladder({ tcpReady }).filter((r) => (only ? only.has(r.id) : !quick || r.quick !== false));
// Built on first use (a fresh clone, a changed bench/tools), before any rung starts.
await ensureLoadgen(progress);
const loadCoreIdle = pollLoadCoreWhileIdle(LOAD_CORE, { enabled: flag('--load-core-idle') !== 'as-found' });
machine.loadCoreIdle = loadCoreIdle.description;
progress(`load core ${LOAD_CORE}: ${loadCoreIdle.description}`);
/** Closed-loop figures of the rounds before the main one, by rung id. */
const earlierRounds = new Map<string, Array<Record<number, LoadResult>>>();
for (let round = 1; round < rounds; round++) {
  for (const [i, rung] of rungs.entries()) {
    progress(`round ${round} of ${rounds}, closed loops only: (${i + 1}/${rungs.length}) ${rung.label}`);
    const figures = await closedLoopRound(rung, round);
    if (figures) earlierRounds.set(rung.id, [...(earlierRounds.get(rung.id) ?? []), figures]);
  }
}
const results: RungResult[] = [];
for (const [i, rung] of rungs.entries()) {
  progress(`(${i + 1}/${rungs.length}) ${rung.label}`);
  results.push(await measure(rung));
}
loadCoreIdle.restore();
const report: Report = { generatedAt: new Date().toISOString(), quick, durationSeconds: seconds, rounds, closedWarmupSeconds, machine, results };
writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
writeFileSync(join(outDir, 'results.md'), renderMarkdown(report));
writeFileSync(join(outDir, 'chart.svg'), renderSvg(report));
progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s → ${outDir}`);
const failed = results.filter((r) => r.error).map((r) => r.id);
if (failed.length) {
  progress(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
