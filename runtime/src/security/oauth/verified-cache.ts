/**
 * Access tokens whose JWT signature and claims were already verified, keyed
 * by the token's SHA-256 (the token itself is not kept), with the outcome
 * computed from them, so a repeated token costs one hash and one map lookup.
 *
 * An entry is honoured until the earliest of:
 *  - the token's `exp` (plus the configured clock skew, as the verifier allows),
 *  - `ttlMs` after it was verified,
 *  - `keysUntil`: when the key set it was verified against goes stale
 *    (fetch time + the JWKS cache's max age), so the cache never outlives the
 *    key set the signature was checked with.
 * The authenticator also clears the cache whenever the key set is refetched.
 * A key withdrawn from the issuer's JWKS therefore stops being accepted no
 * later than it would without this cache.
 *
 * Every hit re-checks `iss` and `aud` against the caller's rule, so an entry
 * can never admit a token for another issuer or audience. At most `max`
 * entries are kept; the least recently used goes first.
 */
import { hash } from 'node:crypto';

export interface CachedVerification<T> {
  claims: Record<string, unknown>;
  /** What the caller derived from the claims (e.g. its auth outcome). */
  value: T;
}

export interface VerifiedCache<T> {
  get(token: string, check: (claims: Record<string, unknown>) => boolean): CachedVerification<T> | undefined;
  /** `keysUntil`: epoch ms when the key set used for the verification is stale. */
  set(token: string, entry: CachedVerification<T>, keysUntil: number): void;
  clear(): void;
  readonly size: number;
}

export interface VerifiedCacheOptions {
  /** Longest reuse of one verification (default 60 s); 0 disables the cache. */
  ttlMs?: number;
  /** Most entries (default 10,000). */
  max?: number;
  /** Seconds of clock skew granted past `exp` (as the verifier grants). */
  skewSeconds?: number;
  now?: () => number;
}

interface Entry<T> extends CachedVerification<T> {
  until: number;
}

/** The SHA-256 of a token, the cache key. */
export const tokenKey = (token: string): string => hash('sha256', token, 'base64url');

/** Creates the cache. */
export function verifiedCache<T>(opts: VerifiedCacheOptions = {}): VerifiedCache<T> {
  const ttl = opts.ttlMs ?? 60_000;
  const max = Math.max(1, opts.max ?? 10_000);
  const skewMs = (opts.skewSeconds ?? 0) * 1000;
  const now = opts.now ?? Date.now;
  const map = new Map<string, Entry<T>>();
  // The most recently used key: a hit on it needs no reordering (a delete and
  // re-insert per request would churn the Map's backing table).
  let newest: string | undefined;
  return {
    get(token, check) {
      if (ttl <= 0 || map.size === 0) return undefined;
      const k = tokenKey(token);
      const hit = map.get(k);
      if (!hit) return undefined;
      if (hit.until <= now() || !check(hit.claims)) {
        map.delete(k);
        return undefined;
      }
      // Re-inserted: the Map's order is the recency order.
      if (k !== newest) {
        map.delete(k);
        map.set(k, hit);
        newest = k;
      }
      return hit;
    },
    set(token, entry, keysUntil) {
      if (ttl <= 0) return;
      const exp = entry.claims['exp'];
      if (typeof exp !== 'number') return;
      const until = Math.min(now() + ttl, exp * 1000 + skewMs, keysUntil);
      if (until <= now()) return;
      const k = tokenKey(token);
      map.delete(k);
      while (map.size >= max) map.delete(map.keys().next().value!);
      map.set(k, { ...entry, until });
      newest = k;
    },
    clear() {
      map.clear();
      newest = undefined;
    },
    get size() {
      return map.size;
    },
  };
}
