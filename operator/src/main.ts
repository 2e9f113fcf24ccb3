/**
 * The operator process: settings → Kubernetes client → Redis admin → manager
 * (caches, leader election, workers) → probe server; SIGTERM/SIGINT shut it
 * down gracefully (the lease is released so a standby takes over at once).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { loadOperatorConfig, OperatorConfigError, type OperatorConfig } from './config.ts';
import { Manager, type ManagerOptions } from './controller/manager.ts';
import { startProbeServer } from './http/server.ts';
import { KubeClient } from './kube/client.ts';
import { createMetrics, type OperatorMetrics } from './metrics.ts';
import { connectTenantRedis, type TenantRedis } from './redis/tenants.ts';

export interface OperatorHandle {
  manager: Manager;
  server: Server;
  metrics: OperatorMetrics;
  redis: TenantRedis | undefined;
  /** Graceful stop: release the lease, finish in-flight reconciles, close everything. */
  stop(): Promise<void>;
}

export interface StartOptions {
  client?: KubeClient;
  log?: Logger;
  readAudit?: ManagerOptions['readAudit'];
  /** Collect process metrics (off for several operators in one test process). */
  defaultMetrics?: boolean;
}

function redisAdminUrl(config: OperatorConfig): string | undefined {
  if (config.redis.adminUrlFile) return readFileSync(config.redis.adminUrlFile, 'utf8').trim();
  return config.redis.adminUrl || undefined;
}

/** Starts an operator in this process. */
export async function startOperator(config: OperatorConfig, opts: StartOptions = {}): Promise<OperatorHandle> {
  const log = opts.log ?? pino({ name: 'berth-operator', level: config.logLevel });
  const client = opts.client ?? KubeClient.fromDefault();
  const metrics = createMetrics(opts.defaultMetrics ?? true);
  const adminUrl = redisAdminUrl(config);
  const redis = adminUrl ? connectTenantRedis(adminUrl, config.redis.aclCommands, log.child({ component: 'redis' })) : undefined;
  if (!redis) log.warn('No Redis admin URL configured: tenants get no ACL users and no Redis unless spec.redis names a Secret');
  const manager = new Manager({ client, config, log, metrics, redis: redis && adminUrl ? { admin: redis, adminUrl } : undefined, readAudit: opts.readAudit });
  const staleLimitMs = config.watchStaleSeconds * 3000;
  const server = await startProbeServer({
    host: config.http.host,
    port: config.http.port,
    registry: metrics.registry,
    healthy: () => !manager.synced() || ['McpServer'].every((k) => (manager.informer(k)?.silenceMs() ?? 0) < staleLimitMs),
    ready: () => manager.synced(),
  });
  const started = manager.start();
  started.catch((err: Error) => log.error({ err: err.message }, 'Could not start the manager'));
  let stopped: Promise<void> | undefined;
  return {
    manager,
    server,
    metrics,
    redis,
    stop: () =>
      (stopped ??= (async () => {
        await started.catch(() => undefined);
        await manager.stop();
        await redis?.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        client.close();
      })()),
  };
}

async function main(): Promise<void> {
  let config: OperatorConfig;
  try {
    config = loadOperatorConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof OperatorConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`berth-operator: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ name: 'berth-operator', level: config.logLevel });
  const handle = await startOperator(config, { log });
  log.info({ port: (handle.server.address() as { port: number }).port, namespace: config.namespace || '(all)', identity: handle.manager.identity }, 'Started the operator');
  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(1);
    log.info({ signal }, 'Shutting down');
    const force = setTimeout(() => {
      log.error('Shutdown took too long; exiting');
      process.exit(1);
    }, 25_000);
    force.unref();
    handle.stop().then(
      () => {
        log.info('Stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err: err.message }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.main) {
  main().catch((err: Error) => {
    process.stderr.write(`berth-operator: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
