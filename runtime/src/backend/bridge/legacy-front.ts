/**
 * Serves clients of both eras from 2025-era peers (stdio children, legacy
 * upstream sessions). Handles what the era split and sharing require:
 * `initialize` and `server/discover` answered from the peer's handshake,
 * envelope stripping and 2026-07-28 result encoding, per-session log levels
 * and reference-counted subscriptions on shared peers, server→client
 * requests relayed (legacy) or turned into `input_required` rounds (modern),
 * and peer failures turned into clean errors.
 */
import type { Logger } from 'pino';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc.ts';
import type { ClientContext, ExchangeSink } from '../types.ts';
import { missingCapability } from './capabilities.ts';
import { discoverFromInitialize, initializeForClient } from './discover.ts';
import { readEnvelope, stripEnvelope } from './envelope.ts';
import { Interaction, InteractionParking } from './input-required.ts';
import { isLogLevel, passesLogLevel } from './log-level.ts';
import { encodeModernErrorCode, encodeModernResult, INPUT_REQUIRED_METHODS, withoutToolExecution } from './modern-result.ts';
import { failureResponse } from './failure.ts';
import type { LegacyPeer, PeerExchangeHooks, PeerReply } from './peer.ts';
import type { SubscriptionRefs } from './subscriptions.ts';
import { SmallMap } from '../../small-collections.ts';

export interface LegacyFrontOptions {
  /** One peer serves many clients: session-level state is kept by Berth, not the peer. */
  shared: boolean;
  /**
   * The peer that serves `ctx` (may start one); rejects with PeerFailure.
   * Returns a ready peer synchronously when it can, so the request reaches
   * it before another request is placed.
   */
  peerFor(ctx: ClientContext): LegacyPeer | Promise<LegacyPeer>;
  /** The peer already serving `ctx`, without starting one (client notifications). */
  existingPeer?(ctx: ClientContext): LegacyPeer | undefined;
  /** Reference-counted subscriptions (shared peers). */
  subscriptions?: SubscriptionRefs;
  parking: InteractionParking;
  logger: Logger;
}

function targetOf(req: JsonRpcRequest): unknown {
  const p = req.params;
  if (!p) return undefined;
  return req.method === 'resources/read' ? p.uri : p.name;
}

