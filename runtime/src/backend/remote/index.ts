/**
 * The remote backend: an upstream Streamable HTTP MCP server of either era
 * (`spec.source.remote`). Each client era is served natively when the
 * upstream speaks it, and bridged otherwise:
 *
 * | client \ upstream | 2026-07-28                 | 2025-era only                 |
 * |-------------------|----------------------------|-------------------------------|
 * | 2026-07-28        | passed through (stateless) | one shared Berth session      |
 * | 2025-era          | one shared Berth session if the upstream also speaks 2025, else translated per request |
 *
 * Berth's injected headers (literal or from Secrets) are the only ones the
 * upstream sees; the client's credentials never reach this code.
 */
import type { Logger } from 'pino';
import { ConfigError } from '../../config/errors.ts';
import type { RuntimeConfig } from '../../config/runtime-config.ts';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc.ts';
import type { Backend, BackendHealth, ClientContext, ExchangeSink, ServerChangeEvent } from '../types.ts';
import { ChangeListeners, toChangeEvent } from '../bridge/change-events.ts';
import { failureResponse } from '../bridge/failure.ts';
import { InteractionParking } from '../bridge/input-required.ts';
import { LegacyFront, toResponse } from '../bridge/legacy-front.ts';
import { PeerFailure, type PeerExchangeHooks, type PeerReply } from '../bridge/peer.ts';
import { SubscriptionRefs } from '../bridge/subscriptions.ts';
import { resolveValues } from '../stdio/values.ts';
import { sharedMetrics } from '../../observability/metrics.ts';
import { UpstreamHttp } from './http.ts';
import { BERTH_CLIENT_CAPABILITIES, BERTH_CLIENT_INFO } from '../bridge/capabilities.ts';
import { buildEnvelope, readEnvelope, withMeta } from '../bridge/envelope.ts';
import { LegacyOverModern } from './legacy-over-modern.ts';
import { LegacyUpstream } from './legacy-upstream.ts';
import { ModernUpstream } from './modern-upstream.ts';

export interface RemoteBackendOptions {
  /** How long resolved headers (Secret files) are reused before re-reading (default 10 s). */
  headerTtlMs?: number;
  /** How often an unreachable upstream is re-probed for readiness (default 5 s). */
  reprobeMs?: number;
}

/** Headers Berth owns on upstream requests; an injected header of the same name is ignored. */
const RESERVED = new Set(['host', 'content-type', 'content-length', 'accept', 'connection', 'transfer-encoding', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'last-event-id']);

const NO_HOOKS: PeerExchangeHooks = {
  audience: 'berth',
  notification: () => undefined,
  request: async () => ({ error: { code: ErrorCode.MethodNotFound, message: 'not available' } }),
};

