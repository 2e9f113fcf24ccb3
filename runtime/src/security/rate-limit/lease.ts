/**
 * Leased tokens: a replica that charges a large bucket in Redis takes a few
 * extra tokens with it and spends them locally, so most decisions on busy
 * buckets need no Redis round trip at all.
 *
 * Leased tokens leave the shared bucket when they are granted, so leasing
 * never admits more than the limit. The price is the other direction: tokens
 * a replica holds are not available to the other replicas, and tokens not
 * spent within `leaseMs` are dropped. So across the McpServer a bucket may
 * refuse up to (replicas − 1) × lease tokens early, and lose up to one lease
 * per replica per `leaseMs`. Leases are sized at most 1% of the bucket's
 * capacity (and at most `leaseMs` worth of its rate, at most `maxLease`), so
 * buckets under 200 tokens never lease and stay exact.
 */
import type { BucketParams } from './bucket.ts';

export interface LeaseOptions {
  /** Largest lease per bucket (default 100 tokens); 0 disables leasing. */
  maxLease?: number;
  /** How long leased tokens stay usable (default 1 s). */
  leaseMs?: number;
  /** Most buckets with a lease kept (default 10,000). */
  maxBuckets?: number;
  now?: () => number;
}

export interface Leases {
  /** The lease size wanted for a bucket (0 = this bucket never leases). */
  want(p: BucketParams): number;
  /** Spends one leased token from every bucket, or none when any bucket has none. */
  takeAll(buckets: ReadonlyArray<{ readonly key: string }>): boolean;
  /**
   * How many tokens to ask Redis for on top of the one this decision needs:
   * the top-up to `size`, or 0 while another decision's request for this key
   * is still in flight (concurrent misses must not each lease a full batch).
   * A non-zero answer must be followed by `grant` (or `grant(key, 0)`).
   */
  ask(key: string, size: number): number;
  /** Adds `tokens` granted by Redis to the key's lease and ends its pending ask. */
  grant(key: string, tokens: number): void;
  /** Whether the key's lease has a token to spend now. */
  holds(key: string): boolean;
  /** Settles when the key's pending ask is granted (after its tokens are added); undefined when none is pending. */
  refill(key: string): Promise<void> | undefined;
  clear(): void;
}

interface Lease {
  tokens: number;
  until: number;
}

/** Creates the lease table. */
export function leases(o: LeaseOptions = {}): Leases {
  const maxLease = o.maxLease ?? 100;
  const leaseMs = o.leaseMs ?? 1_000;
  const maxBuckets = o.maxBuckets ?? 10_000;
  const now = o.now ?? (() => performance.now());
  const map = new Map<string, Lease>();
  /** Pending asks by key, with what wakes the decisions waiting for their grant. */
  const asking = new Map<string, { granted: Promise<void>; wake: () => void }>();

  const live = (key: string, t: number): Lease | undefined => {
    const l = map.get(key);
    if (l && (l.until <= t || l.tokens < 1)) {
      map.delete(key);
      return undefined;
    }
    return l;
  };

  const add = (key: string, tokens: number): void => {
    const t = now();
    const l = live(key, t);
    if (l) {
      l.tokens += tokens;
      l.until = t + leaseMs;
      return;
    }
    if (map.size >= maxBuckets) map.delete(map.keys().next().value!);
    map.set(key, { tokens, until: t + leaseMs });
  };

  return {
    want(p) {
      if (maxLease <= 0) return 0;
      const n = Math.min(maxLease, Math.floor(p.capacity / 100), Math.floor((p.rate * leaseMs) / 1000));
      // A lease of one token would halve the round trips at best while making the bucket inexact.
      return n >= 2 ? n : 0;
    },
    takeAll(buckets) {
      if (map.size === 0) return false;
      const t = now();
      for (const b of buckets) if (!live(b.key, t)) return false;
      for (const b of buckets) map.get(b.key)!.tokens -= 1;
      return true;
    },
    ask(key, size) {
      if (size <= 0 || asking.has(key)) return 0;
      const want = size - (live(key, now())?.tokens ?? 0);
      if (want <= 0) return 0;
      let wake!: () => void;
      const granted = new Promise<void>((resolve) => (wake = resolve));
      asking.set(key, { granted, wake });
      return want;
    },
    grant(key, tokens) {
      const pending = asking.get(key);
      asking.delete(key);
      if (tokens > 0) add(key, tokens);
      pending?.wake();
    },
    holds(key) {
      return map.size > 0 && live(key, now()) !== undefined;
    },
    refill(key) {
      return asking.get(key)?.granted;
    },
    clear() {
      map.clear();
      for (const pending of asking.values()) pending.wake();
      asking.clear();
    },
  };
}
