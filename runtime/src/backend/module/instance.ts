/**
 * One pooled server instance: a factory product served by the SDK's
 * `serveStdio` entry over an in-process wire, pinned to one protocol era.
 * It serves one exchange at a time (the pool guarantees exclusivity), under
 * ids Berth allocates, so colliding client ids never meet inside an instance.
 */
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import type { TransportSendOptions } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import {
  ErrorCode,
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '../../protocol/jsonrpc.ts';
import type { ClientContext, Era, ExchangeSink, ServerChangeEvent } from '../types.ts';
import type { BerthModuleContext, BerthServerFactory, CurrentExchange } from './context.ts';
import { divertChangeNotifications, lowLevelServer, seedModernClientIdentity } from './sdk-compat.ts';
import { instrumentToolErrors } from './tool-errors.ts';
import { InProcessWire } from './wire.ts';
import { SmallMap } from '../../small-collections.ts';
import { toChangeEvent } from '../bridge/change-events.ts';

/** JSON-RPC code for an exchange answered because it was cancelled (LSP convention). */
export const REQUEST_CANCELLED = -32800;

export interface InstanceDeps {
  id: number;
  era: Era;
  factory: BerthServerFactory;
  /** Shared parts of the module context; `current` is added per instance. */
  shared: Omit<BerthModuleContext, 'current'>;
  logger: Logger;
  /** Backend-wide id allocator: internal request ids and outward server→client ids. */
  nextId: () => number;
  onChange: (event: ServerChangeEvent) => void;
  /** Called once when the instance is gone (closed, crashed or retired). */
  onDead: (instance: ModuleInstance) => void;
  /** Bound on internal control requests (warm-up, initialize replay). */
  controlTimeoutMs: number;
}

interface ActiveExchange {
  ctx: ClientContext;
  sink: ExchangeSink;
  toolName?: string;
  progressToken?: unknown;
}

/** The sink of a client notification: it has no client stream to carry requests on. */
const NO_REQUESTS: ExchangeSink = {
  notification: () => {},
  request: async (m) => {
    throw new Error(`${m.method} cannot be sent in reaction to a client notification (no request to answer on)`);
  },
};

export interface ExchangeOutcome {
  response: JsonRpcResponse;
  /** The instance must not be reused (cancelled mid-flight, or it died). */
  retire: boolean;
}

export class ModuleInstance {
  readonly id: number;
  readonly era: Era;
  /** Legacy: key of the `initialize` params in force on this instance. */
  binding: string | undefined;
  /** Legacy: `logging/setLevel` level in force (undefined = never set, same as debug). */
  logLevel: string | undefined;
  /** Capabilities the server declared (from initialize / discover). */
  capabilities: Record<string, unknown> = {};
  lastUsedAt = Date.now();
  #dead = false;
  #server: ReturnType<typeof lowLevelServer> | undefined;
  #current: ActiveExchange | undefined;
  readonly #deps: InstanceDeps;
  readonly #wire: InProcessWire;
  readonly #handle: StdioServerHandle;
  /** Resolvers of requests delivered to the instance, by internal id. */
  readonly #pending = new SmallMap<RequestId, (response: JsonRpcResponse) => void>();
  /** Internal id → exchange, for `relatedRequestId` routing. */
  readonly #exchanges = new SmallMap<RequestId, ActiveExchange>();
  #lastError: Error | undefined;

  constructor(deps: InstanceDeps) {
    this.id = deps.id;
    this.era = deps.era;
    this.#deps = deps;
    this.#wire = new InProcessWire(
      (message, options) => this.#onOutbound(message, options),
      () => this.#onWireClosed(),
    );
    const context: BerthModuleContext = { ...deps.shared, current: () => this.#currentExchange() };
    this.#handle = serveStdio(
      async ({ era }) => {
        const product = await deps.factory({ era, berth: context });
        const server = lowLevelServer(product);
        if ((product as object) !== server) instrumentToolErrors(product as object, () => this.#current?.toolName);
        divertChangeNotifications(server, (n) => {
          const event = toChangeEvent(n);
          if (event) deps.onChange(event);
        });
        this.#server = server;
        return server;
      },
      {
        transport: this.#wire,
        legacy: 'serve',
        onerror: (error) => {
          this.#lastError = error;
          deps.logger.debug({ instance: this.id, err: error.message }, 'Module instance reported an error');
        },
      },
    );
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** The most recent error the SDK entry reported (factory failures land here). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  #currentExchange(): CurrentExchange | undefined {
    const ex = this.#current;
    if (!ex) return undefined;
    const out: CurrentExchange = { principal: ex.ctx.principal, era: ex.ctx.era, protocolVersion: ex.ctx.protocolVersion };
    if (ex.ctx.session) out.sessionId = ex.ctx.session.id;
    return out;
  }

  /** Sends an internal request (warm-up, replay) and waits for its answer, bounded by the control timeout. */
  call(method: string, params?: Record<string, unknown>): Promise<JsonRpcResponse> {
    const id = this.#deps.nextId();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(errorResponse(id, ErrorCode.UpstreamTimeout, `the module did not answer ${method} within ${this.#deps.controlTimeoutMs} ms`));
      }, this.#deps.controlTimeoutMs);
      timer.unref();
      this.#pending.set(id, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      this.#deliver(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    });
  }

  /** Sends a notification to the instance. */
  post(method: string, params?: Record<string, unknown>): void {
    this.#deliver(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /**
   * Serves one client request under a fresh internal id and resolves with
   * the response under the client's id. Abort of `signal` cancels the
   * request inside the instance and answers at once; the instance is then
   * retired because its handler may still be running.
   */
  exchange(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink, signal: AbortSignal): Promise<ExchangeOutcome> {
    const internalId = this.#deps.nextId();
    const params = request.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const active: ActiveExchange = { ctx, sink };
    if (request.method === 'tools/call' && typeof params?.name === 'string') active.toolName = params.name;
    if (meta?.progressToken !== undefined) active.progressToken = meta.progressToken;
    if (this.era === 'modern' && this.#server) seedModernClientIdentity(this.#server, meta);
    this.#current = active;
    this.#exchanges.set(internalId, active);
    this.lastUsedAt = Date.now();

    return new Promise<ExchangeOutcome>((resolve) => {
      let done = false;
      const finish = (response: JsonRpcResponse, retire: boolean): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(internalId);
        this.#exchanges.delete(internalId);
        if (this.#current === active) this.#current = undefined;
        this.lastUsedAt = Date.now();
        resolve({ response: { ...response, id: request.id }, retire });
      };
      const onAbort = (): void => {
        const reason = signal.reason instanceof Error ? signal.reason.message : typeof signal.reason === 'string' ? signal.reason : 'cancelled';
        this.post('notifications/cancelled', { requestId: internalId, reason });
        finish(errorResponse(request.id, REQUEST_CANCELLED, `Request cancelled: ${reason}`), true);
      };
      this.#pending.set(internalId, (response) => finish(response, this.#dead));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#deliver({ ...request, id: internalId });
    });
  }

  /**
   * Delivers a client notification (e.g. roots/list_changed). While its
   * handler starts, the instance counts as serving this caller with no way
   * to carry server→client requests, so a handler that reacts by asking
   * the client is refused instead of reaching the next caller.
   */
  async deliverNotification(ctx: ClientContext, method: string, params: Record<string, unknown> | undefined): Promise<void> {
    const marker: ActiveExchange = { ctx, sink: NO_REQUESTS };
    this.#current = marker;
    try {
      this.post(method, params);
      // Let the SDK entry dispatch it and the handler run up to its first await.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      if (this.#current === marker) this.#current = undefined;
    }
  }

  #deliver(message: JsonRpcMessage): void {
    if (this.#dead) {
      if (isRequest(message)) this.#settle(message.id, errorResponse(message.id, ErrorCode.InternalError, 'the server instance is closed'));
      return;
    }
    this.#wire.deliver(message);
  }

  #settle(id: RequestId, response: JsonRpcResponse): void {
    const resolve = this.#pending.get(id);
    if (!resolve) return;
    this.#pending.delete(id);
    resolve(response);
  }

  #onOutbound(message: JsonRpcMessage, options: TransportSendOptions | undefined): void {
    if (isResponse(message)) {
      if (message.id !== null) this.#settle(message.id, message);
      return;
    }
    const related = options?.relatedRequestId !== undefined ? this.#exchanges.get(options.relatedRequestId) : undefined;
    if (isRequest(message)) {
      // The SDK sends elicitation/sampling/roots requests from a handler
      // (ctx.mcpReq.elicitInput, requestSampling) without the routing hint;
      // they belong to the exchange the instance is serving right now.
      this.#forwardServerRequest(message, related ?? this.#current);
      return;
    }
    if (!isNotification(message)) return;
    if (related) {
      related.sink.notification(message);
      return;
    }
    // A progress notification sent without the routing hint still names the
    // client's token; only the exchange that supplied that token receives it.
    const current = this.#current;
    if (message.method === 'notifications/progress' && current?.progressToken !== undefined && message.params?.progressToken === current.progressToken) {
      current.sink.notification(message);
      return;
    }
    // Anything else unrelated could belong to an earlier caller of this
    // pooled instance (a timer outliving its request): drop rather than leak.
    this.#deps.logger.debug({ instance: this.id, method: message.method }, 'Dropped an unrelated notification from a module instance');
  }

  #forwardServerRequest(message: JsonRpcRequest, exchange: ActiveExchange | undefined): void {
    const answer = (response: JsonRpcResponse): void => this.#wire.deliver({ ...response, id: message.id });
    if (!exchange) {
      // Not while serving a client request (leftover work of an earlier
      // caller of this pooled instance): refuse rather than ask anyone.
      answer(errorResponse(message.id, ErrorCode.InvalidRequest, `${message.method} can only be sent while handling a client request`));
      this.#deps.logger.warn({ instance: this.id, method: message.method }, 'Refused a server-to-client request sent outside a client request');
      return;
    }
    const outward: JsonRpcRequest = { jsonrpc: '2.0', id: this.#deps.nextId(), method: message.method };
    if (message.params !== undefined) outward.params = message.params;
    exchange.sink.request(outward).then(
      (response) => answer(response),
      (error: unknown) => answer(errorResponse(message.id, ErrorCode.InternalError, `the client could not answer ${message.method}: ${error instanceof Error ? error.message : String(error)}`)),
    );
  }

  #onWireClosed(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#current = undefined;
    for (const [id, resolve] of this.#pending.entries()) {
      resolve(errorResponse(id, ErrorCode.InternalError, 'the server instance closed while serving the request'));
    }
    this.#pending.clear();
    this.#exchanges.clear();
    this.#deps.onDead(this);
  }

  /** Closes the instance; pending requests are answered with an error. */
  async close(): Promise<void> {
    if (this.#dead) return;
    await this.#handle.close().catch(() => {});
    // The entry closes the wire as part of its teardown; make sure either way.
    await this.#wire.close();
  }
}
