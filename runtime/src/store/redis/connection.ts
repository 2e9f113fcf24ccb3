/**
 * ioredis clients for a parsed Redis target. Tuned to fail fast: no offline
 * queue and no per-command retries on the command connection, a short command
 * timeout, and endless background reconnects — so a Redis outage turns into
 * quick StoreUnavailableErrors (HTTP 503) and heals by itself.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './url.ts';

export type RedisClient = Redis | Cluster;

export interface ConnectionTuning {
  /** Connection name shown in CLIENT LIST. */
  connectionName: string;
  /** A command that has not answered by then fails (ms). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Whether a client is a Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * The command connection: fail fast while disconnected. Commands are written
 * as they are issued and the socket coalesces everything written in one turn
 * of the event loop into one write (see coalesceWrites); a Redis Cluster
 * client, whose node sockets come and go, uses ioredis' auto-pipelining.
 */
export function createCommandClient(target: RedisTarget, tuning: ConnectionTuning): RedisClient {
  const cluster = target.mode === 'cluster';
  const client = create(target, tuning, { enableOfflineQueue: false, maxRetriesPerRequest: 0, enableAutoPipelining: cluster });
  if (!isCluster(client)) coalesceWrites(client);
  return client;
}

const COALESCING = Symbol('berth.coalescing');

type CorkableStream = NodeJS.WritableStream & { cork(): void; uncork(): void; [COALESCING]?: true };

/**
 * Everything written to a connection during one turn of the event loop goes
 * out in one socket write: concurrent requests each issue their commands in
 * a tick of their own, and a write system call per command (and a read on
 * Redis' side) is the dearest part of a round trip on a busy replica. The
 * flush runs in the same loop iteration (setImmediate), so nothing waits for
 * a timer. Unlike auto-pipelining this costs no pipeline object per batch.
 */
export function coalesceWrites(client: Redis): void {
  const patch = (): void => {
    const stream = (client as unknown as { stream?: CorkableStream }).stream;
    if (!stream || typeof stream.cork !== 'function' || stream[COALESCING]) return;
    stream[COALESCING] = true;
    const write = stream.write;
    let corked = false;
    const flush = (): void => {
      corked = false;
      stream.uncork();
    };
    stream.write = function (...args: unknown[]): boolean {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(flush);
      }
      return (write as (...a: unknown[]) => boolean).apply(stream, args);
    } as CorkableStream['write'];
  };
  client.on('connect', patch);
  patch();
}

/**
 * Connections for pub/sub. Standalone and Sentinel: one connection that
 * reconnects forever. Cluster: classic pub/sub is broadcast to every node, so
 * any node will do; each call connects to the next known node and gives up
 * after a few failed reconnects (the hub then asks for another node).
 * (ioredis' own Cluster subscriber can drop subscriptions issued while it
 * re-selects its node at start-up, hence a plain connection here.)
 */
export function createSubscriberFactory(target: RedisTarget, tuning: ConnectionTuning, command: RedisClient): () => Redis {
  const subTuning = { ...tuning, connectionName: `${tuning.connectionName}:sub` };
  const mode = { enableOfflineQueue: true, maxRetriesPerRequest: null, enableAutoPipelining: false, subscriber: true };
  if (target.mode !== 'cluster') return () => create(target, subTuning, mode) as Redis;
  let next = 0;
  return () => {
    const discovered = isCluster(command) ? command.nodes('all').map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 })) : [];
    const candidates = discovered.length ? discovered : target.nodes;
    const node = candidates[next++ % candidates.length]!;
    const redis = create({ ...target, mode: 'standalone', host: node.host, port: node.port, db: 0 }, subTuning, mode) as Redis;
    redis.options.retryStrategy = (times: number) => (times > 3 ? null : 200);
    return redis;
  };
}

/**
 * The connection of the client-tracking invalidation feed (standalone and
 * Sentinel): reconnects forever and does not resubscribe by itself, because
 * the feed must learn its new client id before it subscribes again.
 */
export function createFeedConnection(target: RedisTarget, tuning: ConnectionTuning): Redis {
  return create(target, tuning, { enableOfflineQueue: true, maxRetriesPerRequest: null, enableAutoPipelining: false, subscriber: true, resubscribe: false }) as Redis;
}

function create(
  target: RedisTarget,
  tuning: ConnectionTuning,
  mode: { enableOfflineQueue: boolean; maxRetriesPerRequest: number | null; enableAutoPipelining: boolean; subscriber?: boolean; resubscribe?: boolean },
): RedisClient {
  const tls = target.tls ? (target.tlsInsecure ? { rejectUnauthorized: false } : {}) : undefined;
  const base: RedisOptions = {
    connectionName: tuning.connectionName,
    connectTimeout: tuning.connectTimeoutMs ?? 2000,
    // Subscriber connections idle legitimately; a timeout there would only cause churn.
    ...(mode.subscriber ? {} : { commandTimeout: tuning.commandTimeoutMs ?? 2000 }),
    enableOfflineQueue: mode.enableOfflineQueue,
    maxRetriesPerRequest: mode.maxRetriesPerRequest,
    enableAutoPipelining: mode.enableAutoPipelining,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    // A replica that was promoted/demoted answers READONLY; reconnect to find the master.
    reconnectOnError: (err: Error) => (/READONLY/.test(err.message) ? 2 : false),
    autoResubscribe: mode.resubscribe ?? true,
    lazyConnect: false,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(tls ? { tls } : {}),
  };
  if (target.mode === 'standalone') {
    return new Redis({ ...base, host: target.host, port: target.port, db: target.db });
  }
  if (target.mode === 'sentinel') {
    return new Redis({
      ...base,
      sentinels: target.sentinels,
      name: target.masterName,
      db: target.db,
      ...(target.sentinelUsername ? { sentinelUsername: target.sentinelUsername } : {}),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    });
  }
  const clusterOptions: ClusterOptions = {
    redisOptions: base,
    // Without the Cluster-level queue, ioredis' own ready check fails whenever it samples a node
    // that is still connecting, and the client restarts over and over. Fail-fast instead comes
    // from the stores refusing calls while the client is not ready, and from commandTimeout.
    enableOfflineQueue: true,
    enableAutoPipelining: mode.enableAutoPipelining,
    maxRedirections: 16,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    scaleReads: 'master',
  };
  return new Cluster(target.nodes, clusterOptions);
}

/** Resolves when the client is ready, or after `timeoutMs` (the caller keeps an unready client; it keeps reconnecting). */
export function waitReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    client.on('ready', onReady);
  });
}
