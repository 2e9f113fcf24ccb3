/**
 * The 2025-era session layer (2025-11-25, 2025-06-18, 2025-03-26): sessions
 * bound to principals, POST SSE streams with priming events, the standalone
 * GET stream, `Last-Event-ID` resumption, DELETE, server→client requests and
 * change notifications. Session records and event logs live in the stores so
 * any replica can serve a session; only live connections and in-flight
 * exchanges are held here.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InboundLegacyRoute } from '@modelcontextprotocol/server';
import type { ClientContext, InitializeParams, Principal, ServerChangeEvent } from '../backend/types.ts';
import type { McpHeaders } from '../protocol/classify.ts';
import { isResponse, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../protocol/jsonrpc.ts';
import { changeNotification } from '../protocol/listen.ts';
import { DEFAULT_LEGACY_VERSION, isServedLegacyVersion, supportsPrimingEvents } from '../protocol/versions.ts';
import { SessionLimitError, type SessionRecord } from '../store/types.ts';
import type { SessionSignal } from '../cluster/session-signals.ts';
import type { RuntimeContext } from './context.ts';
import { encodeToolDecision, TOOL_DECISION_HEADER } from './forwarded-limit.ts';
import { toolCallName } from '../protocol/tool-call-name.ts';
import { echoableId, HttpErrors, sendDraining, sendError } from './errors.ts';
import { Exchange, idKey, type ClientRequestChannel, type Delivery } from './exchange.ts';
import { eventFrame, primingFrame, RETRY_MS, SSE_HEADERS, type SseStream } from './sse.ts';
import { DictMap } from '../small-collections.ts';

/** Stream id of a session's standalone GET stream. */
export const GET_STREAM = 'g';

/** Requests that may run long: answered over SSE (priming event first) unless a small result is ready at once. */
const STREAM_FIRST = new Set(['tools/call', 'resources/read', 'prompts/get', 'completion/complete']);

/** Requests whose effect lives in the owner's memory (its change fan-out, its backend's subscriptions): served by the owner. */
const OWNER_METHODS: ReadonlySet<string> = new Set(['resources/subscribe', 'resources/unsubscribe', 'logging/setLevel']);

/** A session as exchanges see it, from its record. */
const sessionOf = (record: SessionRecord): NonNullable<ClientContext['session']> =>
  record.logLevel === undefined ? { id: record.id, initialize: record.initialize } : { id: record.id, initialize: record.initialize, logLevel: record.logLevel };

/**
 * A STREAM_FIRST request's SSE stream goes on the wire at its first related
 * message or after this long, whichever comes first. A result ready sooner
 * goes out in one response, with no in-flight record for a call that is
 * already over: as JSON when it is small (WHOLE_JSON_MAX_BYTES), else as its
 * stored events (priming, result) in one SSE write.
 */
export const STREAM_OPEN_DELAY_MS = 25;

/**
 * A response this small travels in one TCP segment with its headers: the
 * client gets all of it or none of it, and with none it holds no event id
 * to resume from. So storing its events would buy nothing, and it is sent as
 * JSON without a Redis round trip. A larger one can be cut after its
 * priming event, so its events are stored and it stays resumable.
 */
export const WHOLE_JSON_MAX_BYTES = 1024;

/** Which client capability a server→client request needs. */
const REQUIRED_CAPABILITY: Readonly<Record<string, string>> = Object.freeze({
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
});

const SESSION_ID_PATTERN = /^[\x21-\x7E]{16,128}$/;

/** A new session id: 144 random bits, base64url (visible ASCII). */
export const newSessionId = (): string => randomBytes(18).toString('base64url');
/** Stream ids only need to be unique within a session, across replicas: a random per-process prefix and a counter. */
const STREAM_PREFIX = randomBytes(6).toString('base64url');
let streamSeq = 0;
const newStreamId = (): string => `${STREAM_PREFIX}${(++streamSeq).toString(36)}`;

interface OwnedSession {
  lastSeen: number;
  subscriptions: Set<string>;
}

interface LiveStream {
  readonly sessionId: string;
  readonly streamId: string;
  /** The connection currently carrying the stream on this replica (none after a disconnect). */
  conn: SseStream | undefined;
}

interface PendingClientRequest {
  originalId: RequestId;
  resolve(response: JsonRpcResponse): void;
  reject(error: Error): void;
}

