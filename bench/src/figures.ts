// The figures measured beside calls/s: memory per idle session (process and
// Redis), session setup time, Redis commands per call, RSS after 100k calls,
// and how long a client waits when the replica running its call is lost.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult, LoadSpec } from './load-worker.ts';
import { legacySessionCall, LEGACY, type WireRequest } from './mcp-wire.ts';
import { rssBytes, type Started } from './proc.ts';
import { commandCalls, type BenchRedis } from './redis.ts';
import { readSse } from '../../runtime/test/helpers/sse-stream.ts';

export type Figures = Record<string, number | string>;
export type Load = (spec: LoadSpec) => Promise<LoadResult>;

/** Where a server started with the preload writes its memory report. */
export const memFile = (port: number): string => join(tmpdir(), `berth-bench-mem-${port}.json`);

/** Live heap + external bytes of a server started with the preload (after a full GC). */
export async function liveBytes(server: Started): Promise<number> {
  const file = memFile(server.port);
  rmSync(file, { force: true });
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 50));
  const m = JSON.parse(readFileSync(file, 'utf8')) as { heapUsed: number; external: number };
  return m.heapUsed + m.external;
}

const round = (n: number, d = 2): number => Number(n.toFixed(d));

/** Memory per idle legacy session (process, and Redis when given) and session setup time, over `n` sessions. */
export async function idleSessionCost(url: string, server: Started, n: number, headers: Record<string, string> = {}, redis?: BenchRedis): Promise<Figures> {
  const rssBefore = rssBytes(server.child.pid!);
  const liveBefore = await liveBytes(server);
  const redisBefore = redis ? Number((await redis.info('memory')).get('used_memory')) : 0;
  const setup: number[] = [];
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const t0 = performance.now();
        await legacySessionCall(url, headers);
        setup.push(performance.now() - t0);
      }),
    );
  }
  const liveAfter = await liveBytes(server);
  const rssAfter = rssBytes(server.child.pid!);
  setup.sort((a, b) => a - b);
  const out: Figures = {
    idleSessions: n,
    liveBytesPerIdleSession: Math.max(0, Math.round((liveAfter - liveBefore) / n)),
    rssBytesPerIdleSession: Math.max(0, Math.round((rssAfter - rssBefore) / n)),
    sessionSetupP50Ms: round(setup[Math.floor(setup.length / 2)]!),
    sessionSetupP99Ms: round(setup[Math.min(setup.length - 1, Math.floor(setup.length * 0.99))]!),
  };
  if (redis) out.redisBytesPerIdleSession = Math.max(0, Math.round((Number((await redis.info('memory')).get('used_memory')) - redisBefore) / n));
  return out;
}

/**
 * Session churn: `n` 2025-era sessions, each opened, used for one tool call
 * and closed with DELETE, eight at a time; then what the process kept (RSS
 * and live heap against the same figures after a warm-up round of another
 * `n`). A store or map that kept a closed session, or a long-lived table that
 * promoted its garbage, shows here. The warm-up is as long as the measured
 * round because bounded per-session caches (event-id tags, parsed
 * `initialize` objects, tracked session records: 4,096 entries each) and
 * the JIT take a few thousand sessions to reach their steady size.
 */
export async function sessionChurn(url: string, server: Started, n: number, headers: Record<string, string> = {}): Promise<Figures> {
  const lifecycle = async (): Promise<void> => {
    const s = await legacySessionCall(url, headers);
    const call = await fetch(url, { method: 'POST', headers: s.headers, body: s.body.replace('$ID', '2') });
    const text = await call.text();
    if (!call.ok || !text.includes(s.expect)) throw new Error(`session churn: call failed: HTTP ${call.status} ${text.slice(0, 200)}`);
    const closed = await fetch(url, { method: 'DELETE', headers: s.headers });
    const answer = await closed.text();
    if (!closed.ok) throw new Error(`session churn: DELETE failed: HTTP ${closed.status} ${answer.slice(0, 200)}`);
  };
  const run = async (count: number): Promise<void> => {
    let started = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (started++ < count) await lifecycle();
      }),
    );
  };
  await run(n);
  const rss0 = rssBytes(server.child.pid!);
  const live0 = await liveBytes(server);
  const t0 = performance.now();
  await run(n);
  const seconds = (performance.now() - t0) / 1000;
  const live1 = await liveBytes(server);
  const rss1 = rssBytes(server.child.pid!);
  return {
    churnSessions: n,
    churnSessionsPerSecond: Math.round(n / seconds),
    churnRssGrowthMB: round((rss1 - rss0) / 2 ** 20, 1),
    churnLiveHeapGrowthKB: Math.round((live1 - live0) / 1024),
  };
}

