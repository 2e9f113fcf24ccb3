/**
 * Composes and runs one runtime process: logger → backend → stores → auth
 * and limits → HTTP app → listen; SIGTERM/SIGINT drain it and exit 0 within
 * the configured grace period (plus half a second).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { AppDeps, BerthApp } from './app-types.ts';
import { createBackend } from './backend/create.ts';
import type { Backend } from './backend/types.ts';
import { resolveRedisUrl } from './config/load.ts';
import type { RuntimeConfig } from './config/runtime-config.ts';
import { createLogger } from './observability/logger.ts';
import { sharedMetrics } from './observability/metrics.ts';
import { startTracing } from './observability/tracing.ts';
import { withPolicy } from './policy/with-policy.ts';
import type { RateLimiterDeps } from './security/rate-limit/limiter.ts';
import { reportedNoneAuthenticator, unlimited, type Authenticator, type RequestLimiter } from './security/types.ts';
import { createMemoryStores } from './store/memory/index.ts';
import type { EventBus, EventStore, SessionStore } from './store/types.ts';

export interface StartOptions {
  /** Defaults to a pino logger at `runtime.logLevel` with tenant and replica fields. */
  logger?: Logger;
  /** Unique among the McpServer's replicas; defaults to BERTH_REPLICA_ID, HOSTNAME, or a random id. */
  replicaId?: string;
  env?: NodeJS.ProcessEnv;
  /** Drain on SIGTERM/SIGINT and exit (default true; tests start runtimes in-process with false). */
  handleSignals?: boolean;
  /** Log uncaught exceptions and unhandled rejections (default true). */
  handleProcessErrors?: boolean;
}

export interface RuntimeHandle {
  /** The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  url: string;
  port: number;
  app: BerthApp;
  backend: Backend;
  logger: Logger;
  /** Drains and releases everything (idempotent); resolves when done. */
  stop(reason?: string): Promise<void>;
  /** Resolves with the exit status once the runtime has stopped. */
  stopped: Promise<number>;
}

interface Stores {
  sessions: SessionStore;
  events: EventStore;
  bus: EventBus;
  redis?: RateLimiterDeps['redis'];
  keyPrefix: string;
  /** Redis deployments: the key layout, for owner routing. */
  keys?: import('./store/redis/keys.ts').Keys;
  /** Redis client tracking (not on a Cluster), for owner routing's heartbeat reads. */
  feed?: import('./store/redis/tracking.ts').InvalidationFeed;
  /** Redis pub/sub, for the session signals of replicas that serve sessions they do not own. */
  hub?: import('./store/redis/pubsub.ts').PubSubHub;
  close(): Promise<void>;
}

async function createStores(config: RuntimeConfig, logger: Logger, replicaId: string, env: NodeJS.ProcessEnv): Promise<Stores> {
  const url = resolveRedisUrl(config.runtime.redis, env);
  const { namespace, name } = config.tenant;
  if (!url) {
    const memory = createMemoryStores(config.spec);
    return {
      ...memory,
      keyPrefix: config.runtime.redis?.keyPrefix ?? `berth:{${namespace}/${name}}:`,
      close: async () => {
        await Promise.allSettled([memory.bus.close(), memory.events.close(), memory.sessions.close()]);
      },
    };
  }
  const { createRedisStores, keyPrefixFor } = await import('./store/redis/index.ts');
  const keyPrefix = config.runtime.redis?.keyPrefix ?? keyPrefixFor(namespace, name);
  const redis = await createRedisStores({ url, keyPrefix, spec: config.spec, logger, replicaId });
  return {
    sessions: redis.sessions,
    events: redis.events,
    bus: redis.bus,
    redis: redis.redis,
    keyPrefix,
    keys: redis.keys,
    hub: redis.hub,
    ...(redis.feed ? { feed: redis.feed } : {}),
    close: () => redis.close(),
  };
}

/**
 * The authenticator `spec.auth` names. Its code loads only when the config
 * needs it (OAuth brings jose): an `auth.none` runtime never loads it.
 */