const streamKey = (sessionId: string, streamId: string): string => `${sessionId}\u0000${streamId}`;

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates `initialize` params enough to store and replay them. */
export function initializeParams(params: unknown): InitializeParams | undefined {
  if (!isPlainObject(params)) return undefined;
  const { protocolVersion, capabilities, clientInfo } = params;
  if (typeof protocolVersion !== 'string' || !isPlainObject(capabilities) || !isPlainObject(clientInfo)) return undefined;
  if (typeof clientInfo.name !== 'string' || typeof clientInfo.version !== 'string') return undefined;
  return params as InitializeParams;
}

export class LegacySessions implements ClientRequestChannel {
  private readonly rt: RuntimeContext;
  // DictMaps, not Maps: entries come and go per session or per call (see small-collections.ts).
  /** Sessions whose change notifications this replica appends (it created or took them over). */
  private readonly owned = new DictMap<string, OwnedSession>();
  /** POST streams with a live exchange on this replica. */
  private readonly streams = new DictMap<string, LiveStream>();
  /** The GET stream of each session connected to this replica. */
  private readonly getStreams = new DictMap<string, SseStream>();
  private readonly pending = new DictMap<string, PendingClientRequest>();
  /**
   * Ids of server→client requests. Random start: with signals, an answer is
   * matched on whichever replica has a request of that session and id waiting.
   */
  private nextClientRequestId = randomInt(1, 2 ** 47);
  private readonly sweepTimer: NodeJS.Timeout;
  private stopChanges: () => void;
  private readonly stopSignals: () => void;