/** Counts the commands Redis executes while it runs: top level (a client's round trip) vs inside scripts. */
class Monitor {
  private sock: Socket;
  private buf = '';
  topLevel = 0;
  inScripts = 0;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let cut: number;
      while ((cut = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, cut);
        this.buf = this.buf.slice(cut + 2);
        // +1700000000.123456 [0 127.0.0.1:5000] "evalsha" ...   |   [0 lua] "XADD" ...
        const open = line.indexOf(' [');
        const close = line.indexOf('] "', open);
        if (open < 0 || close < 0) continue;
        if (line.slice(open + 2, close).endsWith(' lua')) this.inScripts++;
        else this.topLevel++;
      }
    });
  }

  static open(port: number): Promise<Monitor> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.write('MONITOR\r\n');
        resolve(new Monitor(sock));
      });
    });
  }

  take(): { topLevel: number; inScripts: number } {
    const r = { topLevel: this.topLevel, inScripts: this.inScripts };
    this.topLevel = this.inScripts = 0;
    return r;
  }

  close(): void {
    this.sock.destroy();
  }
}

/**
 * Redis work per call: `INFO commandstats` deltas while `calls` requests run,
 * minus the background rate (heartbeats) measured just before; round trips
 * from `total_reads_processed` (a pipelined batch is one read); and the
 * top-level commands (what clients sent, not what scripts ran) from MONITOR.
 */
export async function redisPerCall(redis: BenchRedis, runCalls: () => Promise<number>): Promise<Figures> {
  const monitor = await Monitor.open(redis.port);
  try {
    // One INFO for both sections: `total_reads_processed` counts the network reads Redis served
    // (a pipeline arrives in one read), the command stats count commands, scripts' own included.
    const snap = async () => {
      const info = await redis.info('stats commandstats');
      const calls = commandCalls(info);
      calls.set('(reads)', Number(info.get('total_reads_processed') ?? 0));
      return calls;
    };
    const idle0 = await snap();
    monitor.take();
    const idleStart = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const idle1 = await snap();
    const idleMs = performance.now() - idleStart;
    const idleMon = monitor.take();
    const t0 = performance.now();
    const calls = await runCalls();
    const busy1 = await snap();
    const busyMs = performance.now() - t0;
    const busyMon = monitor.take();
    const scale = busyMs / idleMs;
    const delta = (key: string): number => {
      const background = ((idle1.get(key) ?? 0) - (idle0.get(key) ?? 0)) * scale;
      return (busy1.get(key) ?? 0) - (idle1.get(key) ?? 0) - background;
    };
    // Minus the harness's own INFO read.
    // Background reads are subtracted as estimated from the idle second, so a
    // quiet run can land a hair below zero: nothing, then.
    const reads = Math.max(0, (delta('(reads)') - 1) / calls);
    busy1.delete('(reads)');
    const per = new Map<string, number>();
    for (const [cmd, n] of busy1) {
      // The INFO calls themselves are the harness's, not Berth's.
      if (cmd === 'info' || cmd === 'monitor') continue;
      const during = delta(cmd);
      if (during / calls >= 0.005) per.set(cmd, during / calls);
    }
    const total = [...per.values()].reduce((a, b) => a + b, 0);
    const topLevel = Math.max(0, (busyMon.topLevel - 1 - (idleMon.topLevel - 1) * scale) / calls); // minus one INFO each
    return {
      redisCommandsPerCall: round(total),
      redisTopLevelCommandsPerCall: round(topLevel),
      redisRoundTripsPerCall: round(reads),
      redisCommands: [...per.entries()].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', '),
    };
  } finally {
    monitor.close();
  }
}

