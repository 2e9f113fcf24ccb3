/**
 * The `module` backend: an in-process MCP server factory served from a pool
 * of era-pinned instances. Each exchange checks one instance out
 * exclusively, so no two clients ever share an instance at the same time.
 * Legacy instances carry the `initialize` params of the session they serve:
 * when an instance moves to a session with different params, Berth replays
 * a synthetic `initialize` + `notifications/initialized` first.
 */
import type { Logger } from 'pino';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../../protocol/jsonrpc.ts';
import type { Backend, BackendHealth, ClientContext, Era, ExchangeSink, InitializeParams, ServerChangeEvent } from '../types.ts';
import type { BerthModuleContext, BerthServerFactory } from './context.ts';
import { ModuleInstance, REQUEST_CANCELLED } from './instance.ts';
import { DEFAULT_POOL, InstancePool, PoolClosedError, PoolSaturatedError, type PoolOptions } from './pool.ts';
import { annotateValidationFailure } from './tool-errors.ts';
import { installFastGuards } from './sdk-guards.ts';
import { SmallMap } from '../../small-collections.ts';

export interface ModuleBackendOptions {
  /** `namespace/name`, for logs and the module context. */
  tenant: string;
  logger: Logger;
  /** Imports the module and returns its factory (errors name the module). */
  load: () => Promise<BerthServerFactory>;
  /** Human name of the module for errors (e.g. `spec.source.module.path ./server.ts`). */
  label: string;
  pool?: Partial<PoolOptions>;
  /** Bound on warm-up and initialize replay (ms). */
  controlTimeoutMs?: number;
}

/** The `initialize` params used to warm legacy instances and for legacy requests without a session. */
export function defaultInitialize(protocolVersion = '2025-11-25'): InitializeParams {
  return { protocolVersion, capabilities: {}, clientInfo: { name: 'berth', version: '0' } };
}

/**
 * Keys already computed, by params object: a session's records share one
 * `initialize` object (the stores keep it), so a warm session's key is a
 * lookup rather than a canonical serialization per request.
 */
const bindingKeys = new WeakMap<InitializeParams, string>();

/** Canonical JSON (sorted keys): equal params give equal binding keys. Treats `params` as immutable. */
export function bindingKey(params: InitializeParams): string {
  let key = bindingKeys.get(params);
  if (key === undefined) {
    key = canonical(params);
    bindingKeys.set(params, key);
  }
  return key;
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

const MODERN_REVISION = '2026-07-28';
const DISCOVER_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_REVISION,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'berth', version: '0' },
};
const MAX_REMEMBERED_LEVELS = 100_000;
const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';

/**
 * A modern request as the instance must see it: the HTTP layer forwards the
 * client's `_meta` envelope untouched; internal callers (the policy
 * pipeline's own listing) may omit it, and get a minimal envelope naming
 * the revision in `ctx` and no client capabilities.
 */
export function withEnvelope(ctx: ClientContext, request: JsonRpcRequest): JsonRpcRequest {
  const meta = request.params?._meta as Record<string, unknown> | undefined;
  if (meta && PROTOCOL_VERSION_KEY in meta) return request;
  const envelope = { [PROTOCOL_VERSION_KEY]: ctx.protocolVersion, 'io.modelcontextprotocol/clientCapabilities': {}, ...meta };
  return { ...request, params: { ...request.params, _meta: envelope } };
}

/** `undefined` (never set) and `debug` both let every log level through. */
const normLevel = (level: string | undefined): string => level ?? 'debug';

interface Inflight {
  cancel: (reason: string) => void;
}

class ModuleBackend implements Backend {
  readonly kind = 'module' as const;
  /** Instances are pooled across sessions: nothing of a session stays in one. */
  readonly sessionAffinity = false;
  readonly #opts: ModuleBackendOptions;
  readonly #log: Logger;
  readonly #listeners = new Set<(event: ServerChangeEvent) => void>();
  readonly #pool: InstancePool<ModuleInstance>;
  /** Legacy sessions' `logging/setLevel`, by session id. */
  readonly #sessionLevels = new Map<string, string>();
  /** Legacy in-flight exchanges by session, for `notifications/cancelled`. */
  readonly #bySession = new SmallMap<string, SmallMap<RequestId, Inflight>>();
  #factory: BerthServerFactory | undefined;
  #shared: Omit<BerthModuleContext, 'current'>;
  #seq = 0;
  #instanceSeq = 0;
  #active = 0;
  #idleWaiters: Array<() => void> = [];
  #started = false;
  #closing = false;

