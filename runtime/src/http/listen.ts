/**
 * `subscriptions/listen` (2026-07-28) served at the HTTP layer from the
 * change hub: no backend instance is held open for a subscription. The
 * server's capabilities (which narrow the honored filter) come from a cached
 * `server/discover` through the backend.
 */
import type { FastifyReply } from 'fastify';
import type { ClientContext, ExchangeSink, ServerChangeEvent } from '../backend/types.ts';
import { CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY } from '../protocol/meta-keys.ts';
import { errorBody, HttpErrors, sendError } from './errors.ts';
import type { JsonRpcRequest } from '../protocol/jsonrpc.ts';
import {
  acknowledgement,
  changeNotification,
  filterAccepts,
  gracefulListenEnd,
  honoredSubset,
  parseListenFilter,
  stampSubscription,
  type ListenFilter,
} from '../protocol/listen.ts';
import { FIRST_MODERN_VERSION } from '../protocol/versions.ts';
import type { RuntimeContext } from './context.ts';

/** Open subscriptions per replica before new ones are refused. */
export const MAX_SUBSCRIPTIONS = 1024;
const CAPABILITIES_TTL_MS = 30_000;
const DISCOVER_TIMEOUT_MS = 10_000;

interface ServerSurface {
  capabilities: Record<string, unknown>;
  serverInfo: unknown;
}

interface Subscription {
  offer(event: ServerChangeEvent): void;
}

const discardSink: ExchangeSink = {
  notification() {},
  request: () => Promise.reject(new Error('no client during discovery')),
};

export class ListenService {
  private readonly rt: RuntimeContext;
  private readonly open = new Set<Subscription>();
  private surface: { value: ServerSurface; at: number } | undefined;
  private surfacePending: Promise<ServerSurface | undefined> | undefined;

  constructor(rt: RuntimeContext) {
    this.rt = rt;
    rt.changes.on((event) => {
      for (const sub of this.open) sub.offer(event);
    });
  }

  get count(): number {
    return this.open.size;
  }

  /** Serves one listen request until the client leaves or the stream ends. */
  async serve(reply: FastifyReply, message: JsonRpcRequest, ctx: Omit<ClientContext, 'signal'>): Promise<void> {
    const id = message.id;
    if (this.rt.state === 'draining' || this.rt.state === 'stopped') {
      sendError(reply, HttpErrors.DRAINING, { id, headers: { 'retry-after': '1' } });
      return;
    }
    const inBand = (code: number, text: string): void => {
      reply.code(200).header('content-type', 'application/json; charset=utf-8').send(errorBody(code, text, id));
    };
    if (this.open.size >= MAX_SUBSCRIPTIONS) return inBand(-32603, 'Subscription limit reached');
    const filter = parseListenFilter(message.params);
    if (!filter) return inBand(-32602, "Invalid params: 'notifications' is required and must be a valid SubscriptionFilter");
    const surface = await this.serverSurface(ctx);
    if (!surface) return inBand(-32603, 'Server capabilities are unavailable; retry shortly');
    if (reply.raw.destroyed) return;
    const honored: ListenFilter = honoredSubset(filter, surface.capabilities);
    const stream = this.rt.hub.open(reply, 'listen');
    stream.event(undefined, JSON.stringify(acknowledgement(honored, id)));
    const endGracefully = (retryMs?: number): void => {
      stream.event(undefined, JSON.stringify(gracefulListenEnd(id, surface.serverInfo)));
      stream.end(retryMs);
    };
    if (Object.keys(honored).length === 0) return endGracefully();
    const sub: Subscription = {
      offer(event) {
        if (filterAccepts(honored, event)) stream.event(undefined, JSON.stringify(stampSubscription(changeNotification(event), id)));
      },
    };
    this.open.add(sub);
    stream.onClose = () => this.open.delete(sub);
    stream.onExpire = endGracefully;
  }

  /** Capabilities and identity of the served MCP server, cached briefly. */
  private async serverSurface(ctx: Omit<ClientContext, 'signal'>): Promise<ServerSurface | undefined> {
    const cached = this.surface;
    if (cached && Date.now() - cached.at < CAPABILITIES_TTL_MS) return cached.value;
    this.surfacePending ??= this.discover(ctx).finally(() => {
      this.surfacePending = undefined;
    });
    return this.surfacePending;
  }

  private async discover(ctx: Omit<ClientContext, 'signal'>): Promise<ServerSurface | undefined> {
    const request: JsonRpcRequest = {
      jsonrpc: '2.0',
      id: 'berth-discover',
      method: 'server/discover',
      params: {
        _meta: {
          [PROTOCOL_VERSION_META_KEY]: FIRST_MODERN_VERSION,
          [CLIENT_CAPABILITIES_META_KEY]: {},
          [CLIENT_INFO_META_KEY]: { name: 'berth-runtime', version: '1' },
        },
      },
    };
    try {
      const response = await this.rt.backend.handle(
        { ...ctx, era: 'modern', protocolVersion: FIRST_MODERN_VERSION, signal: AbortSignal.timeout(DISCOVER_TIMEOUT_MS) },
        request,
        discardSink,
      );
      if ('error' in response) {
        this.rt.logger.warn({ error: response.error }, 'server/discover failed; cannot serve subscriptions/listen');
        return undefined;
      }
      const result = response.result as { capabilities?: unknown; serverInfo?: unknown; _meta?: Record<string, unknown> };
      const capabilities = typeof result.capabilities === 'object' && result.capabilities !== null ? (result.capabilities as Record<string, unknown>) : {};
      const value: ServerSurface = { capabilities, serverInfo: result._meta?.[SERVER_INFO_META_KEY] ?? result.serverInfo };
      this.surface = { value, at: Date.now() };
      return value;
    } catch (error) {
      this.rt.logger.warn({ err: error }, 'server/discover threw; cannot serve subscriptions/listen');
      return undefined;
    }
  }
}
