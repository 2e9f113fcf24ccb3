/**
 * The OAuth 2.1 resource server: every request's bearer token is validated
 * (JWT against the issuer's JWKS, or RFC 7662 introspection for opaque
 * tokens), its audience must be this server's canonical URI (RFC 8707), and
 * failures carry RFC 9728 / RFC 6750 challenges. The resulting principal
 * holds no token, so nothing downstream can pass it on.
 */
import type { Logger } from 'pino';
import type { McpServerSpec } from '../../config/spec.ts';
import type { Principal } from '../../backend/types.ts';
import type { AuthOutcome, AuthRequest, Authenticator } from '../types.ts';
import { readSecret } from '../secrets.ts';
import { bearerChallenge, bearerToken } from './challenge.ts';
import { missingScopes, principalFromClaims, toolScopesFor } from './claims.ts';
import { discoverIssuer, type FetchLike, type IssuerMetadata } from './discovery.ts';
import { createIntrospector } from './introspection.ts';
import { TokenError, looksLikeJwt, remoteKeySet, safeAlgorithms, verifyJwt, type RemoteKeySet } from './jwt.ts';
import { metadataPaths, metadataUrlFor, protectedResourceMetadata } from './resource-metadata.ts';
import { verifiedCache } from './verified-cache.ts';

/** Retry-After of a 503 while tokens cannot be checked (the key set is refetched after its cooldown). */
const UNAVAILABLE_RETRY_SECONDS = 5;

export type OAuthSpec = NonNullable<McpServerSpec['auth']['oauth']>;

export interface OAuthDeps {
  /** `endpoint.publicUrl`: the canonical URI clients use; the default audience. */
  publicUrl?: string;
  /** `endpoint.path` on this server (where the well-known documents are mounted). */
  resourcePath: string;
  logger: Logger;
  fetch?: FetchLike;
  /** Where `introspection.clientSecretRef` is mounted. */
  secretsDir?: string;
  jwksCooldownMs?: number;
  jwksCacheMaxAgeMs?: number;
  /** How long an introspection answer is reused (default 10 s). */
  introspectionCacheMs?: number;
  /** Retry delay after a failed issuer discovery (default 10 s). */
  discoveryRetryMs?: number;
  /** How long a verified JWT is reused without a new signature check (never past its `exp` or its key set's max age); 0 disables. Default 60 s. */
  verifiedCacheMs?: number;
  /** Most verified JWTs kept (default 10,000). */
  verifiedCacheMax?: number;
}

interface KeySource {
  keys?: RemoteKeySet;
  introspect?: (token: string) => Promise<Record<string, unknown>>;
}