  constructor(rt: RuntimeContext) {
    this.rt = rt;
    this.stopChanges = rt.changes.on((event) => this.fanOut(event));
    this.stopSignals = rt.cluster?.onSignal((signal) => this.onSignal(signal)) ?? (() => {});
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(30_000, (rt.spec.session.idleTimeoutSeconds * 1000) / 2));
    this.sweepTimer.unref();
  }

  get sessionCount(): number {
    return this.owned.size;
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    this.stopChanges();
    this.stopSignals();
  }

  // ---------------------------------------------------------------- POST

  /** Serves a legacy-classified POST. */
  async post(request: FastifyRequest, reply: FastifyReply, route: InboundLegacyRoute, body: unknown, _headers: McpHeaders, principal: Principal): Promise<void> {
    if (route.reason === 'batch') return void sendError(reply, HttpErrors.BATCH_NOT_SUPPORTED);
    if (route.reason === 'initialize') return this.initialize(request, reply, body as JsonRpcRequest, principal);
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId === undefined) return void sendError(reply, HttpErrors.SESSION_ID_REQUIRED, { id: echoableId(body) });
    const record = await this.session(sessionId, principal);
    if (!record) return void sendError(reply, HttpErrors.SESSION_NOT_FOUND, { id: echoableId(body) });
    const routed = (await this.runsAnywhere(route.reason, body, record)) ? 'local' : await this.routeToOwner(request, reply, sessionId, record);
    if (routed === 'handled') return;
    if (routed === 'gone') return void sendError(reply, HttpErrors.SESSION_NOT_FOUND, { id: echoableId(body) });
    const ctx: Omit<ClientContext, 'signal'> = {
      era: 'legacy',
      protocolVersion: record.protocolVersion,
      session: sessionOf(record),
      principal,
      tenant: this.rt.tenant,
    };

    if (route.reason === 'response') {
      this.rt.metrics.requests.inc({ era: 'legacy', kind: 'response' });
      const response = body as JsonRpcResponse;
      // The exchange that asked may run on another replica (see runsAnywhere).
      if (!this.resolveClientResponse(sessionId, response) && this.rt.cluster?.servesAnywhere) this.rt.cluster.signal({ kind: 'response', session: sessionId, message: response });
      return void reply.code(202).send();
    }
    if (route.reason === 'notification') {
      this.rt.metrics.requests.inc({ era: 'legacy', kind: 'notification' });
      await this.notification(ctx, body as JsonRpcNotification);
      return void reply.code(202).send();
    }

    this.rt.metrics.requests.inc({ era: 'legacy', kind: 'request' });
    const message = body as JsonRpcRequest;
    // The drain may have begun while this request awaited its session and route. Checked with
    // nothing awaited before the exchange joins the tracker: the drain waits for what joined in
    // time, and what did not gets a 503 its client retries. With replicas, a draining one starts
    // nothing new (another claims the session); alone, it serves until its backend closes.
    const draining = this.rt.state === 'draining' || this.rt.state === 'stopped';
    if (this.rt.backendClosing || (draining && this.rt.cluster)) return void sendDraining(reply, message.id);
    // Priming follows the negotiated revision: the header may name an older one the client also speaks.
    const delivery = new LegacyDelivery(this, reply, sessionId, record.protocolVersion, this.afterSuccess(sessionId, message));
    const exchange = new Exchange(this.rt.exchangeHost, ctx, message, delivery, this);
    if (STREAM_FIRST.has(message.method)) delivery.openSoon(message);
    exchange.start();
  }

  /** Store updates that must land before the client sees the response. */
  private afterSuccess(sessionId: string, message: JsonRpcRequest): ((response: JsonRpcResponse) => Promise<void>) | undefined {
    const method = message.method;
    if (method !== 'resources/subscribe' && method !== 'resources/unsubscribe' && method !== 'logging/setLevel') return undefined;
    return async (response) => {
      if ('error' in response) return;
      if (method === 'logging/setLevel') {
        const level = message.params?.level;
        if (typeof level === 'string') await this.rt.sessions.update(sessionId, { logLevel: level });
        return;
      }
      const uri = message.params?.uri;
      if (typeof uri !== 'string') return;
      const record = await this.rt.sessions.get(sessionId);
      if (!record) return;
      const subs = new Set(record.subscriptions ?? []);
      if (method === 'resources/subscribe') subs.add(uri);
      else subs.delete(uri);
      await this.rt.sessions.update(sessionId, { subscriptions: [...subs] });
      const owned = this.owned.get(sessionId);
      if (owned) owned.subscriptions = subs;
    };
  }

  private async initialize(request: FastifyRequest, reply: FastifyReply, message: JsonRpcRequest, principal: Principal): Promise<void> {
    const rt = this.rt;
    rt.metrics.requests.inc({ era: 'legacy', kind: 'initialize' });
    if (header(request, 'mcp-session-id') !== undefined) return void sendError(reply, HttpErrors.SESSION_ID_ON_INITIALIZE, { id: message.id });
    if (rt.state === 'draining' || rt.state === 'stopped') return void sendError(reply, HttpErrors.DRAINING, { id: message.id, headers: { 'retry-after': '1' } });
    const params = initializeParams(message.params);
    if (!params) return void sendError(reply, HttpErrors.INVALID_INITIALIZE, { id: message.id });
    if ((await rt.sessions.count()) >= rt.spec.session.maxSessions) {
      return void sendError(reply, HttpErrors.SESSION_LIMIT, { id: message.id, headers: { 'retry-after': '5' } });
    }

    const sessionId = newSessionId();
    const ctx: Omit<ClientContext, 'signal'> = {
      era: 'legacy',
      protocolVersion: params.protocolVersion,
      session: { id: sessionId, initialize: params },
      principal,
      tenant: rt.tenant,
    };
    const outcome = await new Promise<{ response: JsonRpcResponse; json: string } | undefined>((resolve) => {
      const delivery: Delivery = {
        related: () => {},
        final: (response, json) => resolve({ response, json }),
        abandon: () => resolve(undefined),
      };
      new Exchange(rt.exchangeHost, ctx, message, delivery).start();
    });
    if (!outcome || 'error' in outcome.response) {
      void rt.backend.closeSession(sessionId).catch(() => {});
      if (!outcome) return void sendError(reply, HttpErrors.INTERNAL, { id: message.id });
      return void reply.code(200).header('content-type', 'application/json; charset=utf-8').send(outcome.json);
    }
    const negotiated = outcome.response.result.protocolVersion;
    const now = Date.now();
    const record: SessionRecord = {
      id: sessionId,
      principal: principal.id,
      protocolVersion: typeof negotiated === 'string' && isServedLegacyVersion(negotiated) ? negotiated : isServedLegacyVersion(params.protocolVersion) ? params.protocolVersion : DEFAULT_LEGACY_VERSION,
      initialize: params,
      owner: rt.replicaId,
      createdAt: now,
      lastSeenAt: now,
    };
    try {
      await rt.sessions.create(record);
    } catch (error) {
      void rt.backend.closeSession(sessionId).catch(() => {});
      if (error instanceof SessionLimitError) return void sendError(reply, HttpErrors.SESSION_LIMIT, { id: message.id, headers: { 'retry-after': '5' } });
      rt.logger.error({ err: error }, 'Creating a session record failed');
      return void sendError(reply, HttpErrors.DRAINING, { id: message.id, message: 'Service Unavailable: session storage failed; retry shortly', headers: { 'retry-after': '1' } });
    }
    this.owned.set(sessionId, { lastSeen: now, subscriptions: new Set() });
    rt.logger.info({ session: sessionId, principal: principal.id, protocolVersion: record.protocolVersion, client: params.clientInfo.name }, 'Session created');
    return void reply
      .code(200)
      .header('content-type', 'application/json; charset=utf-8')
      .header('mcp-session-id', sessionId)
      .send(outcome.json);
  }

  private async notification(ctx: Omit<ClientContext, 'signal'>, note: JsonRpcNotification): Promise<void> {
    const sessionId = ctx.session?.id as string;
    if (note.method === 'notifications/cancelled') {
      const requestId = note.params?.requestId;
      if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
      const exchange = this.rt.tracker.find(sessionId, requestId);
      if (exchange) exchange.cancel('cancelled by the client');
      // The exchange may run on another replica (see runsAnywhere).
      else if (this.rt.cluster?.servesAnywhere) this.rt.cluster.signal({ kind: 'cancel', session: sessionId, requestId });
      return;
    }
    try {
      await this.rt.backend.notify({ ...ctx, signal: AbortSignal.timeout(this.rt.exchangeHost.timeoutMs) }, note);
    } catch (error) {
      this.rt.logger.warn({ err: error, session: sessionId, method: note.method }, 'Backend failed to take a notification');
    }
  }

  // ------------------------------------------------- server→client requests

  /** Sends a server→client request on the exchange's stream and waits for the client's answer. */
  send(exchange: Exchange, request: JsonRpcRequest, forward: (message: JsonRpcRequest) => void): Promise<JsonRpcResponse> {
    const session = exchange.session;
    if (!session) return Promise.reject(new Error('no session'));
    const capability = REQUIRED_CAPABILITY[request.method];
    if (capability !== undefined && session.initialize.capabilities[capability] === undefined) {
      return Promise.reject(new Error(`the client did not declare the ${capability} capability`));
    }
    const outId = this.nextClientRequestId++;
    const key = idKey(session.id, outId);
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      const settle = (): void => {
        this.pending.delete(key);
        exchange.clientWaitEnded();
      };
      this.pending.set(key, {
        originalId: request.id,
        resolve: (response) => {
          settle();
          resolve(response);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      exchange.clientWaitStarted();
      exchange.whenDone(() => this.pending.get(key)?.reject(new Error('the exchange ended before the client answered')));
      forward({ ...request, id: outId });
    });
  }

  /** Hands a client's answer to the exchange waiting for it here; false when none waits here. */
  private resolveClientResponse(sessionId: string, response: JsonRpcResponse): boolean {
    const key = idKey(sessionId, response.id as RequestId);
    const pending = this.pending.get(key);
    if (!pending) {
      this.rt.logger.debug({ session: sessionId, id: response.id }, 'Response to a server request not waiting on this replica');
      return false;
    }
    pending.resolve({ ...response, id: pending.originalId } as JsonRpcResponse);
    return true;
  }

  /** Applies another replica's signal to an exchange running here. */
  private onSignal(signal: SessionSignal): void {
    if (signal.kind === 'response') this.resolveClientResponse(signal.session, signal.message);
    else if (signal.kind === 'end') this.endHere(signal.session);
    else this.rt.tracker.find(signal.session, signal.requestId)?.cancel(signal.reason ?? 'cancelled by the client');
  }

  // ---------------------------------------------------------------- GET

  /** Opens the standalone GET stream, or resumes a stream after `Last-Event-ID`. */
  async get(request: FastifyRequest, reply: FastifyReply, principal: Principal): Promise<unknown> {
    const rt = this.rt;
    rt.metrics.requests.inc({ era: 'legacy', kind: 'get' });
    if (rt.state === 'draining' || rt.state === 'stopped') return sendError(reply, HttpErrors.DRAINING, { headers: { 'retry-after': '1' } });
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId === undefined) return sendError(reply, HttpErrors.SESSION_ID_REQUIRED);
    const record = await this.session(sessionId, principal);
    if (!record) return sendError(reply, HttpErrors.SESSION_NOT_FOUND);
    const lastEventId = header(request, 'last-event-id');
    if (lastEventId !== undefined && lastEventId !== '') {
      const ctx: Omit<ClientContext, 'signal'> = { era: 'legacy', protocolVersion: record.protocolVersion, session: sessionOf(record), principal, tenant: rt.tenant };
      return this.resume(reply, sessionId, lastEventId, ctx);
    }

    this.getStreams.get(sessionId)?.end();
    const conn = rt.hub.open(reply, 'get', { 'mcp-session-id': sessionId });
    this.getStreams.set(sessionId, conn);
    let untail: (() => void) | undefined;
    conn.onClose = () => {
      untail?.();
      if (this.getStreams.get(sessionId) === conn) this.getStreams.delete(sessionId);
    };
    let cursor: string;
    try {
      cursor = await rt.events.append(sessionId, GET_STREAM, null);
    } catch (error) {
      rt.logger.error({ err: error, session: sessionId }, 'Event store append failed; closing the GET stream');
      conn.end(RETRY_MS);
      return reply;
    }
    if (conn.closed) return reply;
    if (supportsPrimingEvents(record.protocolVersion)) conn.priming(cursor);
    untail = rt.events.tail(sessionId, GET_STREAM, cursor, (event) => {
      if (event.message) conn.event(event.eventId, JSON.stringify(event.message));
    });
    return reply;
  }

  private async resume(reply: FastifyReply, sessionId: string, lastEventId: string, ctx: Omit<ClientContext, 'signal'>): Promise<unknown> {
    const rt = this.rt;
    const found = await rt.events.after(sessionId, lastEventId);
    if (!found) return sendError(reply, HttpErrors.LAST_EVENT_ID_UNKNOWN);
    const { streamId, events } = found;
    const isGet = streamId === GET_STREAM;
    if (isGet) this.getStreams.get(sessionId)?.end();
    else {
      // The client has given up on the old connection: the resumed one replaces it.
      const live = this.streams.get(streamKey(sessionId, streamId));
      const old = live?.conn;
      if (live && old) {
        live.conn = undefined;
        old.end();
      }
    }
    const conn = rt.hub.open(reply, isGet ? 'get' : 'post', { 'mcp-session-id': sessionId });
    if (isGet) this.getStreams.set(sessionId, conn);
    let last = lastEventId;
    for (const event of events) {
      last = event.eventId;
      if (!event.message) continue;
      conn.event(event.eventId, JSON.stringify(event.message));
      if (!isGet && isResponse(event.message)) {
        conn.end();
        return reply;
      }
    }
    let ended = false;
    let untail: (() => void) | undefined;
    // A call whose owner replica is gone is finished here (re-executed or answered with an error); the tail delivers it.
    const unwatch = isGet ? undefined : rt.cluster?.streamResumed(sessionId, streamId, ctx);
    conn.onClose = () => {
      ended = true;
      untail?.();
      unwatch?.();
      if (isGet && this.getStreams.get(sessionId) === conn) this.getStreams.delete(sessionId);
    };
    untail = rt.events.tail(sessionId, streamId, last, (event) => {
      if (ended || !event.message) return;
      conn.event(event.eventId, JSON.stringify(event.message));
      if (!isGet && isResponse(event.message)) conn.end();
    });
    return reply;
  }

  // ---------------------------------------------------------------- DELETE

  async delete(request: FastifyRequest, reply: FastifyReply, principal: Principal): Promise<unknown> {
    this.rt.metrics.requests.inc({ era: 'legacy', kind: 'delete' });
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId === undefined) return sendError(reply, HttpErrors.SESSION_ID_REQUIRED);
    const record = await this.session(sessionId, principal);
    if (!record) return sendError(reply, HttpErrors.SESSION_NOT_FOUND);
    const routed = await this.routeToOwner(request, reply, sessionId, record);
    if (routed === 'handled') return reply;
    await this.endSession(sessionId);
    this.rt.logger.info({ session: sessionId }, 'Session deleted by the client');
    return reply.code(200).send();
  }

  /** Ends a session everywhere: exchanges and streams on every replica, records, events, backend state. */
  async endSession(sessionId: string): Promise<void> {
    const rt = this.rt;
    this.endHere(sessionId);
    // Its calls may run on other replicas (servesAnywhere): they stop too, not when their tool finishes.
    if (rt.cluster?.servesAnywhere) rt.cluster.signal({ kind: 'end', session: sessionId });
    const results = await Promise.allSettled([rt.sessions.delete(sessionId), rt.events.deleteSession(sessionId), rt.backend.closeSession(sessionId)]);
    for (const r of results) if (r.status === 'rejected') rt.logger.warn({ err: r.reason, session: sessionId }, 'Cleaning up a session failed');
  }

  /** Stops what a session has on this replica: its exchanges, GET stream and resumed streams. */
  private endHere(sessionId: string): void {
    for (const exchange of this.rt.tracker.ofSession(sessionId)) exchange.cancel('session ended');
    this.getStreams.get(sessionId)?.end();
    for (const live of this.streams.values()) if (live.sessionId === sessionId) live.conn?.end();
    this.owned.delete(sessionId);
  }

  // ---------------------------------------------------------------- sessions

  /** The session record if it exists and belongs to `principal`; takes ownership when another replica had it. */
  private async session(sessionId: string, principal: Principal): Promise<SessionRecord | undefined> {
    if (!SESSION_ID_PATTERN.test(sessionId)) return undefined;
    const record = await this.rt.sessions.get(sessionId);
    if (!record || record.principal !== principal.id) return undefined;
    const now = Date.now();
    const owned = this.owned.get(sessionId);
    if (owned) owned.lastSeen = now;
    else if (this.rt.cluster) {
      // With owner routing, ownership changes only through routeToOwner (an atomic claim).
      if (record.owner === this.rt.replicaId) this.owned.set(sessionId, { lastSeen: now, subscriptions: new Set(record.subscriptions ?? []) });
    } else {
      this.owned.set(sessionId, { lastSeen: now, subscriptions: new Set(record.subscriptions ?? []) });
      if (record.owner !== this.rt.replicaId && this.rt.state === 'ready') {
        this.rt.sessions.update(sessionId, { owner: this.rt.replicaId }).catch((error: unknown) => {
          this.rt.logger.warn({ err: error, session: sessionId }, 'Taking over a session failed');
        });
        this.rt.logger.info({ session: sessionId, previousOwner: record.owner }, 'Session taken over');
      }
    }
    return record;
  }

  /**
   * Whether a POST of an existing session runs on this replica although
   * another may own it: the backend keeps nothing per session, the owner is
   * live, and the message needs none of the owner's state. Requests that
   * change session state (subscriptions, log level) and other client
   * notifications still go to the owner.
   */
  private async runsAnywhere(reason: InboundLegacyRoute['reason'], body: unknown, record: SessionRecord): Promise<boolean> {
    const cluster = this.rt.cluster;
    if (!cluster?.servesAnywhere) return false;
    const method = (body as { method?: unknown }).method;
    const anywhere =
      reason === 'response' ||
      (reason === 'no-claim' && typeof method === 'string' && !OWNER_METHODS.has(method)) ||
      (reason === 'notification' && method === 'notifications/cancelled');
    return anywhere && cluster.servesHere(record.owner);
  }

  /**
   * Owner routing (multi-replica deployments with Redis): a POST/DELETE runs on
   * the session's owner — forwarded there when it is another live replica,
   * claimed here when the owner is gone or draining.
   */
  private async routeToOwner(request: FastifyRequest, reply: FastifyReply, sessionId: string, record: SessionRecord): Promise<'local' | 'handled' | 'gone'> {
    const cluster = this.rt.cluster;
    if (!cluster) return 'local';
    // Taken at most once (a forward may be retried, then end up running here after all).
    let handOff: { headers: Record<string, string>; giveBack: () => void } | undefined;
    const outcome = await cluster.routeRequest(request, reply, sessionId, record.owner, () => (handOff ??= this.limitHandOff(request)).headers);
    if (outcome === 'handled' || outcome === 'gone') return outcome;
    handOff?.giveBack();
    if (!this.owned.has(sessionId)) this.owned.set(sessionId, { lastSeen: Date.now(), subscriptions: new Set(record.subscriptions ?? []) });
    return 'local';
  }

  /** The headers that hand this replica's rate-limit decisions over to the session's owner. */
  private limitHandOff(request: FastifyRequest): { headers: Record<string, string>; giveBack: () => void } {
    const tool = toolCallName(request.body);
    const principal = request.principal;
    const decision = tool !== undefined && principal ? this.rt.limiter.handOff?.(principal, tool) : undefined;
    return {
      headers: { [TOOL_DECISION_HEADER]: encodeToolDecision(decision) },
      // The call runs here after all: its decision is this replica's again.
      giveBack: () => {
        if (decision && tool !== undefined && principal) this.rt.limiter.adopt?.(principal, tool, decision);
      },
    };
  }

  /** Appends a change notification to the GET stream of every session this replica owns. */
  private fanOut(event: ServerChangeEvent): void {
    if (this.owned.size === 0) return;
    const note: JsonRpcMessage = changeNotification(event);
    const text = JSON.stringify(note);
    for (const [sessionId, owned] of this.owned) {
      if (event.kind === 'resource_updated' && !owned.subscriptions.has(event.uri)) continue;
      this.rt.events.append(sessionId, GET_STREAM, note, text).catch((error: unknown) => {
        this.rt.logger.warn({ err: error, session: sessionId }, 'Appending a change notification failed');
      });
    }
  }

  /** Forgets idle sessions (their records expire in the store) and keeps listening ones alive. */
  private sweep(): void {
    const rt = this.rt;
    const now = Date.now();
    const idleMs = rt.spec.session.idleTimeoutSeconds * 1000;
    for (const [sessionId, owned] of this.owned) {
      const listening = this.getStreams.has(sessionId);
      if (listening) {
        if (now - owned.lastSeen > idleMs / 2) {
          owned.lastSeen = now;
          rt.sessions.get(sessionId).catch(() => undefined);
        }
        continue;
      }
      if (now - owned.lastSeen <= idleMs || rt.tracker.ofSession(sessionId).length > 0) continue;
      if (rt.cluster?.servesAnywhere) {
        // Other replicas serve this session's requests without a word to the owner: the record, whose
        // TTL every replica's reads slide, says whether the session is idle.
        owned.lastSeen = now;
        rt.sessions.exists(sessionId).then(
          (live) => {
            if (live || this.owned.get(sessionId) !== owned) return;
            this.owned.delete(sessionId);
            rt.backend.closeSession(sessionId).catch((error: unknown) => rt.logger.warn({ err: error, session: sessionId }, 'Closing an idle session failed'));
          },
          () => {},
        );
        continue;
      }
      this.owned.delete(sessionId);
      rt.backend.closeSession(sessionId).catch((error: unknown) => rt.logger.warn({ err: error, session: sessionId }, 'Closing an idle session failed'));
    }
  }

  // ------------------------------------------------------------ delivery support

  register(live: LiveStream): void {
    this.streams.set(streamKey(live.sessionId, live.streamId), live);
  }

  unregister(live: LiveStream): void {
    const key = streamKey(live.sessionId, live.streamId);
    if (this.streams.get(key) === live) this.streams.delete(key);
  }

  get context(): RuntimeContext {
    return this.rt;
  }
}

