// The ladder: every server the benchmark measures, from the bare ceilings to
// Berth in its production shapes (Redis; OAuth and rate limits; three
// replicas behind a proxy), each started fresh. The system under test —
// runtimes, Redis, the proxy — is pinned to the server core.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { growthOver, idleSessionCost, sessionChurn, memFile, redisPerCall, resumeAfterLoss, type Figures, type Load } from './figures.ts';
import { startHaproxy } from './haproxy.ts';
import { legacySessionCall, legacyStatelessCall, modernCall, plainCall, type WireRequest } from './mcp-wire.ts';
import { startAuthServer, type BenchAuthServer } from './oauth.ts';
import { freePort, startServer, treeRss, type Started } from './proc.ts';
import { startRedis, type BenchRedis } from './redis.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const fixtures = join(repo, 'bench', 'fixtures');
const berthBin = join(repo, 'runtime', 'bin', 'berth.mjs');
const supergatewayBin = join(repo, 'node_modules', 'supergateway', 'dist', 'index.js');
const everythingBin = join(repo, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const everythingEcho = { name: 'echo', arguments: { message: 'hello berth' }, expect: 'Echo: hello berth' };
const preload = pathToFileURL(join(here, 'server-preload.mjs')).href;
/** Node flags of every measured Node server: GC on demand and the bench preload (memory reports, profiles). */
const NODE_FLAGS = ['--expose-gc', '--import', preload];

/** A started system under test: the process the load reaches plus every other server-side process. */
export interface System extends Started {
  /** Server-side processes by role; their CPU is what a call costs. Default: the one process. */
  parts?: () => Array<{ role: string; pid: number }>;
}

export interface AfterContext {
  url: string;
  server: System;
  wire: WireRequest;
  quick: boolean;
  /** Runs the load generator (pinned to the load core). */
  load: Load;
}

export interface Rung {
  id: string;
  label: string;
  era: 'modern' | 'legacy' | 'plain';
  /** Part of `--quick` (the CI smoke run): only rungs that are fast and reliable. Default true. */
  quick?: boolean;
  path?: string;
  start(port: number, core: number, env: NodeJS.ProcessEnv): Promise<System>;
  request(url: string): Promise<WireRequest>;
  /** Extra measurements after the load runs. */
  after?(ctx: AfterContext): Promise<Figures>;
}

interface Helpers {
  tcpReady(port: number): Promise<boolean>;
}

const peer = (file: string, h: Helpers) => (port: number, core: number, env: NodeJS.ProcessEnv) =>
  startServer(process.execPath, [...NODE_FLAGS, join(here, 'peers', file), '--port', String(port)], { core, port, ready: h.tcpReady, env });

async function berthReady(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/ready`);
  await res.text();
  return res.ok;
}

/**
 * Starts `berth run -f <manifest>` with the given extra arguments. The
 * runtime is this checkout's unless `BERTH_BENCH_BIN` names another build's
 * `bin/berth.mjs` (for before/after comparisons, see ab.ts).
 */
export function startBerth(manifest: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return (port: number, core: number, more: NodeJS.ProcessEnv = {}): Promise<Started> =>
    startServer(process.execPath, [...NODE_FLAGS, more.BERTH_BENCH_BIN ?? berthBin, 'run', '-f', manifest, '--port', String(port), ...extra], {
      core,
      port,
      ready: berthReady,
      timeoutMs: 60_000,
      // warn: no per-call info line, as the peers write none (the report says so).
      env: { BERTH_LOG_LEVEL: 'warn', BERTH_BENCH_MEM_FILE: memFile(port), ...env, ...more },
    });
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** A `/proc/<pid>/status` size field (VmRSS, VmHWM…) in bytes (Linux). */
function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** RSS of a just-started process once start-up work has settled (a second without load). */
async function settledRss(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000));
  return procStatusBytes(pid, 'VmRSS');
}

/**
 * Fills the runtime's compile cache for the bench's Node flags, as the image
 * build does, so a source edited since the last run does not put the
 * type-stripping compiler into the measured process. Builds without the
 * script are left as they are.
 */
async function warmCompileCache(bin: string): Promise<void> {
  const script = join(dirname(bin), 'warm-compile-cache.mjs');
  if (!existsSync(script)) return;
  const cache = process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'node-compile-cache');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, script], { env: { ...process.env, NODE_COMPILE_CACHE: cache }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}`))));
  });
}

