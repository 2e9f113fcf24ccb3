/**
 * One client connection over a message channel (stdio, or in-process): runs
 * the era logic the HTTP layer runs per request, for a single peer.
 *
 * - A 2025-era client initializes once; the connection is then one legacy
 *   session (its log level and subscriptions live in the Backend).
 * - A 2026-07-28 client sends the `_meta` envelope on every request; each is
 *   served on its own. `subscriptions/listen` opens a change stream on the
 *   connection, as the SDK's stdio server does.
 *
 * Every request is dispatched through the Backend concurrently; responses
 * are written when ready.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCode, errorResponse, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../../protocol/jsonrpc.ts';
import type { Backend, ClientContext, ExchangeSink, InitializeParams, Principal, ServerChangeEvent } from '../types.ts';
import { isLegacyVersion, isModernVersion } from './envelope.ts';
import { DictMap } from '../../small-collections.ts';
import { MODERN_PROTOCOL_VERSION, PROTOCOL_VERSION_META_KEY, SUBSCRIPTION_ID_META_KEY } from '../../protocol/meta-keys.ts';

export interface ClientConnectionOptions {
  backend: Backend;
  /** Writes one message to the client. */
  send(message: JsonRpcMessage): void;
  principal: Principal;
  tenant: string;
  logger: Logger;
}

interface Subscription {
  id: RequestId;
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  resources: Set<string>;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function claimedVersion(params: unknown): string | undefined {
  if (!isObj(params) || !isObj(params._meta)) return undefined;
  const v = params._meta[PROTOCOL_VERSION_META_KEY];
  return typeof v === 'string' ? v : undefined;
}

export class ClientConnection {
  readonly #o: ClientConnectionOptions;
  #session: { id: string; initialize: InitializeParams; protocolVersion: string } | undefined;
  #initializing: Promise<unknown> | undefined;
  // DictMaps: a long-lived connection's entries come and go per request (see small-collections.ts).
  // Keyed by the request id itself: a numeric id is an element, while a
  // string key per request would be a new internalized string in the old
  // generation each time (DictMap keeps 1 and "1" apart).
  readonly #inflight = new DictMap<RequestId, AbortController>();
  readonly #pendingToClient = new DictMap<string, { resolve: (r: JsonRpcResponse) => void; reject: (e: Error) => void }>();
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #legacyResources = new Set<string>();
  readonly #unsubscribe: () => void;
  #seq = 0;
  #closed = false;
  #active = 0;
  #idle: Array<() => void> = [];

  constructor(opts: ClientConnectionOptions) {
    this.#o = opts;
    this.#unsubscribe = opts.backend.onChange((ev) => this.#onChange(ev));
  }

  /** The legacy session id, once the client has initialized. */
  get sessionId(): string | undefined {
    return this.#session?.id;
  }