/** Creates the OAuth resource-server authenticator for `spec` (the `auth.oauth` section). */
export function createOAuthAuthenticator(spec: OAuthSpec, deps: OAuthDeps): Authenticator {
  const log = deps.logger;
  const fetchImpl: FetchLike = deps.fetch ?? ((u, i) => fetch(u, i));
  const audience = spec.audience || deps.publicUrl;
  if (!audience) throw new Error('auth.oauth.audience: required when endpoint.publicUrl is not set');
  const issuer = spec.issuer;
  const { allowed: algorithms, dropped } = safeAlgorithms(spec.algorithms);
  if (dropped.length) log.warn({ dropped }, 'Ignored JWS algorithms that are unsafe with a public key set');
  if (!algorithms.length) throw new Error('auth.oauth.algorithms: no asymmetric algorithm left (none/HMAC are never accepted)');
  const skew = Math.min(spec.clockSkewSeconds, 60);
  const allScopes = [...spec.requiredScopes, ...Object.values(spec.toolScopes).flat()];
  const metadata = protectedResourceMetadata({ resource: audience, issuer, scopes: allScopes });
  const staticMetadataUrl = deps.publicUrl ? metadataUrlFor(deps.publicUrl) : /^https?:\/\//.test(audience) ? metadataUrlFor(audience) : undefined;

  const verified = verifiedCache<AuthOutcome>({ ttlMs: deps.verifiedCacheMs ?? 60_000, max: deps.verifiedCacheMax, skewSeconds: skew });
  /** The rule every cached verification must still meet: this issuer, this audience. */
  const sameRule = (claims: Record<string, unknown>): boolean => {
    if (claims['iss'] !== issuer) return false;
    const aud = claims['aud'];
    return aud === audience || (Array.isArray(aud) && aud.includes(audience));
  };

  // Issuer metadata is discovered lazily so the runtime starts while the AS is down.
  let sources: Promise<KeySource> | undefined;
  let failedAt = 0;
  const retryMs = deps.discoveryRetryMs ?? 10_000;

  async function buildSources(): Promise<KeySource> {
    let meta: IssuerMetadata | undefined;
    const needsDiscovery = !spec.jwksUri || (spec.introspection !== undefined && !spec.introspection.url);
    if (needsDiscovery) meta = await discoverIssuer(issuer, fetchImpl, 5_000);
    const out: KeySource = {};
    const jwksUri = spec.jwksUri || meta?.jwks_uri;
    if (jwksUri) {
      // A refetched key set drops every cached verification: a withdrawn key takes effect at once.
      out.keys = remoteKeySet(jwksUri, { fetch: fetchImpl, cooldownMs: deps.jwksCooldownMs, cacheMaxAgeMs: deps.jwksCacheMaxAgeMs, onFetch: () => verified.clear() });
    }
    const intro = spec.introspection;
    if (intro) {
      const url = intro.url || meta?.introspection_endpoint;
      if (!url) throw new Error(`issuer ${issuer} advertises no introspection_endpoint`);
      const ref = intro.clientSecretRef;
      const secretsDir = deps.secretsDir ?? '/var/run/berth/secrets';
      out.introspect = createIntrospector({
        url,
        clientId: intro.clientId,
        clientSecret: async () => (ref && ref.name ? readSecret(secretsDir, ref.name, ref.key) : ''),
        issuer,
        audience: audience!,
        clockSkewSeconds: skew,
        fetch: fetchImpl,
        cacheMs: deps.introspectionCacheMs,
      });
    }
    if (!out.keys && !out.introspect) throw new Error(`issuer ${issuer} advertises no jwks_uri and no introspection is configured`);
    log.info({ issuer, jwksUri: jwksUri ?? null, introspection: Boolean(out.introspect) }, 'Resolved OAuth token validation');
    return out;
  }

  function keySources(): Promise<KeySource> {
    if (!sources || (failedAt && Date.now() - failedAt > retryMs)) {
      failedAt = 0;
      sources = buildSources().catch((err: unknown) => {
        failedAt = Date.now();
        log.error({ err: (err as Error).message, issuer }, 'OAuth issuer discovery failed');
        throw err;
      });
    }
    return sources;
  }

  function metadataUrl(req: AuthRequest): string {
    if (staticMetadataUrl) return staticMetadataUrl;
    const host = String(req.headers['x-forwarded-host'] ?? req.headers['host'] ?? 'localhost');
    const proto = String(req.headers['x-forwarded-proto'] ?? 'http').split(',')[0]!.trim();
    return metadataUrlFor(`${proto}://${host}${deps.resourcePath}`);
  }

  function unauthorized(req: AuthRequest, message: string, error?: 'invalid_token' | 'invalid_request'): AuthOutcome {
    const header = bearerChallenge({
      resourceMetadata: metadataUrl(req),
      scope: spec.requiredScopes,
      ...(error ? { error, errorDescription: message } : {}),
    });
    return { ok: false, status: 401, headers: { 'www-authenticate': header }, message };
  }

  /** Validated claims; `keysUntil` when they come from a JWT verified against one known key set (cacheable). */
  async function validate(token: string): Promise<{ claims: Record<string, unknown>; keysUntil?: number }> {
    const src = await keySources().catch(() => {
      throw new TokenError('token validation unavailable (authorization server metadata not reachable)', true);
    });
    if (src.keys && looksLikeJwt(token)) {
      const keysBefore = src.keys.keysUntil();
      const claims = await verifyJwt(token, src.keys.getKey, { issuer, audience: audience!, algorithms, clockSkewSeconds: skew });
      const keysAfter = src.keys.keysUntil();
      // Cacheable only when verified against one known key set (none was fetched midway, except the first).
      return keysBefore === keysAfter || keysBefore === 0 ? { claims, keysUntil: keysAfter } : { claims };
    }
    if (src.introspect) return { claims: await src.introspect(token) };
    throw new TokenError('unsupported token format');
  }

  /** The outcome for validated claims: a principal, or 401/403. */
  function decide(req: AuthRequest, claims: Record<string, unknown>): AuthOutcome {
    const principal = principalFromClaims(claims, issuer);
    if (!principal) return unauthorized(req, 'invalid token: no sub or client_id', 'invalid_token');
    const missing = missingScopes(principal.scopes, spec.requiredScopes);
    if (missing.length) {
      const header = bearerChallenge({
        error: 'insufficient_scope',
        errorDescription: `missing scope: ${missing.join(' ')}`,
        scope: spec.requiredScopes,
        resourceMetadata: metadataUrl(req),
      });
      return { ok: false, status: 403, headers: { 'www-authenticate': header }, message: `insufficient scope: requires ${missing.join(' ')}` };
    }
    return Object.freeze({ ok: true, principal });
  }

  return {
    mode: 'oauth',
    async authenticate(req: AuthRequest): Promise<AuthOutcome> {
      const token = bearerToken(req.headers);
      if (token === undefined) return unauthorized(req, 'missing bearer token');
      if (token === null) return unauthorized(req, 'malformed Authorization header', 'invalid_request');
      const hit = verified.get(token, sameRule);
      if (hit) return hit.value;
      let v: Awaited<ReturnType<typeof validate>>;
      try {
        v = await validate(token);
      } catch (err) {
        const reason = err instanceof TokenError ? err.message : 'invalid token';
        if (err instanceof TokenError && err.unavailable) {
          // The token may well be valid: a 401 would send the client into a needless re-authorization.
          log.warn({ reason }, 'Could not check a bearer token');
          return { ok: false, status: 503, headers: { 'retry-after': String(UNAVAILABLE_RETRY_SECONDS) }, message: `Service Unavailable: ${reason}; retry shortly` };
        }
        log.debug({ reason }, 'Refused bearer token');
        return unauthorized(req, `invalid token: ${reason}`, 'invalid_token');
      }
      const outcome = decide(req, v.claims);
      // Only successes are kept (a refusal's challenge depends on the request's Host).
      if (outcome.ok && v.keysUntil !== undefined) verified.set(token, { claims: v.claims, value: outcome }, v.keysUntil);
      return outcome;
    },
    mayUseTool(principal: Principal, tool: string): boolean {
      const needed = toolScopesFor(spec.toolScopes, tool);
      return needed.length === 0 || missingScopes(principal.scopes, needed).length === 0;
    },
    wellKnown(): Record<string, unknown> {
      const out: Record<string, unknown> = {};
      for (const p of metadataPaths(deps.resourcePath)) out[p] = metadata;
      return out;
    },
    async close(): Promise<void> {},
  };
}
