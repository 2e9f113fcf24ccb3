/**
 * The cluster hooks the legacy session layer calls: owner routing for
 * POST/DELETE (forward over the authenticated internal hop, or claim a
 * session whose owner is gone), in-flight call records, and recovery of a
 * resumed stream whose owner died mid-call.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Backend, ClientContext, ExchangeSink } from '../backend/types.ts';
import { ErrorCode, errorResponse, type JsonRpcRequest } from '../protocol/jsonrpc.ts';
import type { RedisClient } from '../store/redis/connection.ts';
import type { Keys } from '../store/redis/keys.ts';
import type { EventStore } from '../store/types.ts';
import { createForwarder } from './forward.ts';
import { DRAINING_HEADER } from '../http/errors.ts';
import { createInflight, type Execute, type Inflight, type RecoveryOutcome } from './inflight.ts';
import { FORWARDED_BY, signForward, verifyForward } from './internal-auth.ts';
import { withTraceContext } from '../observability/tracing.ts';
import { createOwnership, type Ownership, type Route } from './ownership.ts';
import type { InvalidationFeed } from '../store/redis/tracking.ts';
import type { PubSubHub } from '../store/redis/pubsub.ts';
import { createSessionSignals, type SessionSignal } from './session-signals.ts';

export type RouteOutcome =
  /** Serve here; this replica already owned the session. */
  | 'local'
  /** Serve here; this replica just took the session over (fresh backend state, replayed initialize). */
  | 'claimed'
  /** The reply has been written (the owner's response, or a 503); do nothing more. */
  | 'handled'
  /** The session no longer exists: 404. */
  | 'gone';

export interface LegacyCluster {
  readonly ownership: Ownership;
  /**
   * The backend keeps nothing per session, so a session's requests need not
   * run on its owner: see servesHere. Answers and cancellations then reach
   * the replica running the exchange through signals.
   */
  readonly servesAnywhere: boolean;
  /**
   * Whether a request of a session whose record names `recordedOwner` runs
   * here with no hop and no claim: the backend serves anywhere, this replica
   * is not draining, and the owner is live (a gone or draining owner's
   * session is claimed through routeRequest first).
   */
  servesHere(recordedOwner: string | undefined): Promise<boolean>;
  /** Sends a signal to the other replicas (servesAnywhere only). */
  signal(signal: SessionSignal): void;
  /** Receives the signals of other replicas; returns the unsubscribe function. */
  onSignal(listener: (signal: SessionSignal) => void): () => void;
  /** Decides where a POST/DELETE of an existing session runs, forwarding it when another replica owns it. */
  routeRequest(request: FastifyRequest, reply: FastifyReply, sessionId: string, recordedOwner?: string, forwardHeaders?: () => Record<string, string>): Promise<RouteOutcome>;
  /** Whether `request` was forwarded here by a replica holding a current internal token. */
  isVerifiedForward(request: FastifyRequest, sessionId: string): boolean;
  /** A `tools/call` began streaming on this replica (stream `streamId`). */
  callStarted(sessionId: string, streamId: string, request: JsonRpcRequest): Promise<void>;
  /**
   * A client resumed `streamId` on this replica: if its call's owner is gone,
   * finish the call here (the outcome is appended to the stream, so the
   * caller's tail delivers it). Returns a function that stops watching.
   */
  streamResumed(sessionId: string, streamId: string, ctx: Omit<ClientContext, 'signal'>, onOutcome?: (outcome: RecoveryOutcome) => void): () => void;
  /** Heartbeats with the URL other replicas forward to (`http://<pod-ip>:<port>`). */
  start(internalUrl: string): Promise<void>;
  /** Drain begins: stop receiving forwards; sessions owned here become claimable. */
  drain(): Promise<void>;
  /** In-flight work is over: release ownership of everything. */
  stop(): Promise<void>;
}