/** Links `signal` to `controller`; returns the unlink function. */
function link(signal: AbortSignal, controller: AbortController): () => void {
  if (signal.aborted) {
    controller.abort(signal.reason);
    return () => undefined;
  }
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

export class LegacyFront {
  readonly #opts: LegacyFrontOptions;
  readonly #levels = new Map<string, string>();
  /** Legacy exchanges by session and client request id, for `notifications/cancelled`. */
  readonly #cancellable = new SmallMap<string, AbortController>();
  #serial = 0;
  #reqSeq = 0;
  #inflight = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: LegacyFrontOptions) {
    this.#opts = opts;
  }

  /** Requests being served right now. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Serves one client request; never rejects. */
  async handle(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    this.#inflight++;
    try {
      return await this.#dispatch(ctx, req, sink);
    } catch (err) {
      return this.#failure(ctx, req, err);
    } finally {
      if (--this.#inflight === 0 && this.#idleWaiters.length) {
        const w = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const r of w) r();
      }
    }
  }

  /** A client notification outside any exchange. */
  async notify(ctx: ClientContext, n: JsonRpcNotification): Promise<void> {
    if (n.method === 'notifications/cancelled') {
      const id = n.params?.requestId;
      if (ctx.session && (typeof id === 'string' || typeof id === 'number')) {
        this.#cancellable.get(cancelKey(ctx.session.id, id))?.abort(new Error(typeof n.params?.reason === 'string' ? n.params.reason : 'cancelled by the client'));
      }
      return;
    }
    if (n.method === 'notifications/initialized' || this.#opts.shared) return;
    const peer = this.#opts.existingPeer?.(ctx);
    peer?.notify(n.method, n.params);
  }

  /** Forgets a legacy session's log level and subscriptions. */
  async closeSession(sessionId: string): Promise<void> {
    this.#levels.delete(sessionId);
    await this.#opts.subscriptions?.dropKey(sessionId);
  }

  async #dispatch(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    const modern = ctx.era === 'modern';
    if (modern && InteractionParking.isOurs(req.params?.requestState)) return this.#resume(ctx, req, sink);
    switch (req.method) {
      case 'initialize': {
        const peer = await this.#opts.peerFor(ctx);
        return ok(req.id, initializeForClient(peer.init, req.params?.protocolVersion));
      }
      case 'server/discover': {
        const peer = await this.#opts.peerFor(ctx);
        return ok(req.id, discoverFromInitialize(peer.init));
      }
      case 'ping':
        return ok(req.id, modern ? { resultType: 'complete' } : {});
      case 'logging/setLevel':
        return this.#setLevel(ctx, req);
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        if (this.#opts.shared && this.#opts.subscriptions) return this.#subscription(ctx, req);
        break;
    }
    if (req.method.startsWith('tasks/')) {
      // Tasks live in the server for whoever knows the id: on a shared server one client could read another's.
      return errorResponse(req.id, ErrorCode.MethodNotFound, `${req.method}: Berth does not relay tasks`);
    }
    if (req.method === 'tools/call' && req.params && 'task' in req.params) {
      const { task: _ignored, ...params } = req.params;
      req = { ...req, params };
    }
    const found = this.#opts.peerFor(ctx);
    const peer = found instanceof Promise ? await found : found;
    return modern ? this.#forwardModern(ctx, req, sink, peer) : this.#forwardLegacy(ctx, req, sink, peer);
  }

  async #forwardLegacy(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink, peer: LegacyPeer): Promise<JsonRpcResponse> {
    const session = ctx.session;
    const threshold = session ? (this.#levels.get(session.id) ?? session.logLevel) : undefined;
    const caps = session?.initialize.capabilities;
    const hooks: PeerExchangeHooks = {
      audience: session ? `s:${session.id}` : `x:${++this.#serial}`,
      notification: (n) => {
        if (n.method === 'notifications/message' && !passesLogLevel(n.params?.level, threshold, true)) return;
        sink.notification(n);
      },
      request: (method, params) => this.#askLegacy(sink, caps, method, params),
    };
    const shape = (reply: PeerReply): JsonRpcResponse =>
      // Berth relays no tasks, so tools advertise no task support: the same tool shape in both eras
      // (a pinned tool digest must not differ by the era that listed it).
      req.method === 'tools/list' && 'result' in reply ? ok(req.id, withoutToolExecution(reply.result)) : toResponse(req.id, reply);
    if (!session) return shape(await peer.call(req.method, req.params, hooks, ctx.signal));
    const controller = new AbortController();
    const key = cancelKey(session.id, req.id);
    this.#cancellable.set(key, controller);
    const unlink = link(ctx.signal, controller);
    try {
      return shape(await peer.call(req.method, req.params, hooks, controller.signal));
    } finally {
      unlink();
      if (this.#cancellable.get(key) === controller) this.#cancellable.delete(key);
    }
  }

  async #askLegacy(sink: ExchangeSink, caps: Record<string, unknown> | undefined, method: string, params: Record<string, unknown> | undefined): Promise<PeerReply> {
    const missing = missingCapability(method, params, caps);
    if (missing) return { error: { code: ErrorCode.MethodNotFound, message: `the client did not declare the ${missing} capability` } };
    try {
      const id = `berth-${++this.#reqSeq}`;
      const res = await sink.request(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
      return 'result' in res ? { result: res.result } : { error: res.error };
    } catch (err) {
      return { error: { code: ErrorCode.InternalError, message: `the request could not be relayed to the client: ${(err as Error).message}` } };
    }
  }

  async #forwardModern(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink, peer: LegacyPeer): Promise<JsonRpcResponse> {
    const env = readEnvelope(req.params);
    const params = stripEnvelope(req.params);
    const interaction = new Interaction(ctx.principal.id, req.method, targetOf(req), sink);
    interaction.serverInfo = peer.init.serverInfo;
    const threshold = env.logLevel;
    const caps = env.clientCapabilities;
    const hooks: PeerExchangeHooks = {
      audience: `x:${++this.#serial}`,
      notification: (n) => {
        if (n.method === 'notifications/message' && !passesLogLevel(n.params?.level, threshold, false)) return;
        interaction.notification(n);
      },
      request: (method, p) => {
        const missing = missingCapability(method, p, caps);
        if (missing) return Promise.resolve({ error: { code: ErrorCode.MethodNotFound, message: `the client did not declare the ${missing} capability` } });
        return interaction.ask(method, p);
      },
    };
    const unlink = link(ctx.signal, interaction.controller);
    interaction.attach(peer.call(req.method, params, hooks, interaction.controller.signal));
    return this.#round(req, interaction, unlink);
  }

  async #resume(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    const token = req.params?.requestState as string;
    const interaction = this.#opts.parking.take(token, ctx.principal.id, req.method, targetOf(req));
    if (!interaction) {
      return errorResponse(req.id, ErrorCode.InvalidParams, 'Invalid or expired requestState: the pending request is unknown here (it expired, was already answered, or began on another replica); re-issue the call', { reason: 'invalid_request_state' });
    }
    interaction.sink = sink;
    const unlink = link(ctx.signal, interaction.controller);
    interaction.answer(req.params?.inputResponses);
    return this.#round(req, interaction, unlink);
  }

  async #round(req: JsonRpcRequest, interaction: Interaction, unlink: () => void): Promise<JsonRpcResponse> {
    let outcome;
    try {
      outcome = await interaction.next();
    } finally {
      unlink();
      interaction.sink = undefined;
    }
    const serverInfo = interaction.serverInfo;
    switch (outcome.kind) {
      case 'final':
        return toModernResponse(req.id, req.method, outcome.reply, serverInfo);
      case 'failed':
        throw outcome.error;
      case 'input': {
        if (!INPUT_REQUIRED_METHODS.has(req.method)) {
          interaction.abandon(`${req.method} cannot ask the client for input on protocol revision 2026-07-28`);
          return errorResponse(req.id, ErrorCode.InternalError, `the server asked the client for input while serving ${req.method}, which protocol revision 2026-07-28 cannot carry`);
        }
        const token = this.#opts.parking.park(interaction);
        if (!token) {
          interaction.abandon('too many pending client input requests');
          return errorResponse(req.id, ErrorCode.Unavailable, 'too many pending client input requests; retry later');
        }
        return ok(req.id, encodeModernResult(req.method, { ...outcome.result, requestState: token }, serverInfo));
      }
    }
  }

  async #setLevel(ctx: ClientContext, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    const level = req.params?.level;
    if (!isLogLevel(level)) return errorResponse(req.id, ErrorCode.InvalidParams, 'level must be one of debug, info, notice, warning, error, critical, alert, emergency');
    if (ctx.session) this.#levels.set(ctx.session.id, level);
    if (!this.#opts.shared) {
      const peer = await this.#opts.peerFor(ctx);
      return toResponse(req.id, await peer.call(req.method, req.params, NO_HOOKS, ctx.signal));
    }
    return ok(req.id, ctx.era === 'modern' ? { resultType: 'complete' } : {});
  }

  async #subscription(ctx: ClientContext, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    const uri = req.params?.uri;
    if (typeof uri !== 'string' || uri === '') return errorResponse(req.id, ErrorCode.InvalidParams, 'uri is required');
    const subs = this.#opts.subscriptions!;
    const key = ctx.session?.id ?? `principal:${ctx.principal.id}`;
    const reply = req.method === 'resources/subscribe' ? await subs.subscribe(uri, key) : await subs.unsubscribe(uri, key);
    return ctx.era === 'modern' ? toModernResponse(req.id, req.method, reply, undefined) : toResponse(req.id, reply);
  }

  #failure(ctx: ClientContext, req: JsonRpcRequest, err: unknown): JsonRpcResponse {
    return failureResponse(ctx, req, err, this.#opts.logger);
  }
}

