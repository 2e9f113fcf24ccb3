/** Local JWT access-token validation (RFC 9068 profile, RFC 8725 checks) with jose. */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { FetchLike } from './discovery.ts';

/** A token that must be refused with 401 invalid_token; `message` is safe to show the client. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  /** The token could not be checked (key set or introspection unreachable): not the caller's fault. */
  readonly unavailable: boolean;
  constructor(message: string, unavailable = false) {
    super(message);
    this.unavailable = unavailable;
  }
}

/** Asymmetric JWS algorithms only: `none` and HMAC are never accepted with a public key set. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/** Narrows a configured allow-list to algorithms that are safe with a JWKS; returns the dropped ones too. */
export function safeAlgorithms(configured: readonly string[]): { allowed: string[]; dropped: string[] } {
  const allowed = configured.filter((a) => ASYMMETRIC.has(a));
  return { allowed, dropped: configured.filter((a) => !ASYMMETRIC.has(a)) };
}

export interface JwksOptions {
  fetch?: FetchLike;
  /** Minimum time between refetches triggered by an unknown `kid` (default 30 s). */
  cooldownMs?: number;
  /** Keys older than this are refetched before use (default 10 min). */
  cacheMaxAgeMs?: number;
  timeoutMs?: number;
  /** Called after every successful fetch of the key set (e.g. to drop verifications made with the old one). */
  onFetch?: () => void;
}

export interface RemoteKeySet {
  getKey: JWTVerifyGetKey;
  /** Epoch ms when the key set fetched last goes stale (its fetch time + the max age); 0 before the first fetch. */
  keysUntil(): number;
}

/** A cached, rotating remote key set: refetched on an unknown `kid` at most once per cooldown. */
export function remoteKeySet(jwksUri: string, o: JwksOptions = {}): RemoteKeySet {
  const maxAge = o.cacheMaxAgeMs ?? 600_000;
  const opts: Parameters<typeof createRemoteJWKSet>[1] = {
    cooldownDuration: o.cooldownMs ?? 30_000,
    cacheMaxAge: maxAge,
    timeoutDuration: o.timeoutMs ?? 5_000,
  };
  let fetchedAt = 0;
  const f: FetchLike = o.fetch ?? ((u, i) => fetch(u, i));
  opts[customFetch] = async (url, init) => {
    const started = Date.now();
    const res = await f(url, init as RequestInit);
    if (res.status === 200) {
      fetchedAt = started;
      o.onFetch?.();
    }
    return res;
  };
  return { getKey: createRemoteJWKSet(new URL(jwksUri), opts), keysUntil: () => (fetchedAt ? fetchedAt + maxAge : 0) };
}

export interface JwtCheck {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  clockSkewSeconds: number;
}

/** Verifies signature, `iss`, `aud`, `exp`, `nbf`; returns the claims or throws TokenError. */
export async function verifyJwt(token: string, getKey: JWTVerifyGetKey, check: JwtCheck): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, getKey, {
      issuer: check.issuer,
      audience: check.audience,
      algorithms: [...check.algorithms],
      clockTolerance: check.clockSkewSeconds,
      requiredClaims: ['exp', 'iss', 'aud'],
    });
    return payload as Record<string, unknown>;
  } catch (err) {
    const reason = describe(err);
    throw new TokenError(reason, reason.startsWith('signing keys unavailable'));
  }
}

/** Maps jose's errors to short reasons; unknown failures (key set unreachable) are reported as such. */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid (nbf)';
    return `${err.claim} claim check failed`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching signing key (unknown kid)';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous signing key';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWKSTimeout) return 'signing keys unavailable (timeout)';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed token';
  if (err instanceof errors.JOSENotSupported) return 'unsupported token';
  if (err instanceof errors.JOSEError) return err.code.replace(/^ERR_/, '').toLowerCase().replace(/_/g, ' ');
  return 'signing keys unavailable';
}

/** Whether a token has the compact JWS shape (three base64url parts, a JSON header). */
export function looksLikeJwt(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && 'alg' in header;
  } catch {
    return false;
  }
}
