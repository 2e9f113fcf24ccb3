/**
 * The stdio backend: a command speaking MCP over stdio, run as child
 * processes (`spec.source.stdio`). `shared` mode multiplexes every client
 * onto a warm pool; `perSession` gives each legacy session its own child
 * (modern requests, which have no session, use the pool).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../../config/errors.ts';
import type { RuntimeConfig } from '../../config/runtime-config.ts';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc.ts';
import type { Backend, BackendHealth, ClientContext, ExchangeSink, InitializeParams, ServerChangeEvent } from '../types.ts';
import { BERTH_CLIENT_CAPABILITIES, BERTH_CLIENT_INFO } from '../bridge/capabilities.ts';
import { ChangeListeners, toChangeEvent } from '../bridge/change-events.ts';
import { LATEST_LEGACY_PROTOCOL_VERSION } from '../../protocol/meta-keys.ts';
import { InteractionParking } from '../bridge/input-required.ts';
import { LegacyFront } from '../bridge/legacy-front.ts';
import type { PeerExchangeHooks, PeerReply } from '../bridge/peer.ts';
import { SubscriptionRefs } from '../bridge/subscriptions.ts';
import { installPackage } from '../install-package.ts';
import { sharedMetrics } from '../../observability/metrics.ts';
import { StdioChild, type ChildSpawnSpec, type ExitInfo } from './child.ts';
import { childPath, resolveCommand } from './command.ts';
import { StdioPool } from './pool.ts';
import { SessionChildren } from './sessions.ts';
import { resolveValues } from './values.ts';

/** Tuning knobs (tests and benchmarks); the manifest sets everything else. */
export interface StdioBackendOptions {
  /** Grow the pool when the least-loaded child has this many requests in flight (default 4). */
  growAt?: number;
  /** Stop pool children above `min` after this long idle (default 60 s). */
  idleMs?: number;
  /** First respawn delay after a crash (default 500 ms, doubling). */
  backoffMs?: number;
  /** How long a modern client has to answer an `input_required` round (default 120 s). */
  inputTtlMs?: number;
  /** Stop a session's child after this long idle (default `spec.session.idleTimeoutSeconds`). */
  sessionIdleMs?: number;
}

const NO_HOOKS: PeerExchangeHooks = {
  audience: 'berth',
  notification: () => undefined,
  request: async () => ({ error: { code: ErrorCode.MethodNotFound, message: 'not available' } }),
};

/**
 * The audience key of a request for child selection: a legacy session, or a
 * key no other request has (a modern request prefers an idle child).
 */
function audienceOf(ctx: ClientContext): string {
  return ctx.session ? `s:${ctx.session.id}` : '\u0000modern';
}