const NO_HOOKS: PeerExchangeHooks = {
  audience: 'berth',
  notification: () => undefined,
  request: async () => ({ error: { code: ErrorCode.MethodNotFound, message: 'not available' } }),
};

function cancelKey(sessionId: string, id: string | number): string {
  return `${sessionId}\u0000${typeof id}:${id}`;
}

function ok(id: JsonRpcRequest['id'], result: Record<string, unknown>): JsonRpcResponse {
  return { jsonrpc: '2.0', id, result };
}

/** The client's response for a peer reply (legacy wire form). */
export function toResponse(id: JsonRpcRequest['id'], reply: PeerReply): JsonRpcResponse {
  return 'result' in reply ? { jsonrpc: '2.0', id, result: reply.result } : { jsonrpc: '2.0', id, error: reply.error };
}

/** The client's response for a peer reply in 2026-07-28 wire form. */
export function toModernResponse(id: JsonRpcRequest['id'], method: string, reply: PeerReply, serverInfo: Record<string, unknown> | undefined): JsonRpcResponse {
  if ('result' in reply) return { jsonrpc: '2.0', id, result: encodeModernResult(method, reply.result, serverInfo) };
  return { jsonrpc: '2.0', id, error: { ...reply.error, code: encodeModernErrorCode(reply.error.code) } };
}
