// The ladder: every server the benchmark measures, from the bare ceilings to
// Berth in its production shapes, each started fresh and pinned to one core.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { legacySessionCall, legacyStatelessCall, modernCall, plainCall, type WireRequest } from './mcp-wire.ts';
import { rssBytes, startServer, treeRss, type Started } from './proc.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const berthBin = join(repo, 'runtime', 'bin', 'berth.mjs');
const supergatewayBin = join(repo, 'node_modules', 'supergateway', 'dist', 'index.js');
const everythingBin = join(repo, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const everythingEcho = { name: 'echo', arguments: { message: 'hello berth' }, expect: 'Echo: hello berth' };

export interface Rung {
  id: string;
  label: string;
  era: 'modern' | 'legacy' | 'plain';
  path?: string;
  start(port: number, core: number): Promise<Started>;
  request(url: string): Promise<WireRequest>;
  /** Extra measurements after the load runs. */
  after?(ctx: { url: string; server: Started; quick: boolean }): Promise<Record<string, number | string>>;
  cleanup?(): Promise<void>;
}

interface Helpers {
  tcpReady(port: number): Promise<boolean>;
}

const peer = (file: string, h: Helpers) => (port: number, core: number) =>
  startServer(process.execPath, [join(here, 'peers', file), '--port', String(port)], { core, port, ready: h.tcpReady });

async function berthReady(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/ready`);
  await res.text();
  return res.ok;
}

/** Starts `berth run -f <manifest>` with the given extra arguments. */
export function startBerth(manifest: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return (port: number, core: number) =>
    startServer(process.execPath, ['--expose-gc', '--import', gcPreload, berthBin, 'run', '-f', manifest, '--port', String(port), ...extra], {
      core,
      port,
      ready: berthReady,
      env: { BERTH_LOG_LEVEL: 'warn', BERTH_BENCH_MEM_FILE: memFile(port), ...env },
    });
}

const gcPreload = pathToFileURL(join(here, 'gc-preload.mjs')).href;
const memFile = (port: number): string => join(tmpdir(), `berth-bench-mem-${port}.json`);

/** Live heap + external bytes of a server started with the gc preload (after a full GC). */
async function liveBytes(server: Started): Promise<number> {
  const file = memFile(server.port);
  rmSync(file, { force: true });
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  const m = JSON.parse(readFileSync(file, 'utf8')) as { heapUsed: number; external: number; arrayBuffers: number };
  return m.heapUsed + m.external;
}

/** Memory per idle legacy session: RSS before and after opening N sessions. */
async function idleSessionCost(url: string, server: Started, n: number): Promise<Record<string, number>> {
  const rssBefore = rssBytes(server.child.pid!);
  const liveBefore = await liveBytes(server);
  const setup: number[] = [];
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const t0 = performance.now();
        await legacySessionCall(url);
        setup.push(performance.now() - t0);
      }),
    );
  }
  const liveAfter = await liveBytes(server);
  const rssAfter = rssBytes(server.child.pid!);
  setup.sort((a, b) => a - b);
  return {
    idleSessions: n,
    liveBytesPerIdleSession: Math.max(0, Math.round((liveAfter - liveBefore) / n)),
    rssBytesPerIdleSession: Math.max(0, Math.round((rssAfter - rssBefore) / n)),
    sessionSetupP50Ms: Number(setup[Math.floor(setup.length / 2)]!.toFixed(2)),
  };
}

/** The rungs, cheapest first. */
export function ladder(h: Helpers): Rung[] {
  const echoManifest = join(repo, 'bench', 'fixtures', 'echo.yaml');
  return [
    { id: 'node-http', label: 'raw node:http JSON echo', era: 'plain', start: peer('raw-http.ts', h), request: async () => plainCall() },
    { id: 'fastify', label: 'fastify JSON echo (ceiling)', era: 'plain', start: peer('fastify-echo.ts', h), request: async () => plainCall() },
    { id: 'sdk-modern', label: 'bare SDK v2 createMcpHandler, 2026-07-28', era: 'modern', start: peer('sdk-handler.ts', h), request: async () => modernCall() },
    { id: 'sdk-legacy-stateless', label: 'bare SDK v2 createMcpHandler, 2025 stateless fallback', era: 'legacy', start: peer('sdk-handler.ts', h), request: async () => legacyStatelessCall() },
    { id: 'sdk-sessionful', label: 'SDK sessionful transport, warm 2025 session', era: 'legacy', start: peer('sdk-sessionful.ts', h), request: (url) => legacySessionCall(url) },
    { id: 'berth-modern', label: 'Berth in-memory, 2026-07-28', era: 'modern', start: startBerth(echoManifest), request: async () => modernCall() },
    {
      id: 'berth-legacy',
      label: 'Berth in-memory, warm 2025 session',
      era: 'legacy',
      start: startBerth(echoManifest),
      request: (url) => legacySessionCall(url),
      after: ({ url, server, quick }) => idleSessionCost(url, server, quick ? 100 : 1000),
    },
    {
      id: 'supergateway-stdio',
      label: 'supergateway (stateful) hosting server-everything, warm session',
      era: 'legacy',
      start: (port, core) =>
        startServer(
          process.execPath,
          [supergatewayBin, '--stdio', `${process.execPath} ${everythingBin} stdio`, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'],
          { core, port, ready: h.tcpReady },
        ),
      request: (url) => legacySessionCall(url, {}, everythingEcho),
      after: async ({ server }) => ({ rssWithChildrenMB: Math.round(treeRss(server.child.pid!) / 2 ** 20) }),
    },
    {
      id: 'berth-stdio',
      label: 'Berth stdio backend hosting server-everything, warm session',
      era: 'legacy',
      start: startBerth(join(repo, 'bench', 'fixtures', 'everything-stdio.yaml')),
      request: (url) => legacySessionCall(url, {}, everythingEcho),
      after: async ({ server }) => ({ rssWithChildrenMB: Math.round(treeRss(server.child.pid!) / 2 ** 20) }),
    },
  ];
}