/**
 * Delivery of one legacy exchange. Every message of an SSE stream is appended
 * to the EventStore (ids encode session and stream) in order, then written to
 * the connection if it is still attached. Requests answer with JSON unless
 * something related comes first; STREAM_FIRST requests answer SSE when they
 * outlast STREAM_OPEN_DELAY_MS or their result is large (see
 * WHOLE_JSON_MAX_BYTES), in one write when the result came within the delay.
 */
class LegacyDelivery implements Delivery {
  private readonly layer: LegacySessions;
  private readonly reply: FastifyReply;
  private readonly sessionId: string;
  private readonly version: string;
  private readonly beforeFinal: ((response: JsonRpcResponse) => Promise<void>) | undefined;
  private live: LiveStream | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Set while a STREAM_FIRST request waits for its stream to open. */
  private openTimer: NodeJS.Timeout | undefined;
  private pendingCall: JsonRpcRequest | undefined;

  constructor(
    layer: LegacySessions,
    reply: FastifyReply,
    sessionId: string,
    version: string,
    beforeFinal: ((response: JsonRpcResponse) => Promise<void>) | undefined,
  ) {
    this.layer = layer;
    this.reply = reply;
    this.sessionId = sessionId;
    this.version = version;
    this.beforeFinal = beforeFinal;
  }