async function createAuth(config: RuntimeConfig, logger: Logger): Promise<Authenticator> {
  if (config.spec.auth.none && !config.spec.auth.oauth && !config.spec.auth.apiKeys) return reportedNoneAuthenticator(logger.child({ component: 'auth' }));
  const { createAuthenticator } = await import('./security/authenticator.ts');
  return createAuthenticator(config, { logger });
}

/** Whether `spec.rateLimits` names any limit. */
function hasRateLimits(config: RuntimeConfig): boolean {
  const { global, perPrincipal, perSession, tools } = config.spec.rateLimits;
  return global !== undefined || perPrincipal !== undefined || perSession !== undefined || Object.keys(tools).length > 0;
}

/** The limiter for `spec.rateLimits`; without limits, one that admits everything (and the limiter code stays unloaded). */
async function createLimiter(config: RuntimeConfig, deps: RateLimiterDeps): Promise<RequestLimiter> {
  if (!hasRateLimits(config)) return unlimited();
  const { createRateLimiter } = await import('./security/rate-limit/limiter.ts');
  return createRateLimiter(config, deps);
}

/** Owner routing between replicas; the internal token comes from runtime.internalTokenFile or is agreed through Redis. */
async function createCluster(
  config: RuntimeConfig,
  parts: Omit<import('./cluster/legacy-cluster.ts').LegacyClusterOptions, 'idleTimeoutSeconds' | 'toolCallTimeoutMs' | 'token'>,
): Promise<import('./cluster/legacy-cluster.ts').LegacyCluster> {
  const { createLegacyCluster } = await import('./cluster/legacy-cluster.ts');
  const file = config.runtime.internalTokenFile;
  const token = file ? (await import('node:fs')).readFileSync(file, 'utf8').trim() : undefined;
  return createLegacyCluster({
    ...parts,
    idleTimeoutSeconds: config.spec.session.idleTimeoutSeconds,
    toolCallTimeoutMs: config.spec.timeouts.toolCallSeconds * 1000,
    ...(token ? { token } : {}),
  });
}

/** Where other replicas reach this one: BERTH_INTERNAL_URL, else http://$POD_IP:<port>, else the listen address. */
function internalUrl(config: RuntimeConfig, port: number, env: NodeJS.ProcessEnv): string {
  if (env.BERTH_INTERNAL_URL) return env.BERTH_INTERNAL_URL.replace(/\/+$/, '');
  const host = env.POD_IP || urlHost(config.runtime.listen.host);
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** Reads the internal token on each use, so a rotated Secret file takes effect; undefined when none is configured. */
function internalTokenReader(config: RuntimeConfig): () => string | undefined {
  const file = config.runtime.internalTokenFile;
  return () => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  };
}

