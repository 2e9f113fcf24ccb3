// The open-loop load generator, `berth-loadgen` (bench/tools/loadgen, Go
// with no dependencies: a constant-rate schedule over keep-alive connections,
// latency counted from each request's scheduled send time). Built with the Go
// version bench/tools/go.mod names on first use into
// `$BERTH_CACHE_DIR/bin/<hash>/` (default ~/.cache/berth), outside the
// repository so that every checkout on the machine shares it; the hash covers
// go.mod, the generator's source and the build recipe, so any change
// rebuilds. `node bench/src/loadgen.ts` builds it ahead of time (ensure-deps).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinned } from './proc.ts';
import { findGo } from '../../e2e/src/cluster/build.ts';
import { pidAlive } from '../../e2e/src/cluster/proc.ts';

const here = dirname(fileURLToPath(import.meta.url));
const toolsDir = join(here, '..', 'tools');
/** Bump when the way the binary is built changes. */
const RECIPE = 'berth-bench-loadgen-1';
const BINARY = 'berth-loadgen';

/** What one open-loop run does. */
export interface OpenLoopSpec {
  url: string;
  headers: Record<string, string>;
  /** Request body; `$ID` is replaced by a per-request counter. */
  body: string;
  /** Requests per second, on a fixed schedule. */
  rate: number;
  durationSeconds: number;
  /** Sent at the same rate on the same connections first, not measured. */
  warmupSeconds: number;
  /** Most connections the generator opens (it opens more only when all are busy). */
  connections: number;
  /** A 2xx response must contain this text to count as a success. */
  expect: string;
  /** Measured windows of `durationSeconds` each, back to back (default 1). */
  windows?: number;
}

/** One measured window's counts and latencies (ms, from the scheduled send time). */
export interface OpenLoopWindow {
  /** Requests sent in the window. */
  sent: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  /** p99 from the actual send (what an uncorrected generator would say). */
  serviceP99: number;
  /** How late the generator itself sent, against its schedule. */
  lagP99: number;
}

/**
 * One open-loop run's outcome. Counts (sent, errors, total, lagMax) cover
 * every window; the percentiles are the window with the median p99
 * (`windows[median]`).
 */
export interface OpenLoopResult extends OpenLoopWindow {
  requestsPerSecond: number;
  total: number;
  lagMax: number;
  connectionsOpened: number;
  firstError?: string;
  generator: string;
  /** Every measured window (absent in reports from before windows). */
  windows?: OpenLoopWindow[];
  median?: number;
}

export function cacheDir(): string {
  return resolve(process.env.BERTH_CACHE_DIR ?? join(homedir(), '.cache', 'berth'));
}

function sources(): string[] {
  const own = readdirSync(join(toolsDir, 'loadgen'))
    .filter((f) => f.endsWith('.go'))
    .sort()
    .map((f) => join('loadgen', f));
  return ['go.mod', ...own];
}

/** The cache key: a hash of go.mod, the generator's source and the recipe. */
export function buildKey(): string {
  const h = createHash('sha256');
  for (const f of sources()) h.update(f).update('\0').update(readFileSync(join(toolsDir, f))).update('\0');
  return h.update(RECIPE).digest('hex').slice(0, 16);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: toolsDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? 1, out }));
  });
}

/** Takes a machine-wide lock file (holding the owner's pid; a dead owner's lock is taken over). */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const mine = `${path}.${process.pid}.tmp`;
    writeFileSync(mine, String(process.pid));
    try {
      linkSync(mine, path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (!Number.isInteger(owner) || !pidAlive(owner)) rmSync(path, { force: true });
      else if (Date.now() > deadline) throw new Error(`${path} still held by pid ${owner}`);
      else await new Promise((r) => setTimeout(r, 250));
    } finally {
      unlinkSync(mine);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** Builds kept in the cache: the most recent ones (other checkouts may use older sources). */
const KEEP_BUILDS = 3;

function pruneBuilds(): void {
  const root = join(cacheDir(), 'bin');
  const builds = readdirSync(root)
    .filter((n) => /^bench-loadgen-[0-9a-f]{16}$/.test(n) && existsSync(join(root, n, 'manifest.json')))
    .map((n) => ({ n, at: statSync(join(root, n, 'manifest.json')).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { n } of builds.slice(KEEP_BUILDS)) rmSync(join(root, n), { recursive: true, force: true });
}

/** Where the binary of the current sources lives (whether built or not). */
export function loadgenPath(): string {
  return join(cacheDir(), 'bin', `bench-loadgen-${buildKey()}`, BINARY);
}

/**
 * Returns the path of the load generator, building it first when the cache
 * has none for the current sources. Safe to call from several processes.
 */
export async function ensureLoadgen(log: (text: string) => void = () => {}): Promise<string> {
  const bin = loadgenPath();
  if (existsSync(bin)) return bin;
  const dir = dirname(bin);
  await withLock(`${dir}.lock`, async () => {
    if (existsSync(bin)) return;
    const go = findGo('building the bench load generator (bench/tools)');
    const started = Date.now();
    log(`building the load generator (bench/tools/loadgen) into ${dir}`);
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const env = { ...process.env, HOME: process.env.HOME ?? homedir(), CGO_ENABLED: '0', GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim() };
    const r = await run(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(partial, BINARY), './loadgen'], env);
    if (r.code !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new Error(`go build bench/tools/loadgen exited with ${r.code}:\n${r.out.slice(-3000)}`);
    }
    const seconds = (Date.now() - started) / 1000;
    writeFileSync(join(partial, 'manifest.json'), JSON.stringify({ recipe: RECIPE, builtAt: new Date().toISOString(), buildSeconds: seconds }, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    log(`built the load generator in ${seconds.toFixed(1)} s`);
    pruneBuilds();
  });
  return bin;
}

/**
 * One open-loop run, pinned to `core` (one Go thread: the generator gets
 * exactly that core); with `realtime`, on SCHED_FIFO priority.
 */
export async function openLoop(spec: OpenLoopSpec, core: number, opts: { realtime?: boolean } = {}): Promise<OpenLoopResult> {
  const bin = await ensureLoadgen();
  const [c, a] = pinned(core, bin, [JSON.stringify(spec)]);
  const [cmd, args] = opts.realtime ? ['chrt', ['-f', '20', c, ...a]] : [c, a];
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env: { ...process.env, GOMAXPROCS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => {
      if (code !== 0) return rej(new Error(`berth-loadgen exited ${code}: ${err.slice(-2000)}`));
      try {
        res(JSON.parse(out.trim().split('\n').at(-1)!) as OpenLoopResult);
      } catch {
        rej(new Error(`berth-loadgen printed no result: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}

// `node bench/src/loadgen.ts`: build ahead of time (no-op when cached).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bin = await ensureLoadgen((t) => process.stdout.write(`[bench] ${t}\n`));
  process.stdout.write(`[bench] load generator: ${bin}\n`);
}