  /** A STREAM_FIRST request: the stream opens at the first related message or after STREAM_OPEN_DELAY_MS. */
  openSoon(request: JsonRpcRequest): void {
    if (request.method === 'tools/call') this.pendingCall = request;
    this.openTimer = setTimeout(() => this.openNow(), STREAM_OPEN_DELAY_MS);
  }

  /** Opens the deferred stream now, recording a streaming tools/call for failover. */
  private openNow(): void {
    if (this.openTimer === undefined) return;
    clearTimeout(this.openTimer);
    this.openTimer = undefined;
    this.open();
    const call = this.pendingCall;
    this.pendingCall = undefined;
    if (call) this.trackCall(call);
  }

  /** Switches the reply to an SSE stream (priming event first for clients that understand it). */
  open(): void {
    if (this.live || this.reply.raw.destroyed) return;
    const rt = this.layer.context;
    const conn = rt.hub.open(this.reply, 'post', { 'mcp-session-id': this.sessionId });
    const live: LiveStream = { sessionId: this.sessionId, streamId: newStreamId(), conn };
    this.live = live;
    this.layer.register(live);
    // A dropped connection is not a cancellation: the exchange goes on, and the client resumes with Last-Event-ID.
    conn.onClose = () => {
      if (live.conn === conn) live.conn = undefined;
    };
    if (supportsPrimingEvents(this.version)) this.enqueue(null, '');
  }

