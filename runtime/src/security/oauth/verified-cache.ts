/**
 * A small cache of tokens whose signature and claims were already verified,
 * keyed by the token's SHA-256. Every request still re-checks expiry; the
 * cache only skips repeating the signature check for at most `ttlMs`, which
 * is shorter than the key set's own cache, so a withdrawn key stops working
 * no later than it would without this cache.
 */
import { createHash } from 'node:crypto';

export interface VerifiedCache {
  get(token: string, nowSeconds: number, skewSeconds: number): Record<string, unknown> | undefined;
  set(token: string, claims: Record<string, unknown>): void;
}

/** Creates the cache (insertion-ordered eviction at `max` entries). */
export function verifiedCache(opts: { ttlMs?: number; max?: number; now?: () => number } = {}): VerifiedCache {
  const ttl = opts.ttlMs ?? 60_000;
  const max = opts.max ?? 10_000;
  const now = opts.now ?? Date.now;
  const map = new Map<string, { until: number; claims: Record<string, unknown> }>();
  const key = (t: string) => createHash('sha256').update(t).digest('base64url');
  return {
    get(token, nowSeconds, skew) {
      const k = key(token);
      const hit = map.get(k);
      if (!hit) return undefined;
      const exp = hit.claims['exp'];
      if (hit.until < now() || typeof exp !== 'number' || exp + skew < nowSeconds) {
        map.delete(k);
        return undefined;
      }
      return hit.claims;
    },
    set(token, claims) {
      if (ttl <= 0) return;
      if (map.size >= max) map.delete(map.keys().next().value!);
      map.set(key(token), { until: now() + ttl, claims });
    },
  };
}
