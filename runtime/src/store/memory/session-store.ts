/**
 * In-memory SessionStore for a single process (`berth run -f`, tests). Records
 * expire after `idleTimeoutSeconds` without a `get`; a sweep removes them.
 */
import { SessionLimitError, type SessionRecord, type SessionStore } from '../types.ts';

export interface MemorySessionStoreOptions {
  idleTimeoutSeconds: number;
  maxSessions: number;
  /** Clock (epoch ms); tests inject a fake one. */
  now?: () => number;
  /** How often expired records are swept; defaults to min(30 s, idle timeout). */
  sweepIntervalMs?: number;
}

interface Entry {
  record: SessionRecord;
  expiresAt: number;
}

function copy(record: SessionRecord): SessionRecord {
  return record.subscriptions ? { ...record, subscriptions: [...record.subscriptions] } : { ...record };
}

/** Creates an in-memory SessionStore. */
export function createMemorySessionStore(options: MemorySessionStoreOptions): SessionStore & { size(): number } {
  const ttlMs = options.idleTimeoutSeconds * 1000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  let closed = false;

  const sweep = (): void => {
    const t = now();
    for (const [id, entry] of entries) if (entry.expiresAt <= t) entries.delete(id);
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? Math.min(30_000, ttlMs));
  timer.unref();

  const live = (id: string): Entry | undefined => {
    const entry = entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  };

  return {
    async create(record: SessionRecord): Promise<void> {
      if (closed) throw new Error('session store closed');
      if (entries.size >= options.maxSessions) {
        sweep();
        if (entries.size >= options.maxSessions) throw new SessionLimitError(`session limit reached (${options.maxSessions})`);
      }
      if (entries.has(record.id)) throw new Error(`session ${record.id} already exists`);
      entries.set(record.id, { record: copy(record), expiresAt: now() + ttlMs });
    },
    async get(id: string): Promise<SessionRecord | undefined> {
      const entry = live(id);
      if (!entry) return undefined;
      const t = now();
      entry.expiresAt = t + ttlMs;
      entry.record.lastSeenAt = t;
      return copy(entry.record);
    },
    async exists(id: string): Promise<boolean> {
      return live(id) !== undefined;
    },
    async update(id, patch): Promise<boolean> {
      const entry = live(id);
      if (!entry) return false;
      const { id: _id, principal: _principal, ...rest } = patch as Partial<SessionRecord>;
      Object.assign(entry.record, rest);
      if (rest.subscriptions) entry.record.subscriptions = [...rest.subscriptions];
      return true;
    },
    async delete(id: string): Promise<void> {
      entries.delete(id);
    },
    async count(): Promise<number> {
      sweep();
      return entries.size;
    },
    size: () => entries.size,
    healthy: () => !closed,
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
    },
  };
}
