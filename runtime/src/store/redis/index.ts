/**
 * Redis-backed stores for one McpServer: sessions, events, the change-event
 * bus, and the shared command client (also used by the rate limiter and the
 * cluster ownership component). Three connections per replica: one for
 * commands, one for pub/sub, and (not on a Cluster) one that receives the
 * client-tracking invalidations of cached session records, closed again
 * where Redis refuses tracking.
 */
import type { Logger } from 'pino';
import type { McpServerSpec } from '../../config/spec.ts';
import type { EventBus, EventStore, SessionStore } from '../types.ts';
import { createCommandClient, createFeedConnection, createSubscriberFactory, isCluster, waitReady, type RedisClient } from './connection.ts';
import { createRedisEventBus } from './event-bus.ts';
import { createRedisEventStore } from './event-store.ts';
import { trackHealth } from './health.ts';
import { assertClusterSafePrefix, keysFor, type Keys } from './keys.ts';
import { createPubSubHub, type PubSubHub } from './pubsub.ts';
import { ALL_SCRIPTS, defineScripts } from './scripts.ts';
import { createRedisSessionStore } from './session-store.ts';
import { createInvalidationFeed, type InvalidationFeed } from './tracking.ts';
import { parseRedisUrl, redactRedisUrl, type RedisTarget } from './url.ts';

export { keyPrefixFor, keysFor } from './keys.ts';
export { parseRedisUrl, redactRedisUrl, RedisUrlError } from './url.ts';
export type { RedisClient } from './connection.ts';

export interface RedisStoreSettings {
  /** See url.ts for the accepted forms (standalone, TLS, Sentinel, Cluster). */
  url: string;
  /** Use keyPrefixFor(namespace, name). */
  keyPrefix: string;
  spec: Pick<McpServerSpec, 'session'>;
  logger: Logger;
  replicaId: string;
  /** How long to wait for the first connection before returning unready stores (they keep reconnecting). Default 3000 ms. */
  connectWaitMs?: number;
  /** Per-command timeout (ms). Default 2000. */
  commandTimeoutMs?: number;
}

export interface RedisStores {
  sessions: SessionStore;
  events: EventStore;
  bus: EventBus;
  /** The command client (auto-pipelined, fails fast while disconnected). */
  redis: RedisClient;
  /** The pub/sub hub on the subscriber connection (for components that need more channels). */
  hub: PubSubHub;
  keys: Keys;
  target: RedisTarget;
  /** Both connections up and no recent command failure: feeds `/ready`. */
  healthy(): boolean;
  /** Whether session reads are served from the client-tracking cache right now (never on a Cluster). */
  tracking(): boolean;
  /** The client-tracking invalidation feed (not on a Cluster), for other tracked caches. */
  feed?: InvalidationFeed;
  close(): Promise<void>;
}

/** Connects to Redis and builds the stores; never throws for an unreachable server (only for a bad URL or prefix). */
export async function createRedisStores(settings: RedisStoreSettings): Promise<RedisStores> {
  const target = parseRedisUrl(settings.url);
  if (target.mode === 'cluster') assertClusterSafePrefix(settings.keyPrefix);
  const logger = settings.logger.child({ component: 'redis' });
  const tuning = {
    connectionName: `berth:${settings.replicaId}`,
    ...(settings.commandTimeoutMs !== undefined ? { commandTimeoutMs: settings.commandTimeoutMs } : {}),
  };
  const redis = createCommandClient(target, tuning);
  const connectSubscriber = createSubscriberFactory(target, tuning, redis);
  let lastErrorLog = 0;
  const onError = (err: Error) => {
    // ioredis emits an error per failed reconnect; keep the log readable during an outage.
    if (Date.now() - lastErrorLog > 10_000) {
      lastErrorLog = Date.now();
      logger.warn({ err: { message: err.message }, url: redactRedisUrl(settings.url) }, 'Redis connection error');
    }
  };
  redis.on('error', onError);
  defineScripts(redis, ALL_SCRIPTS);

  const started = Date.now();
  const waitMs = settings.connectWaitMs ?? 3000;
  const ready = await waitReady(redis, waitMs);
  const hub = createPubSubHub(connectSubscriber, logger);
  const subReady = ready && (await hub.waitConnected(Math.max(0, waitMs - (Date.now() - started))));
  if (!subReady) logger.warn({ url: redactRedisUrl(settings.url) }, 'Redis not reachable yet; not ready until it is');
  else logger.info({ mode: target.mode, cluster: isCluster(redis) }, 'Connected to Redis');

  const keys = keysFor(settings.keyPrefix);
  const health = trackHealth(redis, () => hub.connected(), logger);
  const session = settings.spec.session;
  // Tracking is per node; on a Cluster session reads keep going to Redis every time.
  const feed: InvalidationFeed | undefined = isCluster(redis)
    ? undefined
    : createInvalidationFeed({
        command: redis,
        connect: () => createFeedConnection(target, { ...tuning, connectionName: `${tuning.connectionName}:invalidate` }),
        probeKey: keys.trackingProbe,
        logger,
      });
  // Classic pub/sub everywhere: on a Cluster it is broadcast over the bus, which ioredis follows across failovers.
  const publishCommand = 'publish' as const;
  const sessions = createRedisSessionStore({
    client: redis,
    keys,
    health,
    idleTimeoutSeconds: session.idleTimeoutSeconds,
    maxSessions: session.maxSessions,
    ...(feed ? { feed } : {}),
  });
  const events = createRedisEventStore({
    client: redis,
    hub,
    keys,
    health,
    logger,
    maxEvents: session.resumability.maxEvents,
    retentionSeconds: session.resumability.retentionSeconds,
    idleTimeoutSeconds: session.idleTimeoutSeconds,
    publishCommand,
  });
  const bus = createRedisEventBus({ client: redis, hub, keys, health, logger });

  let closed = false;
  return {
    sessions,
    events,
    bus,
    redis,
    hub,
    keys,
    target,
    healthy: () => health.healthy(),
    tracking: () => sessions.trackedCache?.() ?? false,
    ...(feed ? { feed } : {}),
    async close() {
      if (closed) return;
      closed = true;
      health.stop();
      await bus.close();
      await events.close();
      await feed?.close();
      await hub.close();
      await redis.quit().catch(() => {});
      redis.disconnect();
    },
  };
}

