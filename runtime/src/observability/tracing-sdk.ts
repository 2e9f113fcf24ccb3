/**
 * The OpenTelemetry SDK side of tracing, loaded only when an OTLP endpoint
 * is configured: one tracer provider per runtime (no process-wide globals,
 * so several runtimes can share a process), batch export over OTLP/HTTP
 * JSON, W3C trace context in and out.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Backend, ClientContext } from '../backend/types.ts';
import type { JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.ts';
import { Attr, backendOutcome, jsonRpcMethodOf, sessionHash } from './tracing-attributes.ts';
import type { TracingSettings } from './tracing-config.ts';
import type { ExchangeOutcome, ExchangeSpan, TraceFrame, Tracing } from './tracing.ts';
import { settleWithin } from '../settle.ts';

export interface CreateTracingOptions {
  tenant: { namespace: string; name: string };
  replicaId: string;
  logger: Logger;
  storage: AsyncLocalStorage<TraceFrame>;
}

const TRACER_NAME = '@berth/runtime';
/** Export failures are logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 60_000;

const propagator = new W3CTraceContextPropagator();

/** The SDK sampler for the configured name and ratio. */
export function samplerFor(settings: Pick<TracingSettings, 'sampler' | 'ratio'>): Sampler {
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(settings.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.ratio) });
  }
}

