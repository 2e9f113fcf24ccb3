/**
 * Session ownership among the replicas of one McpServer. Each replica
 * heartbeats `<p>r:<replicaId>` (its internal URL and a draining flag) with a
 * short TTL; a session's owner is `owner` in its record. A request for a
 * session owned by a live, non-draining replica is forwarded there; otherwise
 * the receiving replica claims the session in the same atomic script.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import type { RedisClient } from '../store/redis/connection.ts';
import type { Keys } from '../store/redis/keys.ts';
import { defineScripts, runScript } from '../store/redis/scripts.ts';
import { TrackedCache } from '../store/redis/tracked-cache.ts';
import type { InvalidationFeed } from '../store/redis/tracking.ts';
import { StoreUnavailableError } from '../store/types.ts';
import { CLUSTER_SCRIPTS, heartbeat, heartbeatRead, routeSession } from './scripts.ts';

export type Route =
  /** Serve here. `claimed`: this replica just took the session over (from `previousOwner`, or nobody). */
  | { kind: 'local'; claimed: boolean; previousOwner?: string }
  | { kind: 'forward'; owner: string; url: string }
  /** The session record is gone (expired, deleted, Redis lost it). */
  | { kind: 'gone' };

export interface OwnershipOptions {
  redis: RedisClient;
  keys: Keys;
  replicaId: string;
  logger: Logger;
  /** Shared secret for the internal hop; when absent one is agreed through Redis (`<p>token`). */
  token?: string;
  heartbeatMs?: number;
  /** Heartbeat TTL: a replica silent this long is gone. */
  ttlMs?: number;
  /** Client tracking: other replicas' heartbeats are then read from memory until Redis invalidates them. */
  feed?: InvalidationFeed;
}

export interface Ownership {
  readonly replicaId: string;
  /** Starts heartbeating with the internal base URL other replicas forward to. */
  start(internalUrl: string): Promise<void>;
  /** Marks this replica draining at once: others stop forwarding here and claim its sessions. */
  setDraining(): Promise<void>;
  /** Stops heartbeating and deletes the heartbeat: every session this replica owned is free to claim. */
  stop(): Promise<void>;
  /** Where a POST/DELETE of `sessionId` is served. `deadOwner`: an owner known to be dead (claim even if its heartbeat lingers). */
  route(sessionId: string, deadOwner?: string): Promise<Route>;
  /**
   * The URL to forward to when `owner` (read from a session record) is another
   * live, non-draining replica, decided from a tracked heartbeat with no
   * Redis call when cached; undefined: ask route() (no tracking, no
   * heartbeat, draining, or Redis failing).
   */
  forwardTarget(owner: string): Promise<string | undefined>;
  /**
   * Whether `owner` is this replica or another live, non-draining one: from
   * the tracked heartbeat when tracking is on, else one GET. False when Redis
   * fails (the caller then routes through route(), which answers for itself).
   */
  serving(owner: string | undefined): Promise<boolean>;
  /** Tokens accepted on the internal hop (current first). */
  tokens(): readonly string[];
  /** The internal URL a replica advertises, or undefined when it has no live heartbeat. */
  lookup(replicaId: string): Promise<{ url: string; draining: boolean } | undefined>;
  /** Deletes a dead replica's heartbeat so every replica agrees at once. */
  bury(replicaId: string): Promise<void>;
  readonly heartbeatMs: number;
}

const TOKEN_TTL_MS = 7 * 86400 * 1000;

/** A tracked heartbeat is read from Redis again at least this often. */
const HEARTBEAT_CACHE_MAX_AGE_MS = 10_000;

/** A heartbeat's value: the replica's internal URL and whether it drains; undefined when malformed. */
export function parseHeartbeat(raw: string | null): { url: string; draining: boolean } | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as { u?: unknown; d?: unknown };
    return typeof v.u === 'string' ? { url: v.u, draining: v.d === 1 } : undefined;
  } catch {
    return undefined;
  }
}

/** Replica ids go into keys and tab-separated entries: keep them to a safe alphabet. */
export function assertReplicaId(id: string): void {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) throw new Error(`replica id "${id}" must match [A-Za-z0-9._:-]{1,128}`);
}

