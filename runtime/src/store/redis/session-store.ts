/**
 * SessionStore on Redis: one small hash per session with a sliding idle TTL,
 * plus a sorted set of live ids scored by expiry that enforces maxSessions
 * atomically and heals itself (expired members are pruned by the scripts).
 */
import type { InitializeParams } from '../../backend/types.ts';
import { SessionLimitError, type SessionRecord, type SessionStore } from '../types.ts';
import type { RedisClient } from './connection.ts';
import type { RedisHealth } from './health.ts';
import type { Keys } from './keys.ts';
import { runScript, sessionCount, sessionCreate, sessionDelete, sessionTouch, sessionUpdate } from './scripts.ts';
import { TrackedCache } from './tracked-cache.ts';
import type { InvalidationFeed } from './tracking.ts';

/** Hash field names: short, because every byte is paid per idle session. */
const F = {
  principal: 'p',
  protocolVersion: 'v',
  initialize: 'i',
  owner: 'o',
  createdAt: 'c',
  lastSeenAt: 'l',
  logLevel: 'g',
  subscriptions: 'u',
} as const;

type Patch = Partial<Omit<SessionRecord, 'id' | 'principal'>>;

/** Encodes record fields (except id and lastSeenAt, which Redis time sets) into hash field/value pairs. */
export function encodeFields(patch: Patch & { principal?: string }): { set: string[]; del: string[] } {
  const set: string[] = [];
  const del: string[] = [];
  const put = (field: string, value: string | undefined) => (value === undefined ? del.push(field) : set.push(field, value));
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'principal':
        put(F.principal, value as string | undefined);
        break;
      case 'protocolVersion':
        put(F.protocolVersion, value as string | undefined);
        break;
      case 'initialize':
        put(F.initialize, value === undefined ? undefined : JSON.stringify(value));
        break;
      case 'owner':
        put(F.owner, value as string | undefined);
        break;
      case 'createdAt':
        put(F.createdAt, value === undefined ? undefined : String(value));
        break;
      case 'logLevel':
        put(F.logLevel, value as string | undefined);
        break;
      case 'subscriptions':
        put(F.subscriptions, value === undefined ? undefined : JSON.stringify(value));
        break;
      default:
        // lastSeenAt is Redis time; unknown keys are not part of the record.
        break;
    }
  }
  return { set, del };
}

/**
 * Decodes an HGETALL-style flat list into a record; undefined when it is not
 * a complete record. `parseInitialize` lets a caller reuse an earlier parse.
 */
export function decodeRecord(id: string, flat: readonly string[], parseInitialize: (raw: string) => InitializeParams = JSON.parse): SessionRecord | undefined {
  const h = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) h.set(flat[i]!, flat[i + 1]!);
  const principal = h.get(F.principal);
  const protocolVersion = h.get(F.protocolVersion);
  const init = h.get(F.initialize);
  if (principal === undefined || protocolVersion === undefined || init === undefined) return undefined;
  let initialize: InitializeParams;
  try {
    initialize = parseInitialize(init);
  } catch {
    return undefined;
  }
  const record: SessionRecord = {
    id,
    principal,
    protocolVersion,
    initialize,
    createdAt: Number(h.get(F.createdAt) ?? 0),
    lastSeenAt: Number(h.get(F.lastSeenAt) ?? 0),
  };
  const owner = h.get(F.owner);
  if (owner) record.owner = owner;
  const logLevel = h.get(F.logLevel);
  if (logLevel) record.logLevel = logLevel;
  const subs = h.get(F.subscriptions);
  if (subs) {
    try {
      record.subscriptions = JSON.parse(subs) as string[];
    } catch {
      // A corrupt optional field is dropped rather than failing the session.
    }
  }
  return record;
}

export interface RedisSessionStoreOptions {
  client: RedisClient;
  keys: Keys;
  health: RedisHealth;
  idleTimeoutSeconds: number;
  maxSessions: number;
  /** With a feed, reads that need no touch are cached until Redis invalidates the session (or a touch is due). */
  feed?: InvalidationFeed;
}

/**
 * How long after a touch the next read slides the idle TTL again: a tenth of
 * the timeout, at most a minute. Reads in between cost no writes.
 */
export function touchSlackMs(ttlMs: number): number {
  return Math.min(Math.floor(ttlMs / 10), 60_000);
}

/** Parsed `initialize` params kept per session; a session's params never change, so a hit skips the parse. */
const INITIALIZE_CACHE_MAX = 4096;

/** Session records served from the tracked cache at most (the busy sessions of a replica). */
const RECORD_CACHE_MAX = 4096;

