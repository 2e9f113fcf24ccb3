/**
 * A 2025-era upstream session that Berth establishes itself (its own client
 * capabilities) and shares among clients. Related messages come back on each
 * POST's SSE stream, so they are routed to exactly the request they belong
 * to; unsolicited ones (list changes, resource updates) come on the session's
 * GET stream. When the upstream forgets the session (404), Berth
 * re-initializes once and retries the request.
 */
import type { Logger } from 'pino';
import type { JsonRpcErrorObject, JsonRpcNotification } from '../../protocol/jsonrpc.ts';
import { BERTH_CLIENT_CAPABILITIES, BERTH_CLIENT_INFO } from '../bridge/capabilities.ts';
import { asInitializeResult, type InitializeResultLike } from '../bridge/discover.ts';
import { isLegacyVersion } from '../bridge/envelope.ts';
import { LATEST_LEGACY_PROTOCOL_VERSION } from '../../protocol/meta-keys.ts';
import { PeerFailure, type LegacyPeer, type PeerExchangeHooks, type PeerReply } from '../bridge/peer.ts';
import { headerValue, type UpstreamHttp, type UpstreamMessage, type UpstreamResponse } from './http.ts';

export interface LegacyUpstreamOptions {
  http: UpstreamHttp;
  logger: Logger;
  /** Notifications not tied to a request (list changes, resource updates). */
  onUnsolicited(n: JsonRpcNotification): void;
  /** A new upstream session was established (re-apply session state such as subscriptions). */
  onSession?(): void;
  /** Each exchange's transport outcome (undefined: the upstream answered), for readiness. */
  onOutcome?(err?: unknown): void;
}

class SessionGone extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The reply for request `id` in a JSON body (single message or batch). */
function replyIn(json: unknown, id: number): PeerReply | undefined {
  const list = Array.isArray(json) ? json : [json];
  for (const m of list) {
    if (isObj(m) && m.id === id && !('method' in m)) return toReply(m);
  }
  return undefined;
}

function toReply(m: Record<string, unknown>): PeerReply {
  if (isObj(m.error)) return { error: m.error as unknown as JsonRpcErrorObject };
  return { result: isObj(m.result) ? m.result : {} };
}

/** A JSON-RPC error carried by an HTTP error response, if any. */
function errorIn(res: UpstreamResponse): JsonRpcErrorObject | undefined {
  const j = res.json;
  if (isObj(j) && isObj(j.error) && typeof j.error.code === 'number') return j.error as unknown as JsonRpcErrorObject;
  return undefined;
}

/**
 * Whether the upstream no longer knows Berth's session: 404 per the spec;
 * SDK v1 servers answer 400 "No valid session ID provided" instead.
 */
function sessionLost(res: UpstreamResponse): boolean {
  if (res.status === 404) return true;
  return res.status === 400 && /session/i.test(errorIn(res)?.message ?? res.text ?? '');
}

export class LegacyUpstream implements LegacyPeer {
  readonly #o: LegacyUpstreamOptions;
  readonly #log: Logger;
  #init: InitializeResultLike | undefined;
  #sessionId: string | undefined;
  #protocolVersion = LATEST_LEGACY_PROTOCOL_VERSION;
  #connecting: Promise<void> | undefined;
  #nextId = 0;
  #generation = 0;
  #listener: AbortController | undefined;
  #closed = false;
  /** Set when the upstream refused the 2025-era handshake (a modern-only server). */
  refused: string | undefined;
  lastError: string | undefined;

