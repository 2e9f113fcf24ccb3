/**
 * Builds the runtime's fastify app from injected dependencies: the MCP
 * endpoint (both protocol eras), probes, metrics and well-known documents.
 * `main.ts` listens; `drain()` runs the shutdown sequence.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError } from 'fastify';
import type { AppDeps, BerthApp } from './app-types.ts';
import { createAppMetrics } from './observability/metrics.ts';
import { noneAuthenticator, unlimited } from './security/types.ts';
import { ChangeHub } from './http/change-hub.ts';
import type { RuntimeContext } from './http/context.ts';
import { HttpErrors, sendError } from './http/errors.ts';
import { ExchangeTracker } from './http/exchange.ts';
import { buildOriginPolicy } from './http/guards.ts';
import { healthPlugin } from './http/health.ts';
import { LegacySessions } from './http/legacy.ts';
import { ListenService } from './http/listen.ts';
import { mcpRoutes } from './http/mcp-route.ts';
import { metricsPlugin } from './http/metrics.ts';
import { createModernHandler } from './http/modern.ts';
import { DRAIN_RETRY_MS, SseHub } from './http/sse.ts';
import { wellKnownPlugin } from './http/well-known.ts';
import { NO_ROUTE_SCHEMAS } from './http/no-route-schemas.ts';
import { adminAuditPlugin } from './policy/admin-plugin.ts';
import { settleWithin } from './settle.ts';

/** SSE keep-alive comment interval. */
const KEEPALIVE_MS = 15_000;
/** Drain must resolve within the grace period plus this margin. */
const DRAIN_MARGIN_MS = 400;

/** Resolves when `promise` settles or at `deadline` (epoch ms), whichever is first. */
const until = (promise: Promise<unknown>, deadline: number): Promise<void> => settleWithin(promise, deadline - Date.now());

/** Builds the app; the returned fastify instance is ready to `listen` or `inject`. */
export async function buildApp(deps: AppDeps): Promise<BerthApp> {
  const { config, backend, sessions, events, bus } = deps;
  const spec = config.spec;
  const tenant = `${config.tenant.namespace}/${config.tenant.name}`;
  const replicaId = deps.replicaId ?? randomBytes(6).toString('hex');
  const bindings = deps.logger.bindings();
  const logger = deps.logger.child({ component: 'http', ...(bindings.tenant === undefined && { tenant }), ...(bindings.replica === undefined && { replica: replicaId }) });
  const metrics = createAppMetrics();
  const tracker = new ExchangeTracker();
  const hub = new SseHub({ keepAliveMs: KEEPALIVE_MS, lifetimeMs: spec.timeouts.streamSeconds * 1000 });
  const changes = new ChangeHub(bus, backend, logger);
  const rt: RuntimeContext = {
    spec,
    tenant,
    replicaId,
    backend,
    sessions,
    events,
    bus,
    auth: deps.auth ?? noneAuthenticator(),
    limiter: deps.limiter ?? unlimited(),
    logger,
    metrics,
    hub,
    tracker,
    changes,
    exchangeHost: { backend, metrics, logger, tracker, timeoutMs: spec.timeouts.toolCallSeconds * 1000 },
    ...(deps.cluster && { cluster: deps.cluster }),
    state: 'starting',
  };
  const legacy = new LegacySessions(rt);
  const listen = new ListenService(rt);
  metrics.bind({
    sessions: () => legacy.sessionCount,
    inflight: () => tracker.size,
    streams: () => hub.count(),
    draining: () => rt.state === 'draining' || rt.state === 'stopped',
    trackedSessionCache: () => rt.sessions.trackedCache?.() ?? false,
  });

  const requestMs = spec.timeouts.requestSeconds * 1000;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Request lines come from the MCP layer (with tenant/session/tool); no per-request child loggers.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (parent) => parent,
    bodyLimit: spec.endpoint.maxBodyBytes,
    requestTimeout: requestMs,
    keepAliveTimeout: spec.timeouts.keepAliveSeconds * 1000,
    forceCloseConnections: true,
    return503OnClosing: true,
    exposeHeadRoutes: false,
    schemaController: NO_ROUTE_SCHEMAS,
    http: { requestTimeout: requestMs, headersTimeout: requestMs, connectionsCheckingInterval: Math.min(1000, requestMs) },
  });
  app.decorateRequest('principal', null);
  app.setNotFoundHandler((_request, reply) => sendError(reply, HttpErrors.NOT_FOUND));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) logger.error({ err: error, url: request.url }, 'Unexpected error');
    if (reply.sent || reply.raw.headersSent) return;
    sendError(reply, status >= 500 ? HttpErrors.INTERNAL : { status, code: -32000, message: error.message, category: 'bad_request' });
  });

  const reserved = [spec.endpoint.path, '/health', '/ready', '/metrics', '/admin/audit'];
  await app.register(healthPlugin, { rt });
  await app.register(metricsPlugin, { rt });
  await app.register(wellKnownPlugin, { rt, reserved });
  if (deps.admin) await app.register(adminAuditPlugin, deps.admin);
  await app.register(mcpRoutes, {
    rt,
    policy: buildOriginPolicy(spec.endpoint, config.runtime.listen.host),
    legacy,
    modern: createModernHandler(rt, listen),
    ...(deps.tracing && { tracing: deps.tracing }),
  });
  app.addHook('onClose', async () => {
    changes.stop();
    legacy.stop();
    hub.stop();
    tracker.stop();
  });

  changes.start();
  await app.ready();
  rt.state = 'ready';

  let draining: Promise<void> | undefined;
  const drain = (): Promise<void> => {
    draining ??= (async () => {
      const t0 = Date.now();
      const graceMs = spec.drain.gracePeriodSeconds * 1000;
      const hardDeadline = t0 + graceMs + DRAIN_MARGIN_MS;
      rt.state = 'draining';
      // Other replicas stop forwarding here and claim new requests of our sessions.
      void deps.cluster?.drain().catch(() => {});
      logger.info({ inflight: tracker.size, streams: hub.count(), graceMs }, 'Draining');
      // Idle streams go at once, with a hint to reconnect (to another replica).
      hub.expireAll(['get', 'listen'], DRAIN_RETRY_MS);
      await until(tracker.idle(), t0 + graceMs);
      const interrupted = tracker.size;
      tracker.interruptAll();
      // Interrupted exchanges write their final result, then close their streams; give them a moment.
      await hub.settled(['post'], Math.min(Date.now() + 200, hardDeadline - 200));
      hub.expireAll(['post', 'get', 'listen'], DRAIN_RETRY_MS);
      changes.stop();
      legacy.stop();
      rt.backendClosing = true;
      await until(backend.close(Math.min(t0 + graceMs + 200, hardDeadline)), hardDeadline);
      // In-flight work is over: release every session this replica owned.
      if (deps.cluster) await until(deps.cluster.stop(), hardDeadline);
      await until(
        Promise.allSettled([sessions.close(), events.close(), bus.close(), rt.auth.close(), rt.limiter.close()]),
        hardDeadline,
      );
      await until(app.close(), hardDeadline);
      rt.state = 'stopped';
      logger.info({ durationMs: Date.now() - t0, interrupted }, 'Drained');
    })();
    return draining;
  };

  return { app, drain, state: () => rt.state };
}