/** Stops parts in reverse start order, ignoring failures. */
async function stopAll(parts: Array<{ stop(): Promise<void> } | undefined>): Promise<void> {
  for (const p of [...parts].reverse()) await p?.stop().catch(() => {});
}

/** Berth on a fresh redis-server (both pinned to the server core). */
function withRedis(manifest: string | ((redis: BenchRedis) => Promise<string>), onRedis: (r: BenchRedis) => void) {
  return async (port: number, core: number, env: NodeJS.ProcessEnv): Promise<System> => {
    const redis = await startRedis(core);
    onRedis(redis);
    try {
      const file = typeof manifest === 'string' ? manifest : await manifest(redis);
      const berth = await startBerth(file, ['--redis', redis.url])(port, core, env);
      return {
        ...berth,
        parts: () => [
          { role: 'berth', pid: berth.child.pid! },
          { role: 'redis', pid: redis.pid },
        ],
        stop: () => stopAll([redis, berth]),
      };
    } catch (err) {
      await redis.stop();
      throw err;
    }
  };
}

/** Redis work per call, measured with a short extra load run on one connection (so a round trip is one call's). */
const redisFigures = (redis: BenchRedis | undefined, ctx: AfterContext, calls = 300): Promise<Figures> =>
  redisPerCall(redis!, async () => {
    const r = await ctx.load({ url: ctx.url, headers: ctx.wire.headers, body: ctx.wire.body, connections: 1, durationSeconds: 60, maxRequests: calls, expect: ctx.wire.expect });
    if (r.errors) throw new Error(`${r.errors} errors while counting Redis commands`);
    return r.total;
  });