let processHandlersInstalled = false;
function installProcessHandlers(logger: Logger, onFatal: () => void): void {
  if (processHandlersInstalled) return;
  processHandlersInstalled = true;
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'Uncaught exception; shutting down');
    onFatal();
  });
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason instanceof Error ? reason : { message: String(reason) } }, 'Unhandled promise rejection');
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts the runtime described by `config`; rejects (after releasing what started) when any part fails. */
export async function startRuntime(config: RuntimeConfig, opts: StartOptions = {}): Promise<RuntimeHandle> {
  const env = opts.env ?? process.env;
  const tenant = `${config.tenant.namespace}/${config.tenant.name}`;
  const replicaId = opts.replicaId ?? (env.BERTH_REPLICA_ID || env.HOSTNAME || `local-${randomBytes(4).toString('hex')}`);
  const logger = opts.logger ?? createLogger({ level: config.runtime.logLevel, tenant, replica: replicaId });
  const cleanups: Array<[string, () => Promise<unknown>]> = [];
  const release = async (only?: string): Promise<void> => {
    const picked = only === undefined ? cleanups.splice(0) : cleanups.filter(([what]) => what === only);
    for (const [what, fn] of picked.reverse()) {
      try {
        await fn();
      } catch (error) {
        logger.warn({ err: error, component: what }, 'Failed to release a component');
      }
    }
  };

  let app: BerthApp;
  let backend: Backend;
  try {
    // Invalid OTEL_* settings fail here, before anything starts; untraced, no SDK is loaded.
    const tracing = await startTracing(env, { tenant: config.tenant, replicaId, logger });
    if (tracing) cleanups.push(['tracing', () => tracing.shutdown()]);
    const stores = await createStores(config, logger, replicaId, env);
    cleanups.push(['stores', () => stores.close()]);
    const auth = await createAuth(config, logger);
    cleanups.push(['auth', () => auth.close()]);
    const limiter = await createLimiter(config, { redis: stores.redis, keyPrefix: stores.keyPrefix, logger });
    cleanups.push(['limiter', () => limiter.close()]);
    // spec.tools and spec.output apply identically to every backend kind.
    const policed = withPolicy(await createBackend(config, logger), config, { authenticator: auth, limiter, logger, registry: sharedMetrics.registry });
    backend = policed;
    await policed.start();
    cleanups.push(['backend', () => policed.close(Date.now())]);
    const cluster = stores.redis && stores.keys ? await createCluster(config, { redis: stores.redis, keys: stores.keys, events: stores.events, backend, replicaId, logger, ...(stores.feed ? { feed: stores.feed } : {}), ...(stores.hub ? { hub: stores.hub } : {}) }) : undefined;
    const admin = { report: () => policed.auditReport(), refresh: () => policed.refreshAudit(), token: internalTokenReader(config) };
    const deps: AppDeps = { config, backend, sessions: stores.sessions, events: stores.events, bus: stores.bus, logger, auth, limiter, replicaId, admin, ...(cluster && { cluster }), ...(tracing && { tracing }) };
    app = await buildApp(deps);
    cleanups.push(['http', () => app.app.close()]);
    await app.app.listen({ host: config.runtime.listen.host, port: config.runtime.listen.port });
    if (cluster) {
      const listening = (app.app.server.address() as AddressInfo).port;
      await cluster.start(internalUrl(config, listening, env));
      cleanups.push(['cluster', () => cluster.stop()]);
    }
  } catch (error) {
    await release();
    throw error;
  }

  const port = (app.app.server.address() as AddressInfo).port;
  const url = `http://${urlHost(config.runtime.listen.host)}:${port}${config.spec.endpoint.path}`;
  logger.info({ url, source: backend.kind }, 'Berth runtime listening');

  const graceMs = Math.round(config.spec.drain.gracePeriodSeconds * 1000);
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (reason = 'stop requested'): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason, graceSeconds: graceMs / 1000 }, 'Stopping');
      // A drain is when someone is watching the logs: the line goes out now, not with the next batch.
      logger.flush();
      try {
        // The app's drain closes the backend, the stores' sessions/events/bus, auth, limits and HTTP.
        await app.drain();
        await release('stores');
        // Last: the spans of the drained requests are exported before exit.
        await release('tracing');
      } catch (error) {
        logger.error({ err: error }, 'Drain failed');
        await release();
      }
      logger.info('Stopped');
    })();
    return stopping;
  };

  if (opts.handleSignals !== false) {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        logger.warn({ signal }, 'Second signal; exiting now');
        process.exit(0);
      }
      signalled = true;
      // The process must be gone before the orchestrator's SIGKILL: grace plus a small margin.
      setTimeout(() => {
        logger.warn({ graceSeconds: graceMs / 1000 }, 'Drain exceeded the grace period; exiting');
        process.exit(0);
      }, graceMs + 500).unref();
      void stop(`received ${signal}`).then(() => {
        resolveStopped(0);
        process.exit(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  if (opts.handleProcessErrors !== false) {
    installProcessHandlers(logger, () => {
      setTimeout(() => process.exit(1), graceMs + 500).unref();
      void stop('uncaught exception').finally(() => process.exit(1));
    });
  }

  return {
    url,
    port,
    app,
    backend,
    logger,
    stopped,
    stop: async (reason) => {
      await stop(reason);
      resolveStopped(0);
    },
  };
}