  /** Records a streaming tools/call so another replica can finish it if this one is lost (before the final append). */
  trackCall(request: JsonRpcRequest): void {
    const live = this.live;
    const cluster = this.layer.context.cluster;
    if (!live || !cluster) return;
    const started = cluster.callStarted(live.sessionId, live.streamId, request).catch((error: unknown) => {
      this.layer.context.logger.warn({ err: error, session: live.sessionId }, 'Recording an in-flight call failed');
    });
    this.chain = this.chain.then(() => started);
  }

  related(message: JsonRpcNotification | JsonRpcRequest): void {
    this.openNow();
    this.open();
    if (this.live) this.enqueue(message, JSON.stringify(message));
  }

  final(response: JsonRpcResponse, json: string): void {
    if (this.openTimer !== undefined) {
      clearTimeout(this.openTimer);
      this.openTimer = undefined;
      this.pendingCall = undefined;
      // Small: falls through to the JSON answer below (no stream is live).
      if (json.length * 3 > WHOLE_JSON_MAX_BYTES && Buffer.byteLength(json) > WHOLE_JSON_MAX_BYTES) {
        this.sendWhole(response, json);
        return;
      }
    }
    const before = this.beforeFinal;
    if (before) {
      this.chain = this.chain.then(() =>
        before(response).catch((error: unknown) => this.layer.context.logger.warn({ err: error, session: this.sessionId }, 'Updating the session failed')),
      );
    }
    const live = this.live;
    if (!live) {
      const send = (): void => {
        if (this.reply.raw.destroyed) return;
        this.reply.code(200).header('content-type', 'application/json; charset=utf-8').header('mcp-session-id', this.sessionId).send(json);
      };
      if (before) void this.chain.then(send);
      else send();
      return;
    }
    this.enqueue(response, json);
    this.chain = this.chain.then(() => this.close(live));
  }