/** The OAuth + rate-limits rung: a real authorization server, a manifest naming it, a token. */
function secureSetup() {
  let as: BenchAuthServer | undefined;
  let token = '';
  let dir: string | undefined;
  return {
    async manifest(port: number): Promise<string> {
      const resource = `http://127.0.0.1:${port}/mcp`;
      as ??= await startAuthServer(resource, ['mcp:tools']);
      token = await as.token(resource, 'mcp:tools');
      dir ??= mkdtempSync(join(tmpdir(), 'berth-bench-secure-'));
      const generous = { requestsPerSecond: 1_000_000, burst: 1_000_000 };
      const doc = {
        apiVersion: 'berth.dev/v1alpha1',
        kind: 'McpServer',
        metadata: { name: 'bench-secure', namespace: 'bench' },
        spec: {
          source: { module: { path: join(fixtures, 'echo-server.mjs') } },
          endpoint: { path: '/mcp', publicUrl: resource },
          auth: { oauth: { issuer: as.issuer, requiredScopes: ['mcp:tools'] } },
          rateLimits: { global: generous, perPrincipal: generous, perSession: generous, tools: { echo: generous } },
          tools: { audit: { onFinding: 'warn' } },
        },
      };
      const file = join(dir, `secure-${port}.json`);
      writeFileSync(file, JSON.stringify(doc));
      return file;
    },
    headers: () => ({ authorization: `Bearer ${token}` }),
    jwksFetches: () => as?.counts.jwks ?? 0,
    async stop(): Promise<void> {
      await as?.stop();
      as = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/** Three runtimes on one Redis behind HAProxy round-robin; everything on the server core. */
function replicaRig(h: Helpers) {
  // The session's owner is the replica its initialize reached (the first); 1 or 2 watch a forwarding one.
  const watched = Math.min(2, Math.max(0, Number(process.env.BERTH_BENCH_PROFILE_REPLICA ?? 0) || 0));
  let redis: BenchRedis | undefined;
  const replicas: Array<{ id: string; server: Started }> = [];
  return {
    redis: () => redis,
    async start(port: number, core: number, env: NodeJS.ProcessEnv): Promise<System> {
      redis = await startRedis(core);
      const started: Array<{ stop(): Promise<void> } | undefined> = [redis];
      try {
        replicas.length = 0;
        for (let i = 0; i < 3; i++) {
          const p = await freePort();
          const id = `bench-r${i}`;
          // One replica is watched and profiled (the harness follows one process): the first, or BERTH_BENCH_PROFILE_REPLICA's.
          const own = i === watched ? env : Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'BERTH_BENCH_PROFILE_FILE'));
          const server = await startBerth(join(fixtures, 'replicas.yaml'), ['--redis', redis.url], { BERTH_REPLICA_ID: id })(p, core, own);
          started.push(server);
          replicas.push({ id, server });
        }
        const proxy = await startHaproxy(port, replicas.map((r) => r.server.port), core, h.tcpReady);
        started.push(proxy);
        return {
          port,
          child: replicas[watched]!.server.child,
          parts: () => [
            ...replicas.filter((r) => r.server.child.exitCode === null && r.server.child.signalCode === null).map((r) => ({ role: r.id, pid: r.server.child.pid! })),
            { role: 'haproxy', pid: proxy.pid },
            { role: 'redis', pid: redis!.pid },
          ],
          stop: () => stopAll(started),
        };
      } catch (err) {
        await stopAll(started);
        throw err;
      }
    },
    /** The replica running the session's unfinished call, from its in-flight record (`<replica>\t<attempts>\t<request>`). */
    runningOn: async (sessionId: string): Promise<string | undefined> => {
      // A bulk reply (the first entry), which the inline client reads to its length.
      const reply = await redis!.command(`EVAL "return redis.call('HVALS', KEYS[1])[1]" 1 berth:{bench/bench-replicas}:f:${sessionId}`);
      return reply.startsWith('$') && !reply.startsWith('$-1') ? reply.split('\r\n')[1]?.split('\t')[0] : undefined;
    },
    kill: (replicaId: string): boolean => {
      const r = replicas.find((x) => x.id === replicaId);
      return r ? r.server.child.kill('SIGKILL') : false;
    },
  };
}

/** The rungs, cheapest first. */
export function ladder(h: Helpers): Rung[] {
  const echoManifest = join(fixtures, 'echo.yaml');
  let redisModern: BenchRedis | undefined;
  let redisLegacy: BenchRedis | undefined;
  const secureModern = secureSetup();
  const secureLegacy = secureSetup();
  let secureModernRedis: BenchRedis | undefined;
  let secureLegacyRedis: BenchRedis | undefined;
  const rigModern = replicaRig(h);
  const rigLegacy = replicaRig(h);
  const sessions = (quick: boolean): number => (quick ? 100 : 1000);
  const churned = (quick: boolean): number => (quick ? 500 : 20_000);
  let stdioIdleRss = NaN;

  return [
    { id: 'node-http', label: 'raw node:http JSON echo', era: 'plain', start: peer('raw-http.ts', h), request: async () => plainCall() },
    { id: 'fastify', label: 'fastify JSON echo (ceiling)', era: 'plain', start: peer('fastify-echo.ts', h), request: async () => plainCall() },
    { id: 'sdk-modern', label: 'bare SDK v2 createMcpHandler, 2026-07-28', era: 'modern', start: peer('sdk-handler.ts', h), request: async () => modernCall() },
    { id: 'sdk-legacy-stateless', label: 'bare SDK v2 createMcpHandler, 2025 stateless fallback', era: 'legacy', start: peer('sdk-handler.ts', h), request: async () => legacyStatelessCall() },
    { id: 'sdk-sessionful', label: 'SDK sessionful transport, warm 2025 session', era: 'legacy', start: peer('sdk-sessionful.ts', h), request: (url) => legacySessionCall(url) },
    {
      id: 'berth-modern',
      label: 'Berth in-memory, 2026-07-28',
      era: 'modern',
      start: startBerth(echoManifest),
      request: async () => modernCall(),
      after: (ctx) => growthOver(ctx.server, ctx.wire, ctx.url, ctx.quick ? 5_000 : 100_000, ctx.load),
    },
    {
      id: 'berth-legacy',
      label: 'Berth in-memory, warm 2025 session',
      era: 'legacy',
      start: startBerth(echoManifest),
      request: (url) => legacySessionCall(url),
      after: async ({ url, server, quick }) => ({ ...(await idleSessionCost(url, server, sessions(quick))), ...(await sessionChurn(url, server, churned(quick))) }),
    },
    {
      id: 'berth-redis-modern',
      label: 'Berth + Redis, 2026-07-28',
      era: 'modern',
      start: withRedis(echoManifest, (r) => (redisModern = r)),
      request: async () => modernCall(),
      after: (ctx) => redisFigures(redisModern, ctx),
    },
    {
      id: 'berth-redis-legacy',
      label: 'Berth + Redis, warm 2025 session',
      era: 'legacy',
      start: withRedis(echoManifest, (r) => (redisLegacy = r)),
      request: (url) => legacySessionCall(url),
      after: async (ctx) => ({ ...(await redisFigures(redisLegacy, ctx)), ...(await idleSessionCost(ctx.url, ctx.server, sessions(ctx.quick), {}, redisLegacy)), ...(await sessionChurn(ctx.url, ctx.server, churned(ctx.quick))) }),
    },
    {
      id: 'berth-secure-modern',
      label: 'Berth + Redis + OAuth (cached JWKS) + rate limits, 2026-07-28',
      era: 'modern',
      quick: false,
      start: (port, core, env) => withRedis(() => secureModern.manifest(port), (r) => (secureModernRedis = r))(port, core, env).then((s) => ({ ...s, stop: () => s.stop().then(() => secureModern.stop()) })),
      request: async () => modernCall(secureModern.headers()),
      after: async (ctx) => ({ ...(await redisFigures(secureModernRedis, ctx)), jwksFetches: secureModern.jwksFetches() }),
    },
    {
      id: 'berth-secure-legacy',
      label: 'Berth + Redis + OAuth (cached JWKS) + rate limits, warm 2025 session',
      era: 'legacy',
      quick: false,
      start: (port, core, env) => withRedis(() => secureLegacy.manifest(port), (r) => (secureLegacyRedis = r))(port, core, env).then((s) => ({ ...s, stop: () => s.stop().then(() => secureLegacy.stop()) })),
      request: (url) => legacySessionCall(url, secureLegacy.headers()),
      after: async (ctx) => ({ ...(await redisFigures(secureLegacyRedis, ctx)), jwksFetches: secureLegacy.jwksFetches() }),
    },
    {
      id: 'berth-replicas-modern',
      label: '3 Berth replicas + Redis behind HAProxy round-robin, 2026-07-28',
      era: 'modern',
      quick: false,
      start: (port, core, env) => rigModern.start(port, core, env),
      request: async () => modernCall(),
      after: (ctx) => redisFigures(rigModern.redis(), ctx),
    },
    {
      id: 'berth-replicas-legacy',
      label: '3 Berth replicas + Redis behind HAProxy round-robin, warm 2025 session',
      era: 'legacy',
      quick: false,
      start: (port, core, env) => rigLegacy.start(port, core, env),
      request: (url) => legacySessionCall(url),
      after: async (ctx) => ({
        ...(await redisFigures(rigLegacy.redis(), ctx)),
        // Last: it kills a replica. A failure is reported as the figure, not as a failed rung.
        ...(await resumeAfterLoss(ctx.url, rigLegacy.runningOn, rigLegacy.kill, { n: 10, stepMs: 50 }).catch((err: Error) => ({ resumeAfterLoss: `failed: ${err.message}` }))),
      }),
    },
    {
      id: 'supergateway-stdio',
      label: 'supergateway (stateful) hosting server-everything, warm session',
      era: 'legacy',
      start: (port, core, env) =>
        startServer(
          process.execPath,
          [...NODE_FLAGS, supergatewayBin, '--stdio', `${process.execPath} ${everythingBin} stdio`, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'],
          { core, port, ready: h.tcpReady, env },
        ),
      request: (url) => legacySessionCall(url, {}, everythingEcho),
      after: async ({ server }) => ({ rssWithChildrenMB: Math.round(treeRss(server.child.pid!) / 2 ** 20) }),
    },
    {
      id: 'berth-stdio',
      label: 'Berth stdio backend hosting server-everything, warm session',
      era: 'legacy',
      start: async (port, core, env) => {
        await warmCompileCache(env.BERTH_BENCH_BIN ?? berthBin);
        const server = await startBerth(join(fixtures, 'everything-stdio.yaml'))(port, core, env);
        stdioIdleRss = await settledRss(server.child.pid!);
        return server;
      },
      request: (url) => legacySessionCall(url, {}, everythingEcho),
      after: async ({ server }) => ({
        rssWithChildrenMB: Math.round(treeRss(server.child.pid!) / 2 ** 20),
        // The runtime process alone (the aim's figure): idle after start, and its peak over the run (VmHWM).
        runtimeRssIdleMB: mb(stdioIdleRss),
        runtimeRssPeakMB: mb(procStatusBytes(server.child.pid!, 'VmHWM')),
      }),
    },
  ];
}
