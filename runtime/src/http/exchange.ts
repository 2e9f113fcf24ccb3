/**
 * One client request in flight: the backend call, its server→client
 * messages, its deadline and its cancellation. Era-specific delivery (JSON vs
 * SSE, resumable event ids) is a `Delivery`; everything else is shared.
 */
import type { Logger } from 'pino';
import type { Backend, ClientContext, ExchangeSink } from '../backend/types.ts';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../protocol/jsonrpc.ts';
import { toolInterruptedResult, toolTimeoutResult } from '../protocol/tool-result.ts';
import type { AppMetrics } from '../observability/metrics.ts';
import { exchangeSpan, type ExchangeSpan } from '../observability/tracing.ts';
import { SlotSet, SmallMap } from '../small-collections.ts';

/** How an exchange's messages reach the client. */
export interface Delivery {
  /** A notification or server→client request related to the exchange. */
  related(message: JsonRpcNotification | JsonRpcRequest): void;
  /** The final response, with its serialized form. */
  final(response: JsonRpcResponse, json: string): void;
  /** The exchange ended without a response (client cancelled). */
  abandon(): void;
}

/** Carries server→client requests of a legacy session (sampling, elicitation, roots). */
export interface ClientRequestChannel {
  /** Sends `request` (via `forward`, on the exchange's stream) and resolves with the client's answer. */
  send(exchange: Exchange, request: JsonRpcRequest, forward: (message: JsonRpcRequest) => void): Promise<JsonRpcResponse>;
}

export type Outcome = 'ok' | 'tool_error' | 'error' | 'timeout' | 'cancelled' | 'interrupted';

export interface ExchangeHost {
  backend: Backend;
  metrics: AppMetrics;
  logger: Logger;
  tracker: ExchangeTracker;
  /** Per-exchange deadline (ms). */
  timeoutMs: number;
}

/** Rejects a server→client request the era cannot carry. */
const noChannel: ClientRequestChannel = {
  send: async () => {
    throw new Error('server-to-client requests are not available in protocol revision 2026-07-28 (use input_required results)');
  },
};

export class Exchange implements ExchangeSink {
  /** The client's request. */
  readonly message: JsonRpcRequest;
  readonly controller = new AbortController();
  readonly startedAt = performance.now();
  /** Epoch ms after which the tracker times the exchange out (Infinity while waiting on the client). */
  deadline: number;
  done = false;
  /** Position in the tracker's in-flight set (-1 when not in it). */
  slot = -1;
  readonly sessionId: string | undefined;
  private readonly host: ExchangeHost;
  private readonly ctx: ClientContext;
  private readonly delivery: Delivery;
  private readonly channel: ClientRequestChannel;
  private waitingOnClient = 0;
  private remainingMs = 0;
  private doneCallbacks: Array<() => void> | undefined;
  /** The backend span, when the request is traced. */
  private span: ExchangeSpan | undefined;

  constructor(host: ExchangeHost, ctx: Omit<ClientContext, 'signal'>, request: JsonRpcRequest, delivery: Delivery, channel?: ClientRequestChannel) {
    this.host = host;
    this.message = request;
    this.delivery = delivery;
    this.channel = channel ?? noChannel;
    this.sessionId = ctx.session?.id;
    this.ctx = { ...ctx, signal: this.controller.signal };
    this.deadline = Date.now() + host.timeoutMs;
  }

  get era(): ClientContext['era'] {
    return this.ctx.era;
  }

  get session(): ClientContext['session'] {
    return this.ctx.session;
  }

  /** Runs `cb` once the exchange has ended (answered, timed out, cancelled or interrupted). */
  whenDone(cb: () => void): void {
    if (this.done) cb();
    else (this.doneCallbacks ??= []).push(cb);
  }

  get tool(): string | undefined {
    if (this.message.method !== 'tools/call') return undefined;
    const name = this.message.params?.name;
    return typeof name === 'string' ? name : undefined;
  }

  /** Calls the backend; the response is delivered when it settles (unless the exchange ended first). */
  start(): void {
    this.host.tracker.add(this);
    this.span = exchangeSpan(this.host.backend.kind, this.message, this.ctx);
    let pending: Promise<JsonRpcResponse>;
    try {
      pending = this.span ? this.span.run(() => this.host.backend.handle(this.ctx, this.message, this)) : this.host.backend.handle(this.ctx, this.message, this);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (response) => this.finish(response, undefined),
      (error: unknown) => {
        this.host.logger.error({ err: error, method: this.message.method }, 'Backend rejected an exchange');
        this.finish(errorResponse(this.message.id, ErrorCode.InternalError, 'Internal error'), 'error');
      },
    );
  }

  notification(message: JsonRpcNotification): void {
    if (!this.done) this.delivery.related(message);
  }

  request(message: JsonRpcRequest): Promise<JsonRpcResponse> {
    if (this.done) return Promise.reject(new Error('exchange already finished'));
    return this.channel.send(this, message, (m) => this.delivery.related(m));
  }

  /** Pauses the deadline while the client answers a server→client request. */
  clientWaitStarted(): void {
    if (this.waitingOnClient++ === 0) {
      this.remainingMs = Math.max(0, this.deadline - Date.now());
      this.deadline = Infinity;
    }
  }

  clientWaitEnded(): void {
    if (--this.waitingOnClient === 0 && !this.done) this.deadline = Date.now() + this.remainingMs;
  }