/** A cached record is read from Redis again at least this often, whatever the invalidations say. */
const RECORD_CACHE_MAX_AGE_MS = 10_000;

/** The ms until a read must touch again, from the script's `#r` pseudo-field; 0 when the read touched. */
export function untilTouchDue(flat: readonly string[]): number {
  const n = flat.length;
  return n >= 2 && flat[n - 2] === '#r' ? Number(flat[n - 1]) || 0 : 0;
}

/**
 * Creates the Redis-backed SessionStore. Records returned for the same
 * session share their `initialize` object (treat it as read-only), which also
 * lets callers cache what they derive from it. With an invalidation feed, a
 * busy session's record comes from memory: one Redis command per legacy call
 * instead of two, and the record is still never older than Redis' own
 * invalidation message (a write, expiry, FLUSHALL or lost tracking drops it).
 */
export function createRedisSessionStore(opts: RedisSessionStoreOptions): SessionStore {
  const { client, keys, health, feed } = opts;
  const cache = feed ? new TrackedCache<SessionRecord>(feed, RECORD_CACHE_MAX) : undefined;
  const ttlMs = opts.idleTimeoutSeconds * 1000;
  // Every write sets the expiry to ttl + slack, so a session lives at least ttl after its last read.
  const lifeMs = ttlMs + touchSlackMs(ttlMs);
  const parsed = new Map<string, { raw: string; value: InitializeParams }>();
  const initializeOf = (id: string) => (raw: string): InitializeParams => {
    const hit = parsed.get(id);
    if (hit && hit.raw === raw) return hit.value;
    const value = JSON.parse(raw) as InitializeParams;
    if (parsed.size >= INITIALIZE_CACHE_MAX) parsed.delete(parsed.keys().next().value as string);
    parsed.set(id, { raw, value });
    return value;
  };
  return {
    async create(record) {
      const { set } = encodeFields({
        principal: record.principal,
        protocolVersion: record.protocolVersion,
        initialize: record.initialize,
        owner: record.owner,
        createdAt: record.createdAt,
        logLevel: record.logLevel,
        subscriptions: record.subscriptions,
      });
      const result = await health.guard('session.create', () =>
        runScript<number>(client, sessionCreate, [keys.session(record.id), keys.sessionIndex], [record.id, lifeMs, opts.maxSessions, ...set]),
      );
      if (result === 0) throw new SessionLimitError(`session limit of ${opts.maxSessions} reached`);
      if (result === -1) throw new Error(`session ${record.id} already exists`);
    },
    async get(id) {
      const key = keys.session(id);
      const read = async (): Promise<{ value: SessionRecord | undefined; keepMs: number }> => {
        const flat = await health.guard('session.get', () => runScript<string[] | null>(client, sessionTouch, [key, keys.sessionIndex], [id, ttlMs, lifeMs]));
        if (!flat) {
          parsed.delete(id);
          return { value: undefined, keepMs: 0 };
        }
        // Only a read that did not write leaves Redis tracking the key: a touch ends it (untilTouchDue 0).
        return { value: decodeRecord(id, flat, initializeOf(id)), keepMs: Math.min(untilTouchDue(flat), RECORD_CACHE_MAX_AGE_MS) };
      };
      if (!cache) return (await read()).value;
      // A failing Redis must answer 503 before the call runs, as an uncached read would.
      const record = await cache.getOrLoad(key, read, health.healthy());
      return record && { ...record };
    },
    async exists(id) {
      return (await health.guard('session.exists', () => client.exists(keys.session(id)))) === 1;
    },
    async update(id, patch) {
      const { set, del } = encodeFields(patch);
      cache?.invalidate(keys.session(id));
      try {
        const result = await health.guard('session.update', () =>
          runScript<number>(client, sessionUpdate, [keys.session(id), keys.sessionIndex], [id, lifeMs, set.length, ...set, ...del]),
        );
        return result === 1;
      } finally {
        cache?.invalidate(keys.session(id));
      }
    },
    async delete(id) {
      parsed.delete(id);
      cache?.invalidate(keys.session(id));
      await health.guard('session.delete', () =>
        runScript<number>(client, sessionDelete, [keys.session(id), keys.sessionIndex, keys.events(id), keys.inflight(id)], [id]),
      );
    },
    async count() {
      return health.guard('session.count', () => runScript<number>(client, sessionCount, [keys.sessionIndex], []));
    },
    healthy: () => health.healthy(),
    trackedCache: () => feed?.active() ?? false,
    // The connection is shared; createRedisStores().close() ends it.
    close: async () => {},
  };
}