/** Creates the stdio backend for `config.spec.source.stdio`. */
export function createStdioBackend(config: RuntimeConfig, logger: Logger, options: StdioBackendOptions = {}): Backend {
  const src = config.spec.source.stdio;
  if (!src) throw new Error('spec.source.stdio is required for the stdio backend');
  // The runtime's root logger already carries `tenant`.
  const log = logger.child({ backend: 'stdio' });
  const rt = config.runtime;
  const handshakeTimeoutMs = src.handshakeTimeoutSeconds * 1000;
  const perSession = src.instances.mode === 'perSession';
  const changes = new ChangeListeners((err) => log.error({ err }, 'A change listener threw'));
  const parking = new InteractionParking({ ttlMs: options.inputTtlMs ?? 120_000, max: 1000, logger: log });
  let spawnSpec: (() => ChildSpawnSpec) | undefined;
  let serial = 0;
  let closing = false;

  const onUnsolicited = (child: StdioChild, n: JsonRpcNotification) => {
    const ev = toChangeEvent(n);
    if (ev) changes.emit(ev);
    else log.debug({ child: child.id, method: n.method }, 'Dropped a notification no client request can be tied to');
  };
  const events = sharedMetrics.backendEvents;
  const makeChild = (initialize: Record<string, unknown>, onExit: (c: StdioChild, i: ExitInfo) => void) => {
    if (!spawnSpec) throw new Error('the stdio backend was not started');
    events.inc({ backend: 'stdio', event: 'spawn' });
    return new StdioChild({
      id: ++serial,
      spawn: spawnSpec(),
      initialize,
      handshakeTimeoutMs,
      logger: log,
      onUnsolicited,
      onExit: (c, info) => {
        events.inc({ backend: 'stdio', event: info.expected ? 'stop' : info.wasReady ? 'crash' : 'handshake_failure' });
        onExit(c, info);
      },
    });
  };
  const berthInitialize = (): Record<string, unknown> => ({
    protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION,
    capabilities: BERTH_CLIENT_CAPABILITIES,
    clientInfo: BERTH_CLIENT_INFO,
  });

  const subscriptions = new SubscriptionRefs(async (op, uri) => {
    const ready = pool.children.filter((c) => c.state === 'ready');
    const targets = ready.length ? ready : [await pool.acquire()];
    const replies: PeerReply[] = await Promise.all(
      targets.map((c) => c.call(op, { uri }, NO_HOOKS).catch((err: Error): PeerReply => ({ error: { code: ErrorCode.UpstreamError, message: err.message } }))),
    );
    return replies.find((r) => 'result' in r) ?? replies[0]!;
  });

  const pool = new StdioPool({
    min: src.instances.min,
    max: src.instances.max,
    create: (onExit) => makeChild(berthInitialize(), onExit),
    onReady: (child) => {
      for (const uri of subscriptions.uris()) child.call('resources/subscribe', { uri }, NO_HOOKS).catch(() => undefined);
    },
    handshakeTimeoutMs,
    logger: log,
    ...(options.growAt !== undefined ? { growAt: options.growAt } : {}),
    ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
  });
  const sessions = perSession
    ? new SessionChildren({
        max: src.instances.max,
        idleMs: options.sessionIdleMs ?? config.spec.session.idleTimeoutSeconds * 1000,
        create: (init: InitializeParams, onExit) => makeChild(init, onExit),
        logger: log,
      })
    : undefined;

  const sharedFront = new LegacyFront({ shared: true, peerFor: (ctx) => pool.acquire(audienceOf(ctx)), subscriptions, parking, logger: log });
  const sessionFront = sessions
    ? new LegacyFront({
        shared: false,
        peerFor: (ctx) => (ctx.session ? sessions.get(ctx.session.id, ctx.session.initialize) : pool.acquire(audienceOf(ctx))),
        existingPeer: (ctx) => (ctx.session ? sessions.existing(ctx.session.id) : undefined),
        parking,
        logger: log,
      })
    : undefined;
  const frontFor = (ctx: ClientContext) => (sessionFront && ctx.era === 'legacy' ? sessionFront : sharedFront);

  return {
    kind: 'stdio',
    sessionAffinity: perSession,

    async start() {
      let binDirs: string[] = [];
      if (src.package) {
        log.info({ package: src.package, dir: rt.packagesDir }, 'Installing the stdio server package');
        const pkg = await installPackage(src.package, rt.packagesDir, { onOutput: (line) => log.debug({ npm: line }, 'npm') });
        binDirs = [pkg.binDir];
      }
      const baseDir = resolve(rt.baseDir);
      const path = childPath(binDirs, process.env.PATH);
      let cmd: ReturnType<typeof resolveCommand>;
      try {
        cmd = resolveCommand(src.command, src.args, { binDirs, pathEnv: path, baseDir });
        // A missing required Secret/ConfigMap key fails start(); values are re-read at every spawn so rotations apply.
        resolveValues(src.env, rt, 'spec.source.stdio.env');
      } catch (err) {
        throw new ConfigError('spec', [(err as Error).message]);
      }
      const cwd = existsSync(baseDir) ? baseDir : process.cwd();
      spawnSpec = () => ({
        file: cmd.file,
        args: cmd.args,
        cwd,
        env: { PATH: path, HOME: process.env.HOME ?? '/tmp', ...resolveValues(src.env, rt, 'spec.source.stdio.env') },
      });
      log.info({ command: cmd.display, file: cmd.file, mode: src.instances.mode, min: src.instances.min, max: src.instances.max }, 'Starting the stdio backend');
      await pool.start();
    },

    health(): BackendHealth {
      if (closing) return { ready: false, reason: 'the stdio backend is shutting down' };
      const h = pool.health();
      if (!h.ready) return h;
      if (sessions && src.instances.min === 0 && sessions.lastError) return { ready: false, reason: `a per-session stdio server process failed: ${sessions.lastError}` };
      return { ready: true };
    },

    async handle(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
      if (closing) return errorResponse(request.id, ErrorCode.Unavailable, 'the server is shutting down; retry on another replica');
      return frontFor(ctx).handle(ctx, request, sink);
    },

    async notify(ctx: ClientContext, notification: JsonRpcNotification): Promise<void> {
      await frontFor(ctx).notify(ctx, notification);
    },

    async closeSession(sessionId: string): Promise<void> {
      await sharedFront.closeSession(sessionId);
      if (sessionFront) await sessionFront.closeSession(sessionId);
      await sessions?.close(sessionId);
    },

    onChange(listener: (event: ServerChangeEvent) => void): () => void {
      return changes.add(listener);
    },

    async close(deadline: number): Promise<void> {
      closing = true;
      const killBudget = Math.min(2000, Math.max(0, deadline - Date.now()) / 2);
      const drainUntil = deadline - killBudget;
      const idle = Promise.all([sharedFront.idle(), sessionFront?.idle()]);
      await Promise.race([idle, new Promise((r) => setTimeout(r, Math.max(0, drainUntil - Date.now())).unref())]);
      parking.clear('the server is shutting down');
      await Promise.all([pool.close(deadline), sessions?.closeAll(deadline)]);
      log.info('Stopped the stdio backend');
    },
  };
}