  constructor(opts: ModuleBackendOptions) {
    installFastGuards();
    this.#opts = opts;
    this.#log = opts.logger.child({ backend: 'module' });
    const pool = { ...DEFAULT_POOL, ...opts.pool };
    if (pool.min > pool.max) pool.min = pool.max;
    this.#pool = new InstancePool<ModuleInstance>(pool, (era, hint) => this.#spawn(era, hint as InitializeParams | undefined));
    this.#shared = {
      tenant: opts.tenant,
      logger: opts.logger.child({ module: opts.label }),
      notify: {
        toolsChanged: () => this.#emit({ kind: 'tools_list_changed' }),
        promptsChanged: () => this.#emit({ kind: 'prompts_list_changed' }),
        resourcesChanged: () => this.#emit({ kind: 'resources_list_changed' }),
        resourceUpdated: (uri: string) => this.#emit({ kind: 'resource_updated', uri }),
      },
    };
  }

  async start(): Promise<void> {
    this.#factory = await this.#opts.load();
    try {
      await this.#pool.warm('modern', undefined);
      await this.#pool.warm('legacy', defaultInitialize());
    } catch (error) {
      throw new Error(`${this.#opts.label}: the server factory failed: ${(error as Error).message}`, { cause: error });
    }
    this.#started = true;
    this.#log.info({ instances: this.#pool.size }, 'Module backend started');
  }

  health(): BackendHealth {
    if (this.#closing) return { ready: false, reason: 'draining' };
    if (!this.#started) return { ready: false, reason: 'module not loaded' };
    if (this.#pool.size === 0 && this.#pool.lastSpawnError) return { ready: false, reason: `module instances fail to start: ${this.#pool.lastSpawnError.message}` };
    return { ready: true };
  }

  onChange(listener: (event: ServerChangeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async handle(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    if (this.#closing || !this.#started) return errorResponse(request.id, ErrorCode.Unavailable, this.#closing ? 'the server is shutting down' : 'the server is starting');
    if (request.method === 'subscriptions/listen') {
      return errorResponse(request.id, ErrorCode.InvalidRequest, 'subscriptions/listen is served by the endpoint, not the backend');
    }
    this.#active++;
    const local = new AbortController();
    const untrack = this.#track(ctx, request.id, local);
    const onAbort = (): void => local.abort(ctx.signal.reason);
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#serve(ctx, request, sink, local.signal);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      untrack();
      if (--this.#active === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #serve(ctx: ClientContext, incoming: JsonRpcRequest, sink: ExchangeSink, signal: AbortSignal): Promise<JsonRpcResponse> {
    const era = ctx.era;
    const request = era === 'modern' ? withEnvelope(ctx, incoming) : incoming;
    const isInitialize = era === 'legacy' && request.method === 'initialize';
    const params = era === 'legacy' ? this.#initializeFor(ctx, request) : undefined;
    const key = params ? bindingKey(params) : undefined;
    let instance: ModuleInstance;
    try {
      instance = await this.#pool.acquire(era, key, params, signal);
    } catch (error) {
      return this.#acquireFailure(request.id, error, signal);
    }
    let retire = false;
    try {
      if (era === 'legacy' && !isInitialize) {
        const bound = await this.#bind(instance, params as InitializeParams, key as string, ctx, request.method === 'logging/setLevel');
        if (bound) {
          retire = true;
          return errorResponse(request.id, ErrorCode.InternalError, bound);
        }
      }
      const outcome = await instance.exchange(ctx, request, sink, signal);
      retire = outcome.retire;
      return this.#after(instance, ctx, request, outcome.response, key);
    } finally {
      if (retire || instance.dead) this.#pool.retire(instance);
      else this.#pool.release(instance);
    }
  }

  /** Post-processing of a successful exchange; keeps the instance's binding state in step. */
  #after(instance: ModuleInstance, ctx: ClientContext, request: JsonRpcRequest, response: JsonRpcResponse, key: string | undefined): JsonRpcResponse {
    if (!('result' in response)) return response;
    switch (request.method) {
      case 'initialize':
        if (ctx.era === 'legacy') {
          instance.binding = key;
          const caps = response.result.capabilities;
          if (caps && typeof caps === 'object') instance.capabilities = caps as Record<string, unknown>;
          instance.post('notifications/initialized');
        }
        return response;
      case 'logging/setLevel': {
        const level = request.params?.level;
        if (typeof level === 'string') {
          instance.logLevel = level;
          if (ctx.session) this.#rememberLevel(ctx.session.id, level);
        }
        return response;
      }
      case 'tools/call': {
        const annotated = annotateValidationFailure(response.result);
        return annotated === response.result ? response : { ...response, result: annotated };
      }
      default:
        return response;
    }
  }

  /**
   * Puts the session's `initialize` params and log level in force on a
   * legacy instance. Returns an error message when the replay failed.
   */
  async #bind(instance: ModuleInstance, params: InitializeParams, key: string, ctx: ClientContext, settingLevel: boolean): Promise<string | undefined> {
    if (instance.binding !== key) {
      const reply = await instance.call('initialize', params as unknown as Record<string, unknown>);
      if (!('result' in reply)) return `could not restore the session on a server instance: ${reply.error.message}`;
      instance.binding = key;
      const caps = reply.result.capabilities;
      if (caps && typeof caps === 'object') instance.capabilities = caps as Record<string, unknown>;
      instance.post('notifications/initialized');
    }
    if (settingLevel || !instance.capabilities.logging) return undefined;
    // A level set through this replica is freshest; otherwise the session record's (set through another replica).
    const wanted = normLevel(ctx.session ? (this.#sessionLevels.get(ctx.session.id) ?? ctx.session.logLevel) : undefined);
    if (normLevel(instance.logLevel) !== wanted) {
      const reply = await instance.call('logging/setLevel', { level: wanted });
      if (!('result' in reply)) return `could not restore the session's log level on a server instance: ${reply.error.message}`;
      instance.logLevel = wanted;
    }
    return undefined;
  }

  /**
   * Remembers a session's log level. Bounded: sessions that expire without
   * a `closeSession` call must not grow the map forever (the oldest entry
   * goes; that session falls back to the default level).
   */
  #rememberLevel(sessionId: string, level: string): void {
    this.#sessionLevels.delete(sessionId);
    this.#sessionLevels.set(sessionId, level);
    if (this.#sessionLevels.size > MAX_REMEMBERED_LEVELS) {
      const oldest = this.#sessionLevels.keys().next().value;
      if (oldest !== undefined) this.#sessionLevels.delete(oldest);
    }
  }

  /** The `initialize` params a legacy exchange must run under. */
  #initializeFor(ctx: ClientContext, request: JsonRpcRequest): InitializeParams {
    if (request.method === 'initialize' && request.params) return request.params as unknown as InitializeParams;
    return ctx.session?.initialize ?? defaultInitialize(ctx.protocolVersion);
  }

  #acquireFailure(id: RequestId, error: unknown, signal: AbortSignal): JsonRpcResponse {
    if (signal.aborted) return errorResponse(id, REQUEST_CANCELLED, 'Request cancelled while waiting for a server instance');
    if (error instanceof PoolSaturatedError || error instanceof PoolClosedError) return errorResponse(id, ErrorCode.Unavailable, error.message);
    this.#log.error({ err: (error as Error).message }, 'Could not start a module instance');
    return errorResponse(id, ErrorCode.InternalError, `${this.#opts.label}: could not start a server instance: ${(error as Error).message}`);
  }

  async #spawn(era: Era, initialize: InitializeParams | undefined): Promise<ModuleInstance> {
    const factory = this.#factory;
    if (!factory) throw new Error('module not loaded');
    const instance = new ModuleInstance({
      id: ++this.#instanceSeq,
      era,
      factory,
      shared: this.#shared,
      logger: this.#log,
      nextId: () => ++this.#seq,
      onChange: (event) => this.#emit(event),
      onDead: (dead) => this.#pool.forget(dead),
      controlTimeoutMs: this.#opts.controlTimeoutMs ?? 10_000,
    });
    let reply =
      era === 'modern'
        ? await instance.call('server/discover', { _meta: DISCOVER_META })
        : await instance.call('initialize', (initialize ?? defaultInitialize()) as unknown as Record<string, unknown>);
    if (era === 'modern' && 'result' in reply) {
      // A discover leaves the SDK entry in its probe phase, where a claim-less
      // message would re-pin the connection to the 2025 era; any further
      // modern request pins it to the modern era for good (ping is not a
      // 2026-07-28 method, so its answer is an error either way).
      await instance.call('ping', { _meta: DISCOVER_META });
      if (instance.dead) reply = errorResponse(reply.id, ErrorCode.InternalError, 'the server instance closed during start-up');
    }
    if (!('result' in reply)) {
      // The SDK entry answers first and reports the underlying error right after.
      await new Promise((resolve) => setImmediate(resolve));
      const cause = instance.lastError?.message ?? reply.error.message;
      await instance.close();
      throw new Error(cause);
    }
    const caps = reply.result.capabilities;
    if (caps && typeof caps === 'object') instance.capabilities = caps as Record<string, unknown>;
    if (era === 'legacy') {
      instance.binding = bindingKey(initialize ?? defaultInitialize());
      instance.post('notifications/initialized');
    }
    return instance;
  }

  #track(ctx: ClientContext, id: RequestId, controller: AbortController): () => void {
    const session = ctx.era === 'legacy' ? ctx.session?.id : undefined;
    if (session === undefined) return () => {};
    let byId = this.#bySession.get(session);
    if (!byId) this.#bySession.set(session, (byId = new SmallMap()));
    const entry: Inflight = { cancel: (reason) => controller.abort(reason) };
    byId.set(id, entry);
    return () => {
      if (byId.get(id) === entry) byId.delete(id);
      if (byId.size === 0 && this.#bySession.get(session) === byId) this.#bySession.delete(session);
    };
  }

  async notify(ctx: ClientContext, notification: JsonRpcNotification): Promise<void> {
    if (this.#closing || !this.#started) return;
    switch (notification.method) {
      case 'notifications/initialized':
        return; // instances receive their own after every (re)initialize
      case 'notifications/cancelled': {
        const id = notification.params?.requestId;
        const reason = typeof notification.params?.reason === 'string' ? notification.params.reason : 'cancelled by the client';
        if (ctx.session && (typeof id === 'string' || typeof id === 'number')) this.#bySession.get(ctx.session.id)?.get(id)?.cancel(reason);
        return;
      }
      default:
        await this.#deliverNotification(ctx, notification);
    }
  }

  /** Delivers a client notification to an instance carrying the caller's binding. */
  async #deliverNotification(ctx: ClientContext, notification: JsonRpcNotification): Promise<void> {
    const params = ctx.era === 'legacy' ? (ctx.session?.initialize ?? defaultInitialize(ctx.protocolVersion)) : undefined;
    const key = params ? bindingKey(params) : undefined;
    let instance: ModuleInstance;
    try {
      instance = await this.#pool.acquire(ctx.era, key, params, ctx.signal);
    } catch (error) {
      this.#log.debug({ method: notification.method, err: (error as Error).message }, 'Dropped a client notification');
      return;
    }
    try {
      if (ctx.era === 'legacy' && params && key) {
        const failed = await this.#bind(instance, params, key, ctx, false);
        if (failed) return;
      }
      await instance.deliverNotification(ctx, notification.method, notification.params);
    } finally {
      this.#pool.release(instance);
    }
  }

  async closeSession(sessionId: string): Promise<void> {
    this.#sessionLevels.delete(sessionId);
    const inflight = this.#bySession.get(sessionId);
    if (inflight) for (const entry of [...inflight.values()]) entry.cancel('the session ended');
  }

  async close(deadline: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#pool.close();
    const wait = deadline - Date.now();
    if (this.#active > 0 && wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        timer.unref();
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await this.#pool.destroy();
    this.#listeners.clear();
    this.#log.info('Module backend closed');
  }

  #emit(event: ServerChangeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#log.error({ err: (error as Error).message, event: event.kind }, 'A change listener threw');
      }
    }
  }
}

/** Creates a module backend over an already-resolved module loader. */
export function createModuleBackend(opts: ModuleBackendOptions): Backend {
  return new ModuleBackend(opts);
}
