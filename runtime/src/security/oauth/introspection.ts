/** RFC 7662 token introspection for opaque access tokens. */
import { createHash } from 'node:crypto';
import type { FetchLike } from './discovery.ts';
import { TokenError } from './jwt.ts';

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  /** Resolved on every call so a rotated secret file is picked up. */
  clientSecret: () => Promise<string>;
  issuer: string;
  audience: string;
  clockSkewSeconds: number;
  fetch: FetchLike;
  timeoutMs?: number;
  /** Active results are reused for at most this long (and never past `exp`). */
  cacheMs?: number;
  now?: () => number;
}

/** client_secret_basic encodes id and secret with form-urlencoding first (RFC 6749 §2.3.1). */
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

/** Checks an introspection response the way a JWT is checked: active, iss, aud, exp, nbf. */
export function checkIntrospection(doc: Record<string, unknown>, o: { issuer: string; audience: string; clockSkewSeconds: number; nowSeconds: number }): void {
  if (doc['active'] !== true) throw new TokenError('token is not active');
  if (doc['iss'] !== undefined && doc['iss'] !== o.issuer) throw new TokenError('iss claim check failed');
  const aud = doc['aud'];
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  // The audience must name this server; a response without one can't prove it does.
  if (!auds.includes(o.audience)) throw new TokenError('aud claim check failed');
  if (typeof doc['exp'] === 'number' && doc['exp'] + o.clockSkewSeconds < o.nowSeconds) throw new TokenError('token expired');
  if (typeof doc['nbf'] === 'number' && doc['nbf'] - o.clockSkewSeconds > o.nowSeconds) throw new TokenError('token not yet valid (nbf)');
}

/** Returns a function that introspects a token (with a short positive cache) and returns its claims. */
export function createIntrospector(o: IntrospectionOptions): (token: string) => Promise<Record<string, unknown>> {
  const cache = new Map<string, { until: number; claims: Record<string, unknown> }>();
  const now = o.now ?? Date.now;
  const cacheMs = o.cacheMs ?? 10_000;
  return async (token) => {
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.claims;
    if (hit) cache.delete(key);
    let res: Response;
    try {
      res = await o.fetch(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: basic(o.clientId, await o.clientSecret()) },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(o.timeoutMs ?? 5_000),
      });
    } catch (err) {
      throw new TokenError(`introspection unavailable: ${(err as Error).message}`, true);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      // The endpoint's failure (or our client credentials) is not the caller's fault.
      throw new TokenError(`introspection unavailable (HTTP ${res.status})`, true);
    }
    const doc = (await res.json()) as Record<string, unknown>;
    checkIntrospection(doc, { issuer: o.issuer, audience: o.audience, clockSkewSeconds: o.clockSkewSeconds, nowSeconds: Math.floor(now() / 1000) });
    const exp = typeof doc['exp'] === 'number' ? doc['exp'] * 1000 : Infinity;
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, { until: Math.min(now() + cacheMs, exp), claims: doc });
    return doc;
  };
}