  abandon(): void {
    this.openNow();
    this.open();
    const live = this.live;
    if (live) this.chain = this.chain.then(() => this.close(live));
  }

  /**
   * The result came before the stream opened: the stream's events (priming,
   * result) are stored as usual and sent as one SSE response. A client that
   * has already gone never saw an event id, so nothing is stored for it.
   */
  private sendWhole(response: JsonRpcResponse, json: string): void {
    const before = this.beforeFinal;
    if (before) {
      this.chain = this.chain.then(() =>
        before(response).catch((error: unknown) => this.layer.context.logger.warn({ err: error, session: this.sessionId }, 'Updating the session failed')),
      );
    }
    if (this.reply.raw.destroyed) return;
    const rt = this.layer.context;
    const priming = supportsPrimingEvents(this.version);
    // One store round trip for the whole stream; a failure delivers the result without resumability.
    const stored = rt.events.appendNew(this.sessionId, newStreamId(), priming ? [null, response] : [response], priming ? [undefined, json] : [json]).catch((error: unknown) => {
      rt.logger.warn({ err: error, session: this.sessionId }, 'Event store append failed; delivering without resumability');
      return undefined;
    });
    this.chain = this.chain.then(async () => {
      const ids = await stored;
      if (this.reply.raw.destroyed) return;
      const body = ids === undefined ? eventFrame(undefined, json) : priming ? primingFrame(ids[0]!) + eventFrame(ids[1], json) : eventFrame(ids[0], json);
      this.reply.code(200).headers(SSE_HEADERS).header('mcp-session-id', this.sessionId).send(body);
    });
  }

  private close(live: LiveStream): void {
    this.layer.unregister(live);
    live.conn?.end();
    live.conn = undefined;
  }

  private enqueue(message: JsonRpcMessage | null, json: string): void {
    const live = this.live as LiveStream;
    const rt = this.layer.context;
    this.chain = this.chain.then(async () => {
      let eventId: string | undefined;
      try {
        eventId = await rt.events.append(live.sessionId, live.streamId, message, json);
      } catch (error) {
        rt.logger.warn({ err: error, session: live.sessionId }, 'Event store append failed; delivering without resumability');
      }
      const conn = live.conn;
      if (!conn) return;
      if (message === null) {
        if (eventId !== undefined) conn.priming(eventId);
      } else conn.event(eventId, json);
    });
  }
}