export interface LegacyClusterOptions {
  redis: RedisClient;
  keys: Keys;
  events: EventStore;
  backend: Backend;
  replicaId: string;
  logger: Logger;
  idleTimeoutSeconds: number;
  /** Deadline of a re-executed call (the tool-call timeout). */
  toolCallTimeoutMs: number;
  /** Contents of runtime.internalTokenFile, if configured. */
  token?: string;
  heartbeatMs?: number;
  ttlMs?: number;
  /** Client tracking (see Ownership.forwardTarget). */
  feed?: InvalidationFeed;
  /** The subscriber connection's hub: with it, a backend without session affinity serves sessions on any replica. */
  hub?: PubSubHub;
  /** How long to wait for the owner to start answering a forwarded request. */
  forwardConnectTimeoutMs?: number;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Creates the hooks. */
export function createLegacyCluster(opts: LegacyClusterOptions): LegacyCluster {
  const logger = opts.logger.child({ component: 'cluster' });
  const ownership = createOwnership({
    redis: opts.redis,
    keys: opts.keys,
    replicaId: opts.replicaId,
    logger,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
    ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}),
    ...(opts.feed ? { feed: opts.feed } : {}),
  });
  const inflight: Inflight = createInflight({ redis: opts.redis, keys: opts.keys, events: opts.events, ownership, logger, idleTimeoutSeconds: opts.idleTimeoutSeconds });
  const watchers = new Set<AbortController>();
  const servesAnywhere = opts.hub !== undefined && opts.backend.sessionAffinity === false;
  const signals = servesAnywhere ? createSessionSignals({ client: opts.redis, hub: opts.hub!, channel: opts.keys.signalChannel, logger }) : undefined;
  // Kept-alive connections to owners: a forwarded call costs no TCP handshake.
  const forwarder = createForwarder();
  let draining = false;

  const unavailable = (reply: FastifyReply, message: string, extra: Record<string, string> = {}): 'handled' => {
    reply
      .code(503)
      .headers(extra)
      .header('retry-after', '1')
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(errorResponse(null, ErrorCode.Unavailable, `Service Unavailable: ${message}; retry shortly`)));
    return 'handled';
  };

  return {
    ownership,
    servesAnywhere,

    async servesHere(recordedOwner) {
      return servesAnywhere && !draining && (await ownership.serving(recordedOwner));
    },
    signal: (signal) => signals?.publish(signal),
    onSignal: (listener) => signals?.on(listener) ?? (() => {}),

    isVerifiedForward(request, sessionId) {
      return verifyForward(ownership.tokens(), request.headers, request.method, request.url, sessionId) === 'valid';
    },

    async routeRequest(request, reply, sessionId, recordedOwner, forwardHeaders) {
      // A draining replica starts nothing new, not even for sessions it owns: the retry lands on
      // another replica, which claims the session (the heartbeat says draining).
      if (draining) return unavailable(reply, 'this replica is shutting down', { [DRAINING_HEADER]: '1' });
      const path = request.url;
      const check = verifyForward(ownership.tokens(), request.headers, request.method, path, sessionId);
      if (check === 'valid') return 'local';
      // The record was read in this same request: no round trip when this replica owns it.
      if (check === 'absent' && recordedOwner === ownership.replicaId) return 'local';
      if (check === 'invalid') {
        logger.warn({ session: sessionId, from: header(request, FORWARDED_BY) }, 'Refused a forwarded request with a bad signature');
        reply.code(403).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(errorResponse(null, ErrorCode.Forbidden, 'Forbidden: bad internal forwarding signature')));
        return 'handled';
      }
      // A record naming another live replica: forward without asking Redis when its heartbeat is tracked.
      const target = recordedOwner ? await ownership.forwardTarget(recordedOwner) : undefined;
      let route: Route = target ? { kind: 'forward', owner: recordedOwner!, url: target } : await ownership.route(sessionId);
      for (let hop = 0; hop < 2; hop++) {
        if (route.kind === 'gone') return 'gone';
        if (route.kind === 'local') {
          if (route.claimed) logger.info({ session: sessionId, previousOwner: route.previousOwner }, 'Session taken over');
          return route.claimed ? 'claimed' : 'local';
        }
        const abort = new AbortController();
        const onClose = () => {
          if (!reply.raw.writableFinished) abort.abort();
        };
        reply.raw.once('close', onClose);
        const token = ownership.tokens()[0] ?? '';
        const result = await forwarder.forward({
          baseUrl: route.url,
          method: request.method,
          url: path,
          rawHeaders: request.raw.rawHeaders,
          // The owner's spans continue this request's trace, not the client's span.
          extraHeaders: withTraceContext({ ...forwardHeaders?.(), ...signForward(token, ownership.replicaId, request.method, path, sessionId) }),
          body: request.method === 'POST' ? JSON.stringify(request.body) : undefined,
          res: reply.raw,
          signal: abort.signal,
          connectTimeoutMs: opts.forwardConnectTimeoutMs ?? 5000,
          onResponse: () => reply.hijack(),
        });
        reply.raw.off('close', onClose);
        if (result.ok || abort.signal.aborted) return 'handled';
        if (result.draining) {
          // Its drain began after the heartbeat this replica read: claim as if its heartbeat said draining
          // (its own write of that flag may still be on the way), without burying a live replica.
          logger.info({ session: sessionId, owner: route.owner }, 'Session owner is draining; taking the session over');
          route = await ownership.route(sessionId, route.owner);
          continue;
        }
        if (!result.refused) {
          logger.warn({ err: result.error, session: sessionId, owner: route.owner }, 'Forwarding to the session owner failed');
          return unavailable(reply, 'the session owner did not answer');
        }
        // Nothing listens at the owner's address: it is gone although its heartbeat lingers.
        logger.info({ session: sessionId, owner: route.owner }, 'Session owner refuses connections; taking the session over');
        await ownership.bury(route.owner).catch(() => {});
        route = await ownership.route(sessionId, route.owner);
      }
      return unavailable(reply, 'session routing did not settle');
    },

    callStarted: (sessionId, streamId, request) => inflight.begin(sessionId, streamId, request),

    streamResumed(sessionId, streamId, ctx, onOutcome) {
      const controller = new AbortController();
      watchers.add(controller);
      const execute: Execute = (request, signal) => {
        const sink: ExchangeSink = {
          // Progress/log notifications of a second run would repeat (and progress must only increase): dropped.
          notification: () => {},
          request: async () => {
            throw new Error('server-to-client requests are not available while a lost call is re-executed');
          },
        };
        const both = AbortSignal.any([signal, AbortSignal.timeout(opts.toolCallTimeoutMs)]);
        return opts.backend.handle({ ...ctx, signal: both }, request, sink);
      };
      inflight
        .recover(sessionId, streamId, execute, controller.signal)
        .then(
          (outcome) => onOutcome?.(outcome),
          (err: unknown) => logger.error({ err, session: sessionId }, 'Recovering a lost call failed'),
        )
        .finally(() => watchers.delete(controller));
      return () => controller.abort();
    },

    start: (internalUrl) => ownership.start(internalUrl),
    drain: () => {
      draining = true;
      return ownership.setDraining();
    },
    async stop() {
      for (const w of watchers) w.abort();
      signals?.close();
      forwarder.close();
      await ownership.stop();
    },
  };
}