/** Creates the ownership component (call start() once the internal URL is known). */
export function createOwnership(opts: OwnershipOptions): Ownership {
  assertReplicaId(opts.replicaId);
  const { redis, keys, replicaId, logger } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const ttlMs = opts.ttlMs ?? 5000;
  defineScripts(redis, CLUSTER_SCRIPTS);
  const candidate = randomBytes(32).toString('base64url');
  let current = opts.token ?? '';
  let previous = '';
  let url = '';
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const feed = opts.feed;
  const heartbeats = feed ? new TrackedCache<{ url: string; draining: boolean }>(feed, 1024) : undefined;

  const beat = async (): Promise<void> => {
    if (stopped || !url) return;
    const value = JSON.stringify({ u: url, d: draining ? 1 : 0, t: Date.now() });
    try {
      const shared = await runScript<string>(redis, heartbeat, [keys.replica(replicaId), keys.token], [value, ttlMs, candidate, TOKEN_TTL_MS]);
      if (!opts.token && shared && shared !== current) {
        // Redis lost the old token (flush/restart): keep accepting it for a while.
        if (current) previous = current;
        current = shared;
      }
    } catch (err) {
      logger.debug({ err }, 'Heartbeat failed');
    }
  };

  const guard = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw new StoreUnavailableError(`redis unavailable (${what}): ${(err as Error).message}`, { cause: err });
    }
  };

  return {
    replicaId,
    heartbeatMs,
    async start(internalUrl) {
      url = internalUrl;
      stopped = false;
      await beat();
      timer = setInterval(() => void beat(), heartbeatMs);
      timer.unref();
    },
    async setDraining() {
      draining = true;
      await beat();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      try {
        await redis.del(keys.replica(replicaId));
      } catch (err) {
        logger.warn({ err }, 'Could not delete the heartbeat; it expires by itself');
      }
    },
    async route(sessionId, deadOwner) {
      const r = await guard('route', () => runScript<string[]>(redis, routeSession, [keys.session(sessionId)], [replicaId, keys.prefix, deadOwner ?? '']));
      switch (r[0]) {
        case 'gone':
          return { kind: 'gone' };
        case 'local':
          return { kind: 'local', claimed: false };
        case 'forward':
          return { kind: 'forward', owner: r[1]!, url: r[2]! };
        default:
          return r[1] ? { kind: 'local', claimed: true, previousOwner: r[1] } : { kind: 'local', claimed: true };
      }
    },
    async forwardTarget(owner) {
      if (!heartbeats || !feed?.active() || !owner || owner === replicaId) return undefined;
      const key = keys.replica(owner);
      const beat = await heartbeats
        .getOrLoad(key, async () => {
          const [raw, pttl] = await guard('heartbeat', () => runScript<[string | null, number]>(redis, heartbeatRead, [key], []));
          return { value: parseHeartbeat(raw), keepMs: Math.min(Math.max(pttl, 0), HEARTBEAT_CACHE_MAX_AGE_MS) };
        })
        .catch(() => undefined);
      return beat && !beat.draining ? beat.url : undefined;
    },
    async serving(owner) {
      if (!owner) return false;
      if (owner === replicaId) return true;
      if (heartbeats && feed?.active()) return (await this.forwardTarget(owner)) !== undefined;
      const beat = await this.lookup(owner).catch(() => undefined);
      return beat !== undefined && !beat.draining;
    },
    tokens: () => (previous ? [current, previous] : [current]),
    async lookup(id) {
      return parseHeartbeat(await guard('lookup', () => redis.get(keys.replica(id))));
    },
    async bury(id) {
      heartbeats?.invalidate(keys.replica(id));
      await guard('bury', () => redis.del(keys.replica(id)));
    },
  };
}

/**
 * True when nothing listens at the replica's internal address any more
 * (connection refused): its process is gone even if its heartbeat has not
 * expired yet. Timeouts prove nothing and return false.
 */
export function addressRefuses(baseUrl: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      resolve(false);
      return;
    }
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(false);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED');
    });
  });
}