  /** Deadline passed: abort the backend call and answer with a timeout. */
  timeout(): void {
    if (this.done) return;
    this.controller.abort(new Error('timeout'));
    const seconds = Math.round(this.host.timeoutMs / 1000);
    const tool = this.tool;
    const response: JsonRpcResponse =
      tool !== undefined
        ? { jsonrpc: '2.0', id: this.message.id, result: toolTimeoutResult(tool, seconds, this.era) }
        : errorResponse(this.message.id, ErrorCode.UpstreamTimeout, `Request timed out after ${seconds} s`);
    this.finish(response, 'timeout');
  }

  /** The client cancelled: abort and send nothing (the spec forbids a response). */
  cancel(reason: string): void {
    if (this.done) return;
    this.controller.abort(new Error(reason));
    this.span?.end('cancelled');
    this.settle('cancelled', undefined);
    this.delivery.abandon();
  }

  /** The replica is shutting down: abort and answer so the client knows. */
  interrupt(): void {
    if (this.done) return;
    this.controller.abort(new Error('draining'));
    const tool = this.tool;
    const response: JsonRpcResponse =
      tool !== undefined
        ? { jsonrpc: '2.0', id: this.message.id, result: toolInterruptedResult(tool, this.era) }
        : errorResponse(this.message.id, ErrorCode.Unavailable, 'Interrupted: the server is restarting; retry the request');
    this.finish(response, 'interrupted');
  }

  private finish(response: JsonRpcResponse, forced: Outcome | undefined): void {
    if (this.done) return;
    if (response.id !== this.message.id) response = { ...response, id: this.message.id } as JsonRpcResponse;
    const json = JSON.stringify(response);
    const outcome = forced ?? ('error' in response ? 'error' : (response.result as { isError?: unknown }).isError === true ? 'tool_error' : 'ok');
    this.span?.end(outcome, response);
    this.settle(outcome, json.length);
    this.delivery.final(response, json);
  }

  private settle(outcome: Outcome, bytes: number | undefined): void {
    this.done = true;
    this.host.tracker.delete(this);
    const callbacks = this.doneCallbacks;
    this.doneCallbacks = undefined;
    if (callbacks) for (const cb of callbacks) cb();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const { metrics, logger } = this.host;
    const tool = this.tool;
    if (outcome !== 'ok') metrics.errors.inc({ category: outcomeCategory(outcome) });
    if (tool !== undefined) {
      const label = metrics.toolLabel(tool);
      metrics.toolCallDuration.observe({ tool: label, outcome }, seconds);
      if (bytes !== undefined) metrics.toolResultBytes.observe({ tool: label }, bytes);
      logger.info({ session: this.sessionId, tool, outcome, durationMs: Math.round(seconds * 1e4) / 10, bytes, era: this.era }, 'Tool call finished');
    } else if (logger.isLevelEnabled('debug')) {
      logger.debug({ session: this.sessionId, method: this.message.method, outcome, durationMs: Math.round(seconds * 1e4) / 10, bytes, era: this.era }, 'Request finished');
    }
  }
}

function outcomeCategory(outcome: Outcome): 'protocol' | 'tool_error' | 'timeout' | 'cancelled' | 'unavailable' {
  switch (outcome) {
    case 'tool_error':
      return 'tool_error';
    case 'timeout':
      return 'timeout';
    case 'cancelled':
      return 'cancelled';
    case 'interrupted':
      return 'unavailable';
    default:
      return 'protocol';
  }
}

/** Key of a request id within a session (ids are strings or numbers). */
export const idKey = (sessionId: string, id: RequestId): string => `${sessionId}\u0000${typeof id}:${id}`;

/** In-flight exchanges of an app: timeouts from one ticker, drain support. */
export class ExchangeTracker {
  readonly all = new SlotSet<Exchange>();
  /** Legacy exchanges by session+request id, for `notifications/cancelled`. */
  private readonly byId = new SmallMap<string, Exchange>();
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];

  add(exchange: Exchange): void {
    this.all.add(exchange);
    if (exchange.sessionId !== undefined) this.byId.set(idKey(exchange.sessionId, exchange.message.id), exchange);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), 250);
      this.timer.unref();
    }
  }

  delete(exchange: Exchange): void {
    if (!this.all.delete(exchange)) return;
    if (exchange.sessionId !== undefined) {
      const key = idKey(exchange.sessionId, exchange.message.id);
      if (this.byId.get(key) === exchange) this.byId.delete(key);
    }
    if (this.all.size === 0) {
      // The ticker stops at its next tick when nothing is in flight, not here:
      // a new interval per request would be one more allocation each.
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  find(sessionId: string, id: RequestId): Exchange | undefined {
    return this.byId.get(idKey(sessionId, id));
  }

  ofSession(sessionId: string): Exchange[] {
    return [...this.all].filter((e) => e.sessionId === sessionId);
  }

  get size(): number {
    return this.all.size;
  }

  /** Resolves when no exchange is in flight. */
  idle(): Promise<void> {
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  interruptAll(): void {
    for (const exchange of [...this.all]) exchange.interrupt();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.all.size === 0) return this.stop();
    const now = Date.now();
    for (const exchange of this.all) if (now >= exchange.deadline) exchange.timeout();
  }
}