/** Creates the remote backend for `config.spec.source.remote`. */
export function createRemoteBackend(config: RuntimeConfig, logger: Logger, options: RemoteBackendOptions = {}): Backend {
  const src = config.spec.source.remote;
  if (!src) throw new Error('spec.source.remote is required for the remote backend');
  const tenant = `${config.tenant.namespace}/${config.tenant.name}`;
  const log = logger.child({ tenant, backend: 'remote' });
  const rt = config.runtime;
  const headerTtl = options.headerTtlMs ?? 10_000;
  let cached: { at: number; headers: Record<string, string> } | undefined;

  const resolveHeaders = (): Record<string, string> => {
    const values = resolveValues(src.headers, rt, 'spec.source.remote.headers');
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) {
      const lower = name.toLowerCase();
      if (RESERVED.has(lower) || lower.startsWith('mcp-param-')) continue;
      // Secret files often end with a newline; a header value cannot.
      out[lower] = value.replace(/[\r\n]+$/, '');
    }
    return out;
  };
  const headers = (): Record<string, string> => {
    const now = Date.now();
    if (!cached || now - cached.at > headerTtl) {
      try {
        cached = { at: now, headers: resolveHeaders() };
      } catch (err) {
        // A Secret that disappeared at runtime: keep the last good values and say so.
        log.error({ err: (err as Error).message }, 'Could not re-read upstream header values; using the previous ones');
        cached = { at: now, headers: cached?.headers ?? {} };
      }
    }
    return cached.headers;
  };

  const http = new UpstreamHttp({ url: src.url, timeoutMs: src.timeoutSeconds * 1000, headers });
  const changes = new ChangeListeners((err) => log.error({ err }, 'A change listener threw'));
  const emit = (n: JsonRpcNotification) => {
    const ev = toChangeEvent(n);
    if (ev) changes.emit(ev);
  };
  const parking = new InteractionParking({ ttlMs: 120_000, max: 1000, logger: log });
  let health: BackendHealth = { ready: false, reason: 'the upstream server has not been reached yet' };
  let closing = false;
  let reprobe: NodeJS.Timeout | undefined;
  let inflight = 0;
  let idleWaiters: Array<() => void> = [];

  const subscriptions = new SubscriptionRefs((op, uri) => legacy.call(op, { uri }, NO_HOOKS));
  const legacy: LegacyUpstream = new LegacyUpstream({
    http,
    logger: log,
    onUnsolicited: emit,
    onOutcome: (err) => observe(err),
    onSession: () => {
      sharedMetrics.backendEvents.inc({ backend: 'remote', event: 'session_established' });
      for (const uri of subscriptions.uris()) legacy.call('resources/subscribe', { uri }, NO_HOOKS).catch(() => undefined);
    },
  });
  const modern = new ModernUpstream({ http, logger: log, onChange: emit });
  let modernRefused = false;
  const front = new LegacyFront({
    shared: true,
    peerFor: async () => {
      await legacy.ensure();
      return legacy;
    },
    subscriptions,
    parking,
    logger: log,
  });
  const shim = new LegacyOverModern(modern, log);

  /** Records the outcome of talking to the upstream for readiness. */
  const observe = (err?: unknown): void => {
    if (err === undefined) {
      if (!health.ready) log.info('The upstream server is reachable');
      health = { ready: true };
      return;
    }
    if (err instanceof PeerFailure && (err.kind === 'unavailable' || err.kind === 'timeout')) {
      sharedMetrics.backendEvents.inc({ backend: 'remote', event: err.kind === 'timeout' ? 'upstream_timeout' : 'upstream_error' });
      if (health.ready) log.warn({ reason: err.message }, 'The upstream server is not reachable');
      health = { ready: false, reason: err.message };
      scheduleReprobe();
    }
  };

  /** Whether modern clients can be passed through (probes once). */
  const modernAvailable = async (): Promise<boolean> => {
    if (modern.discover) return true;
    if (modernRefused) return false;
    const ok = await modern.probe();
    if (!ok) modernRefused = true;
    else modern.startListening();
    return ok;
  };

  const probeOnce = async (): Promise<void> => {
    try {
      if (await modernAvailable()) {
        observe();
        return;
      }
    } catch (err) {
      observe(err);
      return;
    }
    try {
      await legacy.ensure();
      observe();
    } catch (err) {
      if (err instanceof PeerFailure && err.kind === 'protocol') health = { ready: false, reason: `the upstream server speaks neither protocol era Berth can use: ${err.message}` };
      else observe(err);
    }
  };

  const scheduleReprobe = (): void => {
    if (reprobe || closing) return;
    reprobe = setTimeout(() => {
      reprobe = undefined;
      void probeOnce().then(() => {
        if (!health.ready) scheduleReprobe();
      });
    }, options.reprobeMs ?? 5000);
    reprobe.unref();
  };

  const passThrough = async (ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> => {
    // Berth's own requests (the policy pipeline's audit listing) carry no
    // client envelope; a 2026-07-28 upstream refuses a request without one.
    const outbound =
      readEnvelope(req.params).protocolVersion === undefined
        ? { ...req, params: withMeta(req.params, buildEnvelope({ clientInfo: { ...BERTH_CLIENT_INFO }, clientCapabilities: BERTH_CLIENT_CAPABILITIES })) }
        : req;
    try {
      const reply: PeerReply = await modern.forward(outbound, (n) => sink.notification(n), ctx.signal);
      observe();
      return toResponse(req.id, reply);
    } catch (err) {
      observe(err);
      return failureResponse(ctx, req, err, log);
    }
  };

  const serve = async (ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> => {
    if (ctx.era === 'modern') {
      let useModern: boolean;
      try {
        useModern = await modernAvailable();
      } catch (err) {
        observe(err);
        return failureResponse(ctx, req, err, log);
      }
      if (useModern) return passThrough(ctx, req, sink);
      return front.handle(ctx, req, sink);
    }
    // A 2025-era client: the upstream's own 2025 session when it has one, else translated.
    if (legacy.refused === undefined) {
      try {
        await legacy.ensure();
      } catch (err) {
        if (!(err instanceof PeerFailure && err.kind === 'protocol')) {
          observe(err);
          return failureResponse(ctx, req, err, log);
        }
      }
    }
    if (legacy.refused === undefined) return front.handle(ctx, req, sink);
    try {
      if (!(await modernAvailable())) return errorResponse(req.id, ErrorCode.UpstreamError, legacy.refused);
    } catch (err) {
      observe(err);
      return failureResponse(ctx, req, err, log);
    }
    return shim.handle(ctx, req, sink);
  };

  return {
    kind: 'remote',
    // Upstream sessions are shared by every client session of this replica.
    sessionAffinity: false,

    async start() {
      // A missing required Secret is a configuration error: fail start().
      try {
        resolveHeaders();
      } catch (err) {
        throw new ConfigError('spec', [(err as Error).message]);
      }
      log.info({ url: src.url, timeoutSeconds: src.timeoutSeconds }, 'Starting the remote backend');
      await probeOnce();
      if (!health.ready) {
        log.warn({ reason: health.reason }, 'The upstream server is not ready yet; retrying in the background');
        scheduleReprobe();
      }
    },

    health(): BackendHealth {
      if (closing) return { ready: false, reason: 'the remote backend is shutting down' };
      return health;
    },

    async handle(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
      if (closing) return errorResponse(request.id, ErrorCode.Unavailable, 'the server is shutting down; retry on another replica');
      inflight++;
      try {
        return await serve(ctx, request, sink);
      } finally {
        if (--inflight === 0 && idleWaiters.length) {
          const w = idleWaiters;
          idleWaiters = [];
          for (const r of w) r();
        }
      }
    },

    async notify(ctx: ClientContext, notification: JsonRpcNotification): Promise<void> {
      if (ctx.era === 'legacy' || !modern.discover) await front.notify(ctx, notification);
    },

    async closeSession(sessionId: string): Promise<void> {
      await front.closeSession(sessionId);
      shim.closeSession(sessionId);
    },

    onChange(listener: (event: ServerChangeEvent) => void): () => void {
      return changes.add(listener);
    },

    async close(deadline: number): Promise<void> {
      closing = true;
      clearTimeout(reprobe);
      const drainUntil = deadline - Math.min(1000, Math.max(0, deadline - Date.now()) / 3);
      if (inflight > 0) await Promise.race([new Promise<void>((r) => idleWaiters.push(r)), new Promise((r) => setTimeout(r, Math.max(0, drainUntil - Date.now())).unref())]);
      parking.clear('the server is shutting down');
      modern.close();
      await Promise.race([legacy.close(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now() - 50)).unref())]);
      await http.close(deadline);
      log.info('Stopped the remote backend');
    },
  };
}
