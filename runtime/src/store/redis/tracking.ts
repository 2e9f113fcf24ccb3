/**
 * Server-assisted invalidation for read caches: Redis client-side-caching
 * support (CLIENT TRACKING, RESP2 redirect mode). A dedicated connection
 * subscribes to `__redis__:invalidate`; the command connection is told to
 * redirect there the invalidation of every key it reads. Tracking is trusted
 * only once a probe write made on the command connection came back as an
 * invalidation on the feed (same server, messages flowing). Any doubt — either
 * connection dropped or reconnected, tracking refused (old Redis, ACL) —
 * turns the feed off, and listeners empty their caches. A refusal closes
 * the feed connection for the life of the process.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Reads the key (tracked), then writes and deletes it: exactly one invalidation, and no key left behind. */
const PROBE = `redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1])
return 1`;

/** The longest wait between two attempts to start tracking after a probe failed. */
const MAX_RETRY_MS = 30_000;

/** The channel Redis delivers redirected invalidations on. */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

export interface InvalidationFeed {
  /** True while every key read on the command connection is tracked and its invalidations arrive here. */
  active(): boolean;
  /** Grows whenever tracking starts or stops: a read begun under another epoch must not be cached. */
  epoch(): number;
  /** `key` was changed, expired or evicted; null: forget everything (FLUSHALL, tracking lost). */
  onInvalidate(listener: (key: string | null) => void): () => void;
  close(): Promise<void>;
}

export interface InvalidationFeedOptions {
  /** The command connection whose reads are tracked. */
  command: Redis;
  /** Opens the feed connection (same target as the command connection). */
  connect: () => Redis;
  /** A key inside the tenant's prefix for the probe (set and deleted within one script). */
  probeKey: string;
  logger: Logger;
  /** How long a probe waits for its invalidation (ms). Default 2000. */
  probeTimeoutMs?: number;
  /** Delay before trying again after a failed start (ms). Default 1000. */
  retryMs?: number;
}

/** Starts the feed; it switches itself on once both connections are up and the probe came back. */
export function createInvalidationFeed(opts: InvalidationFeedOptions): InvalidationFeed {
  const { command, logger } = opts;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
  const retryMs = opts.retryMs ?? 1000;
  const listeners = new Set<(key: string | null) => void>();
  let active = false;
  let epoch = 0;
  let closed = false;
  let feedId: string | undefined;
  let feedGeneration = 0;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let retryDelay = retryMs;
  let refusedLogged = false;
  let refusedForGood = false;
  let probe: { done: (ok: boolean) => void } | undefined;

  const emit = (key: string | null): void => {
    for (const l of listeners) l(key);
  };
  const stop = (): void => {
    attempt++;
    if (probe) probe.done(false);
    if (!active) return;
    active = false;
    epoch++;
    emit(null);
  };

  const feed = opts.connect();
  feed.on('error', () => {}); // connection errors surface through the store's health checks
  feed.on('messageBuffer', (channel: Buffer, payload: Buffer[] | Buffer | null) => {
    if (String(channel) !== INVALIDATE_CHANNEL) return;
    if (payload === null) return emit(null);
    for (const raw of Array.isArray(payload) ? payload : [payload]) {
      const key = String(raw);
      if (probe && key === opts.probeKey) probe.done(true);
      emit(key);
    }
  });
  feed.on('close', () => {
    feedId = undefined;
    feedGeneration++;
    stop();
  });
  feed.on('ready', () => {
    void (async () => {
      const generation = feedGeneration;
      try {
        const id = String(await feed.client('ID'));
        await feed.subscribe(INVALIDATE_CHANNEL);
        if (generation !== feedGeneration || closed) return;
        feedId = id;
        await start();
      } catch (err) {
        refused(err);
      }
    })();
  });
  const onCommandLost = (): void => stop();
  const onCommandReady = (): void => void start().catch(refused);
  command.on('close', onCommandLost);
  command.on('ready', onCommandReady);

  function refused(err: unknown): void {
    if (closed) return;
    const message = (err as Error).message;
    if (!refusedLogged) {
      refusedLogged = true;
      logger.info({ err: { message } }, 'Redis client tracking unavailable; session reads go to Redis every time');
    }
    // Refused outright (ACL, a Redis without tracking): asking again changes nothing, and an idle
    // connection per replica is a cost at scale (the operator's tenant ACL refuses tracking).
    if (/NOPERM|unknown (sub)?command/i.test(message)) {
      refusedForGood = true;
      feed.disconnect();
      return;
    }
    clearTimeout(retry);
    retry = setTimeout(() => {
      // A feed on another server than the command connection (after a Sentinel failover) must reconnect to find the master.
      if (!closed && feed.status === 'ready') feed.disconnect(true);
    }, retryDelay);
    retry.unref();
    retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
  }

  async function start(): Promise<void> {
    if (closed || refusedForGood || active || feedId === undefined || command.status !== 'ready') return;
    const mine = ++attempt;
    await command.client('TRACKING', 'ON', 'REDIRECT', feedId);
    const came = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), probeTimeoutMs);
      timer.unref();
      probe = {
        done: (ok) => {
          clearTimeout(timer);
          probe = undefined;
          resolve(ok);
        },
      };
    });
    // Read (now tracked), then change it from this very connection: its invalidation must reach the feed.
    // One script, so the probe key never exists for anyone else to see.
    await command.eval(PROBE, 1, opts.probeKey, randomBytes(8).toString('hex'));
    const ok = await came;
    if (mine !== attempt || closed) return;
    if (!ok) throw new Error('the tracking probe did not come back on the invalidation connection');
    active = true;
    epoch++;
    refusedLogged = false;
    retryDelay = retryMs;
    logger.debug('Redis client tracking on: session reads are cached until Redis invalidates them');
  }

  return {
    active: () => active,
    epoch: () => epoch,
    onInvalidate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      stop();
      command.off('close', onCommandLost);
      command.off('ready', onCommandReady);
      await feed.quit().catch(() => {});
      feed.disconnect();
    },
  };
}