  /** Handles one message from the client (already parsed JSON, or a parse failure as `undefined`). */
  receive(message: unknown): void {
    if (this.#closed) return;
    if (Array.isArray(message)) {
      this.#o.send(errorResponse(null, ErrorCode.InvalidRequest, 'batches are not supported'));
      return;
    }
    if (!isObj(message) || message.jsonrpc !== '2.0') {
      this.#o.send(errorResponse(null, ErrorCode.InvalidRequest, 'not a JSON-RPC 2.0 message'));
      return;
    }
    const method = message.method;
    const id = message.id;
    if (typeof method === 'string') {
      if (message.params !== undefined && !isObj(message.params)) {
        if (id !== undefined && id !== null) this.#o.send(errorResponse(id as RequestId, ErrorCode.InvalidParams, 'params must be an object'));
        return;
      }
      if (typeof id === 'string' || typeof id === 'number') void this.#onRequest(message as unknown as JsonRpcRequest);
      else if (id === undefined) void this.#onNotification(message as unknown as JsonRpcNotification);
      else this.#o.send(errorResponse(null, ErrorCode.InvalidRequest, 'id must be a string or a number'));
      return;
    }
    if (typeof id === 'string' || typeof id === 'number') {
      const p = this.#pendingToClient.get(String(id));
      if (p) {
        this.#pendingToClient.delete(String(id));
        p.resolve(message as unknown as JsonRpcResponse);
      }
    }
  }

  /** The parse-error reply for a line that is not JSON. */
  parseError(): void {
    this.#o.send(errorResponse(null, ErrorCode.ParseError, 'parse error'));
  }

  /** Ends the connection: waits for in-flight requests until `deadline`, then releases the session. */
  async close(deadline: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const sub of this.#subscriptions.values()) {
      this.#o.send({ jsonrpc: '2.0', id: sub.id, result: { _meta: { [SUBSCRIPTION_ID_META_KEY]: sub.id } } });
    }
    this.#subscriptions.clear();
    if (this.#active > 0) {
      await Promise.race([new Promise<void>((r) => this.#idle.push(r)), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
    }
    for (const c of this.#inflight.values()) c.abort(new Error('the connection closed'));
    for (const p of this.#pendingToClient.values()) p.reject(new Error('the connection closed'));
    this.#pendingToClient.clear();
    if (this.#session) await this.#o.backend.closeSession(this.#session.id).catch(() => undefined);
  }

  async #onRequest(req: JsonRpcRequest): Promise<void> {
    this.#active++;
    try {
      const res = await this.#serve(req);
      if (res) this.#o.send(res);
    } catch (err) {
      this.#o.logger.error({ err, method: req.method }, 'Failed to serve a request');
      this.#o.send(errorResponse(req.id, ErrorCode.InternalError, 'internal error'));
    } finally {
      if (--this.#active === 0) {
        const w = this.#idle;
        this.#idle = [];
        for (const r of w) r();
      }
    }
  }

  async #serve(req: JsonRpcRequest): Promise<JsonRpcResponse | undefined> {
    const claim = claimedVersion(req.params);
    if (claim !== undefined) {
      if (!isModernVersion(claim) || claim !== MODERN_PROTOCOL_VERSION) {
        return errorResponse(req.id, -32022, `Unsupported protocol version: ${claim}`, { supported: [MODERN_PROTOCOL_VERSION], requested: claim });
      }
      if (req.method === 'subscriptions/listen') return this.#listen(req);
      return this.#dispatch(req, { era: 'modern', protocolVersion: claim });
    }
    if (req.method === 'initialize') return this.#initialize(req);
    if (this.#initializing) await this.#initializing.catch(() => undefined);
    const s = this.#session;
    if (!s) return errorResponse(req.id, ErrorCode.InvalidRequest, 'the connection is not initialized: send initialize first, or the 2026-07-28 _meta envelope on every request');
    const res = await this.#dispatch(req, { era: 'legacy', protocolVersion: s.protocolVersion, session: { id: s.id, initialize: s.initialize } });
    if ('result' in res && (req.method === 'resources/subscribe' || req.method === 'resources/unsubscribe')) {
      const uri = req.params?.uri;
      if (typeof uri === 'string') {
        if (req.method === 'resources/subscribe') this.#legacyResources.add(uri);
        else this.#legacyResources.delete(uri);
      }
    }
    return res;
  }

  async #initialize(req: JsonRpcRequest): Promise<JsonRpcResponse> {
    if (this.#session || this.#initializing) return errorResponse(req.id, ErrorCode.InvalidRequest, 'the connection is already initialized');
    const p = req.params ?? {};
    const initialize: InitializeParams = {
      ...p,
      protocolVersion: typeof p.protocolVersion === 'string' ? p.protocolVersion : '2025-03-26',
      capabilities: isObj(p.capabilities) ? p.capabilities : {},
      clientInfo: isObj(p.clientInfo) && typeof p.clientInfo.name === 'string' ? (p.clientInfo as InitializeParams['clientInfo']) : { name: 'unknown', version: '0' },
    };
    const id = randomBytes(16).toString('hex');
    const requested = isLegacyVersion(initialize.protocolVersion) ? initialize.protocolVersion : '2025-11-25';
    let done!: () => void;
    this.#initializing = new Promise<void>((r) => (done = r));
    try {
      const res = await this.#dispatch(req, { era: 'legacy', protocolVersion: requested, session: { id, initialize } });
      if ('result' in res) {
        const pv = res.result.protocolVersion;
        this.#session = { id, initialize, protocolVersion: typeof pv === 'string' ? pv : requested };
      }
      return res;
    } finally {
      done();
      this.#initializing = undefined;
    }
  }

  async #dispatch(req: JsonRpcRequest, era: Pick<ClientContext, 'era' | 'protocolVersion' | 'session'>): Promise<JsonRpcResponse> {
    const controller = new AbortController();
    this.#inflight.set(req.id, controller);
    const ctx: ClientContext = { ...era, principal: this.#o.principal, tenant: this.#o.tenant, signal: controller.signal };
    const sink: ExchangeSink = {
      notification: (n) => {
        if (!this.#closed) this.#o.send(n);
      },
      request: (m) => this.#askClient(ctx, m),
    };
    try {
      return await this.#o.backend.handle(ctx, req, sink);
    } finally {
      if (this.#inflight.get(req.id) === controller) this.#inflight.delete(req.id);
    }
  }

  #askClient(ctx: ClientContext, m: JsonRpcRequest): Promise<JsonRpcResponse> {
    if (this.#closed) return Promise.reject(new Error('the connection closed'));
    if (ctx.era === 'modern') return Promise.reject(new Error('protocol revision 2026-07-28 carries client input in input_required results, not server-to-client requests'));
    const id = `s${++this.#seq}`;
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      this.#pendingToClient.set(id, {
        resolve: (r) => resolve({ ...r, id: m.id } as JsonRpcResponse),
        reject,
      });
      this.#o.send({ ...m, id });
    });
  }

  async #onNotification(n: JsonRpcNotification): Promise<void> {
    if (n.method === 'notifications/cancelled') {
      const rid = n.params?.requestId;
      if (typeof rid === 'string' || typeof rid === 'number') {
        const sub = this.#subscriptions.get(`${typeof rid}:${rid}`);
        if (sub) {
          this.#subscriptions.delete(`${typeof rid}:${rid}`);
          return;
        }
        const reason = typeof n.params?.reason === 'string' ? n.params.reason : 'cancelled by the client';
        this.#inflight.get(rid)?.abort(new Error(reason));
      }
      return;
    }
    const claim = claimedVersion(n.params);
    const s = this.#session;
    const ctx: ClientContext =
      claim !== undefined || !s
        ? { era: 'modern', protocolVersion: claim ?? MODERN_PROTOCOL_VERSION, principal: this.#o.principal, tenant: this.#o.tenant, signal: new AbortController().signal }
        : { era: 'legacy', protocolVersion: s.protocolVersion, session: { id: s.id, initialize: s.initialize }, principal: this.#o.principal, tenant: this.#o.tenant, signal: new AbortController().signal };
    await this.#o.backend.notify(ctx, n).catch((err: unknown) => this.#o.logger.warn({ err, method: n.method }, 'A client notification failed'));
  }

  #listen(req: JsonRpcRequest): undefined {
    const f = isObj(req.params?.notifications) ? req.params.notifications : {};
    const resources = Array.isArray(f.resourceSubscriptions) ? f.resourceSubscriptions.filter((u): u is string => typeof u === 'string') : [];
    const sub: Subscription = {
      id: req.id,
      toolsListChanged: f.toolsListChanged === true,
      promptsListChanged: f.promptsListChanged === true,
      resourcesListChanged: f.resourcesListChanged === true,
      resources: new Set(resources),
    };
    this.#subscriptions.set(`${typeof req.id}:${req.id}`, sub);
    const ack: Record<string, unknown> = {};
    if (sub.toolsListChanged) ack.toolsListChanged = true;
    if (sub.promptsListChanged) ack.promptsListChanged = true;
    if (sub.resourcesListChanged) ack.resourcesListChanged = true;
    if (resources.length) ack.resourceSubscriptions = resources;
    this.#o.send({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: ack, _meta: { [SUBSCRIPTION_ID_META_KEY]: req.id } } });
    return undefined;
  }

  #onChange(ev: ServerChangeEvent): void {
    if (this.#closed) return;
    const method =
      ev.kind === 'tools_list_changed'
        ? 'notifications/tools/list_changed'
        : ev.kind === 'prompts_list_changed'
          ? 'notifications/prompts/list_changed'
          : ev.kind === 'resources_list_changed'
            ? 'notifications/resources/list_changed'
            : 'notifications/resources/updated';
    for (const sub of this.#subscriptions.values()) {
      const wanted =
        ev.kind === 'tools_list_changed'
          ? sub.toolsListChanged
          : ev.kind === 'prompts_list_changed'
            ? sub.promptsListChanged
            : ev.kind === 'resources_list_changed'
              ? sub.resourcesListChanged
              : sub.resources.has(ev.uri);
      if (!wanted) continue;
      const params: Record<string, unknown> = { _meta: { [SUBSCRIPTION_ID_META_KEY]: sub.id } };
      if (ev.kind === 'resource_updated') params.uri = ev.uri;
      this.#o.send({ jsonrpc: '2.0', method, params });
    }
    if (this.#session) {
      if (ev.kind === 'resource_updated') {
        if (this.#legacyResources.has(ev.uri)) this.#o.send({ jsonrpc: '2.0', method, params: { uri: ev.uri } });
      } else {
        this.#o.send({ jsonrpc: '2.0', method });
      }
    }
  }
}