/** RSS and live heap after warm-up vs after `requests` more calls. */
export async function growthOver(server: Started, wire: WireRequest, url: string, requests: number, load: Load): Promise<Figures> {
  const rss0 = rssBytes(server.child.pid!);
  const live0 = await liveBytes(server);
  const r = await load({ url, headers: wire.headers, body: wire.body, connections: 8, durationSeconds: 900, maxRequests: requests, expect: wire.expect });
  const live1 = await liveBytes(server);
  const rss1 = rssBytes(server.child.pid!);
  return {
    growthRequests: r.total + r.errors,
    growthErrors: r.errors,
    rssAfterWarmupMB: round(rss0 / 2 ** 20, 1),
    rssAfterRequestsMB: round(rss1 / 2 ** 20, 1),
    rssGrowthMB: round((rss1 - rss0) / 2 ** 20, 1),
    liveHeapGrowthKB: Math.round((live1 - live0) / 1024),
  };
}

/**
 * Replica loss mid-stream (3 replicas behind the proxy): a streamed,
 * idempotent call runs; after a few progress events the replica running it
 * is killed with SIGKILL; the client resumes with Last-Event-ID through the
 * proxy. Measures from the kill until the resumed stream is attached and
 * until it delivers the result (which includes re-running the call).
 */
export async function resumeAfterLoss(
  url: string,
  runningOn: (sessionId: string) => Promise<string | undefined>,
  kill: (replicaId: string) => boolean,
  call: { n: number; stepMs: number },
): Promise<Figures> {
  const session = await legacySessionCall(url);
  const headers = { ...session.headers };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'count', arguments: call, _meta: { progressToken: 'bench' } },
  });
  let lastId: string | undefined;
  let killedAt = 0;
  let killing: Promise<void> | undefined;
  let attachedAt = 0;
  let result: string | undefined;
  const ids: string[] = [];
  const progress: number[] = [];
  const onEvent = (e: { id?: string; data: string }): boolean => {
    if (e.id) (lastId = e.id), ids.push(e.id);
    if (!e.data) return false;
    const msg = JSON.parse(e.data) as { id?: unknown; method?: string; params?: { progress?: number }; result?: unknown };
    if (msg.method === 'notifications/progress') {
      progress.push(msg.params?.progress ?? -1);
      if (progress.length === 3 && !killing) {
        killing = runningOn(session.sessionId).then((replica) => {
          if (!replica || !kill(replica)) throw new Error(`could not find the replica running the call (${replica})`);
          killedAt = performance.now();
        });
      }
    }
    if (msg.id === 7 && msg.result !== undefined) {
      result = JSON.stringify(msg.result);
      return true;
    }
    return false;
  };
  const deadline = performance.now() + 15_000;
  const left = (): AbortSignal => AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())));
  const post = await fetch(url, { method: 'POST', headers, body, signal: left() });
  if (post.status !== 200 || !(post.headers.get('content-type') ?? '').includes('text/event-stream')) throw new Error(`the streamed call did not stream: HTTP ${post.status}`);
  let outcome = await readSse(post.body!, onEvent);
  process.stdout.write(`[bench] replica loss: POST stream ${outcome} after ${progress.length} progress events\n`);
  await killing;
  if (!killedAt) throw new Error(`the call ended before its replica was killed (${outcome})`);
  let resumes = 0;
  while (result === undefined && performance.now() < deadline) {
    if (!lastId) throw new Error('no event id to resume from');
    resumes++;
    const get = await fetch(url, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'mcp-session-id': session.sessionId, 'mcp-protocol-version': LEGACY, 'last-event-id': lastId },
      signal: left(),
    }).catch(() => undefined);
    if (!get || get.status !== 200) {
      await get?.text().catch(() => '');
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    attachedAt ||= performance.now();
    outcome = await readSse(get.body!, onEvent);
  }
  const doneAt = performance.now();
  if (result === undefined) throw new Error(`the resumed stream never delivered the result (${outcome}, ${resumes} resumes)`);
  if (!result.includes(`counted to ${call.n}`)) throw new Error(`unexpected result after the takeover: ${result}`);
  return {
    resumeAttachedMs: round(attachedAt - killedAt, 1),
    resumeResultMs: round(doneAt - killedAt, 1),
    resumeIncludesRerunMs: call.n * call.stepMs,
    resumeDuplicatedEvents: ids.length - new Set(ids).size,
    resumeAttempts: resumes,
  };
}