let errorLogger: Logger | undefined;
let lastErrorLog = 0;
function installErrorHandler(logger: Logger): void {
  if (errorLogger) return;
  errorLogger = logger;
  // The SDK reports export failures here; without a handler they vanish.
  setGlobalErrorHandler((error) => {
    const now = Date.now();
    if (now - lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    lastErrorLog = now;
    errorLogger?.warn({ err: error instanceof Error ? error : { message: String(error) } }, 'Trace export failed (spans dropped; repeated failures are logged once a minute)');
  });
}

class ServerFrame implements TraceFrame {
  readonly owner: SdkTracing;
  readonly context: Context;
  /** The server span when this frame is a request's (undefined in an exchange's frame). */
  readonly span: Span | undefined;
  /** The backend span when this frame is an exchange's. */
  private readonly backend: BackendSpan | undefined;
  private described = false;

  constructor(owner: SdkTracing, context: Context, span: Span | undefined, backend?: BackendSpan) {
    this.owner = owner;
    this.context = context;
    this.span = span;
    this.backend = backend;
  }

  exchange(kind: Backend['kind'], request: JsonRpcRequest, ctx: Pick<ClientContext, 'era' | 'protocolVersion'>): ExchangeSpan {
    if (this.span && !this.described) {
      // The exchange knows the negotiated revision and era, which the headers may not carry (legacy initialize).
      this.described = true;
      this.span.setAttributes({ [Attr.mcpProtocolVersion]: ctx.protocolVersion, [Attr.era]: ctx.era });
    }
    return new BackendSpan(this.owner, this.context, kind, request, ctx);
  }

  inject(headers: Record<string, string>): void {
    propagator.inject(this.context, headers, defaultTextMapSetter);
  }

  peerFailed(outcome: 'transient' | 'fatal'): void {
    this.backend?.peerFailed(outcome);
  }
}

class BackendSpan implements ExchangeSpan {
  private readonly span: Span;
  private readonly frame: ServerFrame;
  private readonly owner: SdkTracing;
  private ended = false;
  private peerFailure: 'transient' | 'fatal' | undefined;

  constructor(owner: SdkTracing, parent: Context, kind: Backend['kind'], request: JsonRpcRequest, ctx: Pick<ClientContext, 'era' | 'protocolVersion'>) {
    this.owner = owner;
    const tool = request.method === 'tools/call' && typeof request.params?.name === 'string' ? request.params.name : undefined;
    const attributes: Attributes = {
      [Attr.backendKind]: kind,
      [Attr.mcpMethod]: request.method,
      [Attr.mcpProtocolVersion]: ctx.protocolVersion,
      [Attr.era]: ctx.era,
      [Attr.tenant]: owner.tenant,
    };
    if (tool !== undefined) {
      attributes[Attr.toolName] = tool;
      attributes[Attr.operationName] = 'execute_tool';
    }
    // In-process modules are internal work; stdio children and remote upstreams are calls out.
    const spanKind = kind === 'module' ? SpanKind.INTERNAL : SpanKind.CLIENT;
    this.span = owner.tracer.startSpan(tool === undefined ? request.method : `${request.method} ${tool}`, { kind: spanKind, attributes }, parent);
    this.frame = new ServerFrame(owner, trace.setSpan(parent, this.span), undefined, this);
  }

  peerFailed(outcome: 'transient' | 'fatal'): void {
    this.peerFailure = outcome;
  }

  run<T>(fn: () => T): T {
    return this.owner.storage.run(this.frame, fn);
  }

  end(outcome: ExchangeOutcome, response?: JsonRpcResponse): void {
    if (this.ended) return;
    this.ended = true;
    const result = outcome !== 'ok' && this.peerFailure ? this.peerFailure : backendOutcome(outcome, response);
    this.span.setAttributes({ [Attr.backendOutcome]: result, [Attr.exchangeOutcome]: outcome });
    if (response && 'error' in response) this.span.setAttribute(Attr.jsonrpcErrorCode, response.error.code);
    if (result !== 'ok') {
      this.span.setAttribute(Attr.errorType, outcome === 'error' && response && 'error' in response ? String(response.error.code) : outcome);
      this.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.span.end();
  }
}

const headerValue = (value: string | string[] | number | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value === undefined ? undefined : String(value);

class SdkTracing implements Tracing {
  readonly settings: TracingSettings;
  readonly tracer: ReturnType<TracerProvider['getTracer']>;
  readonly storage: AsyncLocalStorage<TraceFrame>;
  readonly tenant: string;
  private readonly provider: TracerProvider;
  private stopping: Promise<void> | undefined;

  constructor(settings: TracingSettings, opts: CreateTracingOptions) {
    this.settings = settings;
    this.storage = opts.storage;
    this.tenant = `${opts.tenant.namespace}/${opts.tenant.name}`;
    const exporter = new OTLPTraceExporter({ url: settings.endpoint, timeoutMillis: settings.exportTimeoutMs });
    const resource = defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(
        resourceFromAttributes({
          'service.name': settings.serviceName,
          'service.namespace': 'berth',
          'service.instance.id': opts.replicaId,
          'k8s.namespace.name': opts.tenant.namespace,
          [Attr.tenant]: this.tenant,
        }),
      );
    this.provider = new TracerProvider({
      resource,
      sampler: samplerFor(settings),
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.scheduleDelayMs, exportTimeoutMillis: settings.exportTimeoutMs })],
    });
    this.tracer = this.provider.getTracer(TRACER_NAME);
    installErrorHandler(opts.logger);
  }

  instrument(app: FastifyInstance, route: string): void {
    const frames = new WeakMap<FastifyRequest, ServerFrame>();
    app.addHook('onRequest', (request, reply, done) => {
      const parent = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
      const q = request.url.indexOf('?');
      const span = this.tracer.startSpan(
        `${request.method} ${route}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [Attr.httpMethod]: request.method,
            [Attr.httpRoute]: route,
            [Attr.urlPath]: q === -1 ? request.url : request.url.slice(0, q),
            [Attr.urlScheme]: 'http',
            [Attr.tenant]: this.tenant,
          },
        },
        parent,
      );
      const frame = new ServerFrame(this, trace.setSpan(parent, span), span);
      frames.set(request, frame);
      // 'close' fires for every response: sent, streamed (SSE), hijacked or cut off.
      reply.raw.once('close', () => endServerSpan(span, request, reply));
      done();
    });
    // Entered right before the handler, so the handler's async work (exchanges, upstream calls) inherits the frame.
    app.addHook('preHandler', (request, _reply, done) => {
      const frame = frames.get(request);
      if (!frame) {
        done();
        return;
      }
      const rpc = jsonRpcMethodOf(request.body);
      if (rpc.method !== undefined) frame.span?.setAttribute(Attr.mcpMethod, rpc.method);
      if (rpc.tool !== undefined) frame.span?.setAttribute(Attr.toolName, rpc.tool);
      if (rpc.batchSize !== undefined) frame.span?.setAttribute(Attr.batchSize, rpc.batchSize);
      const revision = headerValue(request.headers['mcp-protocol-version']);
      if (revision !== undefined) frame.span?.setAttribute(Attr.mcpProtocolVersion, revision);
      this.storage.run(frame, done);
    });
  }

  shutdown(timeoutMs = 2000): Promise<void> {
    this.stopping ??= settleWithin(this.provider.shutdown(), timeoutMs, { unref: true });
    return this.stopping;
  }
}

function endServerSpan(span: Span, request: FastifyRequest, reply: FastifyReply): void {
  const status = reply.raw.statusCode;
  const session = headerValue(request.headers['mcp-session-id']) ?? headerValue(reply.raw.getHeader('mcp-session-id'));
  span.setAttribute(Attr.httpStatus, status);
  if (session) span.setAttribute(Attr.sessionHash, sessionHash(session));
  if (status >= 500) {
    span.setAttribute(Attr.errorType, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** Builds the tracing of one runtime (called by `startTracing` after the dynamic import). */
export function createTracing(settings: TracingSettings, opts: CreateTracingOptions): Tracing {
  return new SdkTracing(settings, opts);
}
