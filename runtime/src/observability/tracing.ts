/**
 * Optional OpenTelemetry tracing: the hooks the request path calls, and the
 * entry point that starts tracing. This file imports no OpenTelemetry code;
 * the SDK (./tracing-sdk.ts) is loaded with a dynamic import only when an
 * OTLP endpoint is configured. Untraced, every hook is one property read of
 * an undefined store and returns at once.
 *
 * Spans follow the request through an AsyncLocalStorage frame that the MCP
 * route enters before its handler runs, so the backend exchange and the
 * remote upstream's HTTP request find their parent without any plumbing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Backend, ClientContext } from '../backend/types.ts';
import type { JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.ts';
import { tracingSettingsFromEnv, type TracingSettings } from './tracing-config.ts';

/** How an exchange ended, as the exchange layer reports it. */
export type ExchangeOutcome = 'ok' | 'tool_error' | 'error' | 'timeout' | 'cancelled' | 'interrupted';

/** The span of one backend exchange: the backend call runs inside it. */
export interface ExchangeSpan {
  /** Runs `fn` with this span as the active parent (remote upstreams propagate it). */
  run<T>(fn: () => T): T;
  /** Ends the span (idempotent); `response` is the final JSON-RPC response when there is one. */
  end(outcome: ExchangeOutcome, response?: JsonRpcResponse): void;
}

/** The request-scoped frame: the active span's context and the tracing that owns it. */
export interface TraceFrame {
  /** Starts the child span of a backend exchange. */
  exchange(kind: Backend['kind'], request: JsonRpcRequest, ctx: Pick<ClientContext, 'era' | 'protocolVersion'>): ExchangeSpan;
  /** Writes `traceparent` (and `tracestate`) of the active span into `headers`. */
  inject(headers: Record<string, string>): void;
  /** The backend's peer failed (no-op outside an exchange's frame). */
  peerFailed(outcome: 'transient' | 'fatal'): void;
}

/** A running tracer of one runtime. */
export interface Tracing {
  readonly settings: TracingSettings;
  /** Adds the server-span hooks to the (encapsulated) scope of the MCP routes. */
  instrument(app: FastifyInstance, route: string): void;
  /** Exports what is buffered and stops (bounded by `timeoutMs`). */
  shutdown(timeoutMs?: number): Promise<void>;
}

let storage: AsyncLocalStorage<TraceFrame> | undefined;

/** The frame storage, created when the first tracer starts. */
export function traceStorage(): AsyncLocalStorage<TraceFrame> {
  return (storage ??= new AsyncLocalStorage<TraceFrame>());
}

/** The span of a backend exchange, or undefined when the request is not traced. */
export function exchangeSpan(kind: Backend['kind'], request: JsonRpcRequest, ctx: Pick<ClientContext, 'era' | 'protocolVersion'>): ExchangeSpan | undefined {
  const frame = storage?.getStore();
  return frame === undefined ? undefined : frame.exchange(kind, request, ctx);
}

/** Adds the W3C trace context of the active span to outgoing `headers` (no-op when untraced); returns `headers`. */
export function withTraceContext(headers: Record<string, string>): Record<string, string> {
  const frame = storage?.getStore();
  if (frame !== undefined) frame.inject(headers);
  return headers;
}

/**
 * Records on the active backend span that its peer (stdio child, remote
 * upstream) failed: the client sees an `isError` result either way, but the
 * span tells a transport failure from the tool's own error.
 */
export function notePeerFailure(outcome: 'transient' | 'fatal'): void {
  storage?.getStore()?.peerFailed(outcome);
}

export interface StartTracingOptions {
  tenant: { namespace: string; name: string };
  replicaId: string;
  logger: Logger;
}

/**
 * Starts tracing when `env` configures an OTLP endpoint; undefined (and no
 * SDK loaded) otherwise. Throws ConfigError naming a malformed variable.
 */
export async function startTracing(env: NodeJS.ProcessEnv, opts: StartTracingOptions): Promise<Tracing | undefined> {
  const settings = tracingSettingsFromEnv(env, opts.tenant);
  if (!settings) return undefined;
  const { createTracing } = await import('./tracing-sdk.ts');
  const tracing = createTracing(settings, { ...opts, storage: traceStorage() });
  opts.logger.info({ endpoint: settings.endpoint, serviceName: settings.serviceName, sampler: settings.sampler, ratio: settings.ratio }, 'Tracing enabled');
  return tracing;
}