  constructor(opts: LegacyUpstreamOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ upstream: 'legacy' });
  }

  get init(): InitializeResultLike {
    if (!this.#init) throw new PeerFailure('unavailable', 'the upstream session is not established');
    return this.#init;
  }

  get connected(): boolean {
    return this.#init !== undefined;
  }

  /** Establishes the upstream session if there is none (concurrent callers share one attempt). */
  ensure(): Promise<void> {
    if (this.#closed) return Promise.reject(new PeerFailure('unavailable', 'the server is shutting down'));
    if (this.#init) return Promise.resolve();
    this.#connecting ??= this.#initialize().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async call(method: string, params: Record<string, unknown> | undefined, hooks: PeerExchangeHooks, signal?: AbortSignal): Promise<PeerReply> {
    try {
      const reply = await this.#call(method, params, hooks, signal);
      this.#o.onOutcome?.();
      return reply;
    } catch (err) {
      this.#o.onOutcome?.(err);
      throw err;
    }
  }

  async #call(method: string, params: Record<string, unknown> | undefined, hooks: PeerExchangeHooks, signal?: AbortSignal): Promise<PeerReply> {
    await this.ensure();
    const sid = this.#sessionId;
    try {
      return await this.#exchange(method, params, hooks, signal);
    } catch (err) {
      if (!(err instanceof SessionGone)) throw err;
      this.#log.info({ session: sid }, 'The upstream forgot the session; re-initializing');
      this.#forget(sid);
      await this.ensure();
      try {
        return await this.#exchange(method, params, hooks, signal);
      } catch (again) {
        if (again instanceof SessionGone) throw new PeerFailure('unavailable', 'the upstream server keeps losing its session; retrying may help');
        throw again;
      }
    }
  }

  notify(method: string, params: Record<string, unknown> | undefined): void {
    if (!this.#init) return;
    this.#postNotification(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /** Ends the upstream session (DELETE) and stops listening. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listener?.abort();
    if (this.#sessionId) await this.#o.http.delete(this.#headers());
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = { 'mcp-protocol-version': this.#protocolVersion };
    if (this.#sessionId) h['mcp-session-id'] = this.#sessionId;
    return h;
  }

  #forget(sid: string | undefined): void {
    if (this.#sessionId !== sid) return;
    this.#init = undefined;
    this.#sessionId = undefined;
    this.#generation++;
    this.#listener?.abort();
  }

  async #initialize(): Promise<void> {
    const id = ++this.#nextId;
    const params = { protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION, capabilities: BERTH_CLIENT_CAPABILITIES, clientInfo: BERTH_CLIENT_INFO };
    let res: UpstreamResponse;
    try {
      res = await this.#o.http.post({ jsonrpc: '2.0', id, method: 'initialize', params }, {});
    } catch (err) {
      this.lastError = (err as Error).message;
      throw err;
    }
    let reply: PeerReply | undefined;
    if (res.json !== undefined) reply = replyIn(res.json, id);
    else if (res.stream) {
      for await (const m of res.stream) {
        if (isObj(m.message) && m.message.id === id && !('method' in m.message)) {
          reply = toReply(m.message);
          break;
        }
      }
    }
    if (res.status >= 400 || !reply || 'error' in reply) {
      const why = reply && 'error' in reply ? reply.error.message : (errorIn(res)?.message ?? `HTTP ${res.status}`);
      if (res.status === 401 || res.status === 403) {
        this.lastError = `the upstream server refused Berth's credentials (HTTP ${res.status})`;
        throw new PeerFailure('unavailable', this.lastError);
      }
      if (res.status >= 500) {
        this.lastError = `the upstream server failed (HTTP ${res.status})`;
        throw new PeerFailure('unavailable', `${this.lastError}; retrying may help`);
      }
      this.refused = `the upstream server refused the 2025-era handshake: ${why}`;
      throw new PeerFailure('protocol', this.refused);
    }
    const init = asInitializeResult(reply.result);
    if (!init || !isLegacyVersion(init.protocolVersion)) throw new PeerFailure('protocol', 'the upstream server answered initialize with an invalid result');
    this.#protocolVersion = init.protocolVersion;
    this.#sessionId = headerValue(res.headers, 'mcp-session-id');
    this.#init = init;
    this.refused = undefined;
    this.lastError = undefined;
    this.#postNotification({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.#log.info({ session: this.#sessionId, protocolVersion: init.protocolVersion, server: init.serverInfo.name }, 'Established the upstream session');
    const gen = ++this.#generation;
    if (this.#sessionId) void this.#listen(gen);
    this.#o.onSession?.();
  }

  async #exchange(method: string, params: Record<string, unknown> | undefined, hooks: PeerExchangeHooks, signal?: AbortSignal): Promise<PeerReply> {
    const id = ++this.#nextId;
    const onAbort = () => this.#postNotification({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'cancelled by the client' } });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await this.#o.http.post(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }, this.#headers(), signal);
      if (this.#sessionId && sessionLost(res)) throw new SessionGone();
      if (res.status >= 400) {
        const e = errorIn(res);
        if (e && res.status < 500) return { error: e };
        throw new PeerFailure('unavailable', `the upstream server answered HTTP ${res.status}; the call was not completed; retrying may help`);
      }
      if (res.json !== undefined) {
        const reply = replyIn(res.json, id);
        if (reply) return reply;
        throw new PeerFailure('protocol', 'the upstream server answered without a response to the request');
      }
      if (res.stream) {
        let lastEventId: string | undefined;
        try {
          for await (const m of res.stream) {
            if (m.eventId !== undefined) lastEventId = m.eventId;
            const reply = this.#route(m, hooks, id);
            if (reply) return reply;
          }
        } catch (err) {
          if (signal?.aborted || lastEventId === undefined) throw err;
        }
        // The upstream closed the response stream early (draining, SSE polling, a dropped connection): resume it.
        const resumed = lastEventId !== undefined && this.#sessionId ? await this.#resume(lastEventId, hooks, id, signal) : undefined;
        if (resumed) return resumed;
        throw new PeerFailure('unavailable', 'the upstream server closed the stream before answering; the call may not have completed; retrying may help');
      }
      throw new PeerFailure('protocol', `the upstream server answered HTTP ${res.status} without a JSON-RPC response`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Resumes a response stream with Last-Event-ID. Some servers deliver only
   * stored events on a resumed stream, so it reconnects (short idle
   * timeouts) until the reply arrives or nothing new came for the request
   * timeout. Returns the reply, or undefined.
   */
  async #resume(lastEventId: string, hooks: PeerExchangeHooks, id: number, signal?: AbortSignal): Promise<PeerReply | undefined> {
    let cursor = lastEventId;
    let lastProgress = Date.now();
    const budget = this.#o.http.timeoutMs;
    for (let attempt = 0; !signal?.aborted && Date.now() - lastProgress < budget; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)).unref());
      let res: UpstreamResponse;
      try {
        this.#log.debug({ attempt, lastEventId: cursor }, 'Resuming an upstream response stream');
        res = await this.#o.http.get({ ...this.#headers(), 'last-event-id': cursor }, signal, { resumeIdleMs: Math.min(budget, 2000) });
      } catch (err) {
        this.#log.debug({ err: (err as Error).message }, 'Resuming an upstream response stream failed');
        continue;
      }
      if (!res.stream) {
        if (res.status >= 400 && res.status < 500) return undefined;
        continue;
      }
      try {
        for await (const m of res.stream) {
          if (m.eventId !== undefined && m.eventId !== cursor) {
            cursor = m.eventId;
            lastProgress = Date.now();
          }
          const reply = this.#route(m, hooks, id);
          if (reply) return reply;
        }
      } catch (err) {
        if (signal?.aborted) throw err;
        this.#log.debug({ err: (err as Error).message }, 'A resumed upstream stream broke');
      }
    }
    return undefined;
  }

  /** Routes one message of a POST stream; returns the reply when it is the response. */
  #route(m: UpstreamMessage, hooks: PeerExchangeHooks, id: number): PeerReply | undefined {
    const msg = m.message;
    if (!isObj(msg)) return undefined;
    const method = msg.method;
    if (typeof method !== 'string') return msg.id === id ? toReply(msg) : undefined;
    const params = isObj(msg.params) ? msg.params : undefined;
    if (msg.id !== undefined && msg.id !== null) {
      const rid = msg.id as string | number;
      const answer = method === 'ping' ? Promise.resolve<PeerReply>({ result: {} }) : hooks.request(method, params);
      answer.then(
        (reply) => this.#postResponse(rid, reply),
        (err: unknown) => this.#postResponse(rid, { error: { code: -32603, message: String((err as Error)?.message ?? err) } }),
      );
      return undefined;
    }
    const n: JsonRpcNotification = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
    if (method.endsWith('/list_changed') || method === 'notifications/resources/updated') this.#o.onUnsolicited(n);
    else hooks.notification(n);
    return undefined;
  }

  #postResponse(id: string | number, reply: PeerReply): void {
    void this.#o.http
      .post('result' in reply ? { jsonrpc: '2.0', id, result: reply.result } : { jsonrpc: '2.0', id, error: reply.error }, this.#headers())
      .then(async (r) => {
        if (r.stream) for await (const _ of r.stream) break;
      })
      .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'Could not deliver a client answer to the upstream'));
  }

  #postNotification(n: JsonRpcNotification): void {
    void this.#o.http
      .post(n, this.#headers())
      .then(async (r) => {
        if (r.stream) for await (const _ of r.stream) break;
      })
      .catch((err: unknown) => this.#log.debug({ err: (err as Error).message, method: n.method }, 'Could not deliver a notification to the upstream'));
  }

  /** The session's GET stream: unsolicited messages, resumed with Last-Event-ID. */
  async #listen(gen: number): Promise<void> {
    const controller = new AbortController();
    this.#listener = controller;
    let lastEventId: string | undefined;
    let backoff = 250;
    while (!this.#closed && gen === this.#generation) {
      try {
        const h = this.#headers();
        if (lastEventId !== undefined) h['last-event-id'] = lastEventId;
        const res = await this.#o.http.get(h, controller.signal);
        if (res.status === 405) return;
        if (sessionLost(res)) {
          this.#log.info({ session: this.#sessionId }, 'The upstream forgot the session; it is re-established on the next request');
          this.#forget(this.#sessionId);
          return;
        }
        if (res.stream) {
          backoff = 250;
          for await (const m of res.stream) {
            if (m.eventId !== undefined) lastEventId = m.eventId;
            this.#onListenMessage(m.message);
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, backoff).unref());
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  #onListenMessage(msg: unknown): void {
    if (!isObj(msg) || typeof msg.method !== 'string') return;
    const params = isObj(msg.params) ? msg.params : undefined;
    if (msg.id !== undefined && msg.id !== null) {
      // A request outside any client request (ping, roots): nobody to ask.
      const rid = msg.id as string | number;
      this.#postResponse(rid, msg.method === 'ping' ? { result: {} } : { error: { code: -32603, message: `${msg.method} can only be relayed while a client request is in flight` } });
      return;
    }
    const n: JsonRpcNotification = params === undefined ? { jsonrpc: '2.0', method: msg.method } : { jsonrpc: '2.0', method: msg.method, params };
    this.#o.onUnsolicited(n);
  }
}
