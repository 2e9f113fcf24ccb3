/**
 * The OAuth 2.1 resource server against a real authorization server
 * (oidc-provider issuing client-credentials JWTs with RFC 8707 audiences and
 * opaque tokens for introspection). Tokens a real AS won't mint on demand
 * (alg none, HS256 keyed with the RSA public key, expired, future nbf,
 * foreign iss, no aud) are forged with jose, using the AS's own signing key
 * where a signature is needed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import pino from 'pino';
import { parseRuntimeConfig, type RuntimeConfigInput } from '../src/config/runtime-config.ts';
import { createAuthenticator } from '../src/security/authenticator.ts';
import { verifiedCache } from '../src/security/oauth/verified-cache.ts';
import type { AuthOutcome, Authenticator } from '../src/security/types.ts';
import { CLIENTS, signingKey, startAuthServer, type SigningKey, type TestAuthServer } from './helpers/oauth-server.ts';

const RESOURCE = 'http://127.0.0.1:9999/mcp';
const METADATA_URL = 'http://127.0.0.1:9999/.well-known/oauth-protected-resource/mcp';
const logger = pino({ level: 'silent' });
let as: TestAuthServer;
let secretsDir: string;
const authenticators: Authenticator[] = [];

before(async () => {
  as = await startAuthServer({ resource: RESOURCE, scopes: ['mcp:read', 'mcp:write', 'mcp:admin'] });
  secretsDir = mkdtempSync(join(tmpdir(), 'berth-oauth-secrets-'));
  mkdirSync(join(secretsDir, 'introspection'));
  writeFileSync(join(secretsDir, 'introspection', 'client-secret'), `${CLIENTS.rs.secret}\n`);
});

after(async () => {
  await Promise.all(authenticators.map((a) => a.close()));
  await as.stop();
  rmSync(secretsDir, { recursive: true, force: true });
});

type OAuthTestDeps = Partial<Pick<Parameters<typeof createAuthenticator>[1], 'jwksCooldownMs' | 'jwksCacheMaxAgeMs' | 'verifiedCacheMs' | 'verifiedCacheMax' | 'fetch'>>;

function oauthAuthenticator(oauth: Record<string, unknown> = {}, deps: OAuthTestDeps = {}): Authenticator {
  const doc: RuntimeConfigInput = {
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'team-a', name: 'files' },
    spec: {
      source: { module: { path: '/srv/server.js' } },
      endpoint: { path: '/mcp', publicUrl: RESOURCE },
      auth: { oauth: { issuer: as.issuer, requiredScopes: ['mcp:read'], ...oauth } },
    },
    runtime: { secretsDir },
  } as RuntimeConfigInput;
  const a = createAuthenticator(parseRuntimeConfig(doc), { logger, ...deps });
  authenticators.push(a);
  return a;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, path: '/mcp' });
const now = () => Math.floor(Date.now() / 1000);

/** A token signed with a key of the AS (or any key), with full control of header and claims. */
function forge(claims: Record<string, unknown>, key: SigningKey = as.keys[0]!, kid = key.kid): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(key.privateKey);
}

const goodClaims = () => ({ iss: as.issuer, aud: RESOURCE, sub: 'forged-but-valid', scope: 'mcp:read', iat: now(), exp: now() + 300 });

function assert503(outcome: AuthOutcome, reason: RegExp): void {
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.status, 503, outcome.message);
  assert.equal(outcome.headers['retry-after'], '5');
  assert.equal(outcome.headers['www-authenticate'], undefined, 'no challenge: the client should retry, not re-authorize');
  assert.match(outcome.message, reason);
}

function assert401(outcome: AuthOutcome, reason?: RegExp): void {
  assert.equal(outcome.ok, false, 'expected a refusal');
  if (outcome.ok) return;
  assert.equal(outcome.status, 401);
  const challenge = outcome.headers['www-authenticate'] ?? '';
  assert.match(challenge, /^Bearer /);
  assert.ok(challenge.includes(`resource_metadata="${METADATA_URL}"`), challenge);
  if (reason) assert.match(outcome.message, reason);
}

test('a request without a token gets 401 with a resource_metadata challenge and no error code', async () => {
  const auth = oauthAuthenticator();
  const out = await auth.authenticate({ headers: {}, path: '/mcp' });
  assert401(out, /missing bearer token/);
  if (!out.ok) {
    assert.equal(out.headers['www-authenticate'], `Bearer scope="mcp:read", resource_metadata="${METADATA_URL}"`);
  }
  const malformed = await auth.authenticate({ headers: { authorization: 'Basic Zm9vOmJhcg==' }, path: '/mcp' });
  assert401(malformed);
  if (!malformed.ok) assert.match(malformed.headers['www-authenticate']!, /error="invalid_request"/);
});

test('a real JWT access token for this resource is accepted; the principal carries no token', async () => {
  const auth = oauthAuthenticator();
  const token = await as.token({ scope: 'mcp:read mcp:write' });
  const out = await auth.authenticate(bearer(token));
  assert.equal(out.ok, true, JSON.stringify(out));
  if (!out.ok) return;
  assert.equal(out.principal.id, `oauth:${as.issuer}#${CLIENTS.app.id}`);
  assert.equal(out.principal.kind, 'oauth');
  assert.deepEqual([...out.principal.scopes].sort(), ['mcp:read', 'mcp:write']);
  assert.equal(out.principal.clientId, CLIENTS.app.id);
  assert.ok(!JSON.stringify(out.principal).includes(token.split('.')[2]!), 'principal must not carry the token');
  assert.ok(!JSON.stringify(out).includes(token), 'outcome must not carry the token');
});

test('audience: a real token issued for another resource, and a token without aud, are refused', async () => {
  const auth = oauthAuthenticator();
  const other = await as.token({ resource: 'http://127.0.0.1:9999/other' });
  assert401(await auth.authenticate(bearer(other)), /aud/);
  const { aud: _drop, ...noAud } = goodClaims();
  assert401(await auth.authenticate(bearer(await forge(noAud))), /aud/);
  // Control: the same forging path with a correct aud passes, so the refusals above are about aud.
  assert.equal((await auth.authenticate(bearer(await forge(goodClaims())))).ok, true);
});

test('expiry and not-before honour at most 60 s of clock skew', async () => {
  const auth = oauthAuthenticator();
  assert401(await auth.authenticate(bearer(await forge({ ...goodClaims(), iat: now() - 600, exp: now() - 61 }))), /expired/);
  assert.equal((await auth.authenticate(bearer(await forge({ ...goodClaims(), iat: now() - 600, exp: now() - 30 })))).ok, true, 'inside the skew');
  assert401(await auth.authenticate(bearer(await forge({ ...goodClaims(), nbf: now() + 120 }))), /nbf/);
  const { exp: _e, ...noExp } = goodClaims();
  assert401(await auth.authenticate(bearer(await forge(noExp))));
});

test('a foreign issuer is refused, whether signed with our AS key or by another real AS', async () => {
  const auth = oauthAuthenticator();
  assert401(await auth.authenticate(bearer(await forge({ ...goodClaims(), iss: 'https://evil.example' }))), /iss/);
  const foreign = await startAuthServer({ resource: RESOURCE, scopes: ['mcp:read'] });
  try {
    assert401(await auth.authenticate(bearer(await foreign.token({ scope: 'mcp:read' }))));
  } finally {
    await foreign.stop();
  }
});

test('alg none and HS256 keyed with the RSA public key are refused', async () => {
  const auth = oauthAuthenticator();
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const none = `${b64({ alg: 'none', typ: 'JWT', kid: as.keys[0]!.kid })}.${b64(goodClaims())}.`;
  assert401(await auth.authenticate(bearer(none)));
  const hs = await new SignJWT(goodClaims()).setProtectedHeader({ alg: 'HS256', kid: as.keys[0]!.kid }).sign(new TextEncoder().encode(as.keys[0]!.publicPem));
  assert401(await auth.authenticate(bearer(hs)), /algorithm/);
  // Even if an operator lists HS256, it is dropped: a public key set can't verify HMAC safely.
  const lax = oauthAuthenticator({ algorithms: ['RS256', 'HS256', 'none'] });
  assert401(await lax.authenticate(bearer(hs)), /algorithm/);
  assert401(await lax.authenticate(bearer(none)));
});

test('an unknown kid is refused; a tampered signature is refused', async () => {
  const auth = oauthAuthenticator();
  const attacker = await signingKey('attacker');
  assert401(await auth.authenticate(bearer(await forge(goodClaims(), attacker))), /kid|key/);
  // The attacker reuses our kid: the signature doesn't verify.
  assert401(await auth.authenticate(bearer(await forge(goodClaims(), attacker, as.keys[0]!.kid))), /signature/);
});

test('a token without a required scope gets 403 insufficient_scope', async () => {
  const auth = oauthAuthenticator();
  const out = await auth.authenticate(bearer(await as.token({ scope: 'mcp:write' })));
  assert.equal(out.ok, false);
  if (out.ok) return;
  assert.equal(out.status, 403);
  const h = out.headers['www-authenticate']!;
  assert.match(h, /^Bearer error="insufficient_scope"/);
  assert.ok(h.includes('scope="mcp:read"'), h);
  assert.ok(h.includes(`resource_metadata="${METADATA_URL}"`), h);
});

test('per-tool scopes: mayUseTool needs every scope of matching toolScopes entries', async () => {
  const auth = oauthAuthenticator({ toolScopes: { delete_file: ['mcp:admin'], 'write_*': ['mcp:write'] } });
  const read = await auth.authenticate(bearer(await as.token({ scope: 'mcp:read' })));
  const admin = await auth.authenticate(bearer(await as.token({ scope: 'mcp:read mcp:write mcp:admin' })));
  assert.ok(read.ok && admin.ok);
  if (!read.ok || !admin.ok) return;
  assert.equal(auth.mayUseTool(read.principal, 'read_file'), true);
  assert.equal(auth.mayUseTool(read.principal, 'delete_file'), false);
  assert.equal(auth.mayUseTool(read.principal, 'write_file'), false);
  assert.equal(auth.mayUseTool(admin.principal, 'delete_file'), true);
  assert.equal(auth.mayUseTool(admin.principal, 'write_file'), true);
});

test('RFC 9728 metadata is served at both well-known locations', async () => {
  const auth = oauthAuthenticator({ toolScopes: { delete_file: ['mcp:admin'] } });
  const docs = auth.wellKnown();
  assert.deepEqual(Object.keys(docs).sort(), ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']);
  const doc = docs['/.well-known/oauth-protected-resource/mcp'] as Record<string, unknown>;
  assert.equal(doc['resource'], RESOURCE);
  assert.deepEqual(doc['authorization_servers'], [as.issuer]);
  assert.deepEqual(doc['scopes_supported'], ['mcp:admin', 'mcp:read']);
  assert.deepEqual(doc['bearer_methods_supported'], ['header']);
});

test('the JWKS is discovered from the issuer, cached, and a rotated key is picked up after the cooldown', async () => {
  const before = { jwks: as.counts.jwks, discovery: as.counts.discovery };
  const auth = oauthAuthenticator({}, { jwksCooldownMs: 300 });
  const t1 = await as.token({ scope: 'mcp:read' });
  for (let i = 0; i < 20; i++) assert.equal((await auth.authenticate(bearer(t1))).ok, true);
  assert.equal(as.counts.jwks - before.jwks, 1, 'one JWKS fetch for 20 requests');
  assert.ok(as.counts.discovery - before.discovery >= 1, 'issuer metadata was discovered');
  const rotated = await as.rotate();
  const t2 = await as.token({ scope: 'mcp:read' });
  assert.equal(JSON.parse(Buffer.from(t2.split('.')[0]!, 'base64url').toString()).kid, rotated.kid);
  await new Promise((r) => setTimeout(r, 350));
  const out = await auth.authenticate(bearer(t2));
  assert.equal(out.ok, true, JSON.stringify(out));
  assert.equal(as.counts.jwks - before.jwks, 2, 'exactly one refetch for the new kid');
  assert.equal((await auth.authenticate(bearer(t1))).ok, true, 'tokens of the previous key stay valid while it is published');
});

test('1,000 unknown kids cause no JWKS fetch inside the cooldown, and one per cooldown after it', async () => {
  const attacker = await signingKey('attacker');
  const forged = await Promise.all(Array.from({ length: 1000 }, (_, i) => forge(goodClaims(), attacker, `unknown-${i}`)));
  const auth = oauthAuthenticator();
  assert.equal((await auth.authenticate(bearer(await as.token({ scope: 'mcp:read' })))).ok, true);
  const base = as.counts.jwks;
  const outs = await Promise.all(forged.map((t) => auth.authenticate(bearer(t))));
  assert.ok(outs.every((o) => !o.ok && o.status === 401));
  assert.equal(as.counts.jwks - base, 0, 'inside the default 30 s cooldown nothing is fetched');

  const cooldown = 1000;
  const short = oauthAuthenticator({}, { jwksCooldownMs: cooldown });
  assert.equal((await short.authenticate(bearer(await as.token({ scope: 'mcp:read' })))).ok, true);
  await new Promise((r) => setTimeout(r, cooldown + 50));
  const start = Date.now();
  const base2 = as.counts.jwks;
  const outs2 = await Promise.all(forged.map((t) => short.authenticate(bearer(t))));
  const windows = Math.floor((Date.now() - start) / cooldown) + 1;
  assert.ok(outs2.every((o) => !o.ok && o.status === 401));
  const fetches = as.counts.jwks - base2;
  assert.ok(fetches >= 1 && fetches <= windows, `${fetches} fetches over ${windows} cooldown window(s)`);
});

test('opaque tokens are checked by RFC 7662 introspection with the client secret from the secrets dir', async () => {
  const auth = oauthAuthenticator({ introspection: { clientId: CLIENTS.rs.id, clientSecretRef: { name: 'introspection', key: 'client-secret' } } });
  const before = as.counts.introspection;
  const token = await as.token({ clientId: CLIENTS.opaque.id, scope: 'mcp:read' });
  assert.ok(!token.includes('.'), 'the AS issued an opaque token');
  const out = await auth.authenticate(bearer(token));
  assert.equal(out.ok, true, JSON.stringify(out));
  if (out.ok) assert.equal(out.principal.id, `oauth:${as.issuer}#${CLIENTS.opaque.id}`);
  assert.equal(as.counts.introspection - before, 1);
  assert401(await auth.authenticate(bearer('not-a-token-the-as-issued')), /not active/);
  const otherAud = await as.token({ clientId: CLIENTS.opaque.id, scope: 'mcp:read', resource: 'http://127.0.0.1:9999/other' });
  assert401(await auth.authenticate(bearer(otherAud)), /aud/);
  // JWTs still validate locally next to introspection.
  assert.equal((await auth.authenticate(bearer(await as.token({ scope: 'mcp:read' })))).ok, true);
  // A wrong client secret (rotated file) makes introspection fail closed: 503, the caller's token is not at fault.
  writeFileSync(join(secretsDir, 'introspection', 'client-secret'), 'wrong-secret');
  try {
    const fresh = await as.token({ clientId: CLIENTS.opaque.id, scope: 'mcp:read' });
    assert503(await auth.authenticate(bearer(fresh)), /introspection unavailable \(HTTP 401\)/);
  } finally {
    writeFileSync(join(secretsDir, 'introspection', 'client-secret'), CLIENTS.rs.secret);
  }
});

test('an unreachable issuer yields 503 with Retry-After (the token may be valid), never a crash', async () => {
  const doc: RuntimeConfigInput = {
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'team-a', name: 'files' },
    spec: { source: { module: { path: '/srv/server.js' } }, endpoint: { path: '/mcp', publicUrl: RESOURCE }, auth: { oauth: { issuer: 'http://127.0.0.1:1' } } },
  } as RuntimeConfigInput;
  const auth = createAuthenticator(parseRuntimeConfig(doc), { logger });
  authenticators.push(auth);
  assert503(await auth.authenticate(bearer(await forge(goodClaims()))), /metadata not reachable/);
});

test('a key set that cannot be fetched yields 503, and the same token is accepted once it can', async () => {
  let down = true;
  const flaky = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (down && String(input).includes('jwks')) throw new TypeError('fetch failed: connect ECONNREFUSED');
    return fetch(input, init);
  }) as typeof fetch;
  const auth = oauthAuthenticator({ jwksUri: `${as.issuer}/jwks` }, { fetch: flaky, jwksCooldownMs: 0 });
  const token = await as.token({ scope: 'mcp:read' });
  assert503(await auth.authenticate(bearer(token)), /signing keys unavailable/);
  down = false;
  const out = await auth.authenticate(bearer(token));
  assert.equal(out.ok, true, JSON.stringify(out));
});

test('a verified token is re-checked for expiry on every request even when its signature check is cached', async () => {
  const auth = oauthAuthenticator();
  const token = await forge({ ...goodClaims(), exp: now() - 58 });
  assert.equal((await auth.authenticate(bearer(token))).ok, true, 'inside the skew at first');
  await new Promise((r) => setTimeout(r, 3100));
  assert401(await auth.authenticate(bearer(token)), /expired/);
});

test('measure: JWT validation per request with a cached JWKS', async (t) => {
  const token = await as.token({ scope: 'mcp:read' });
  for (const [label, cacheMs] of [['signature verified every request', 0], ['verified-token cache on', 60_000]] as const) {
    const auth = oauthAuthenticator({}, { verifiedCacheMs: cacheMs });
    for (let i = 0; i < 200; i++) await auth.authenticate(bearer(token));
    const n = 2000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const out = await auth.authenticate(bearer(token));
      if (!out.ok) throw new Error('refused');
    }
    const us = Number(process.hrtime.bigint() - start) / 1000 / n;
    t.diagnostic(`JWT validation (RS256, cached JWKS, ${label}): ${us.toFixed(1)} µs per request`);
    assert.ok(us < 5000, `validation took ${us} µs`);
  }
});

/** The real AS's endpoints, except that the JWKS leaves out the kids in `withdrawn` (a key the issuer stopped publishing). */
function withdrawingFetch(withdrawn: Set<string>) {
  return async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    if (!String(input).endsWith('/jwks') || res.status !== 200) return res;
    const doc = (await res.json()) as { keys: Array<{ kid?: string }> };
    const keys = doc.keys.filter((k) => !withdrawn.has(k.kid ?? ''));
    return new Response(JSON.stringify({ keys }), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

test('verified-token cache: bounded LRU, never past exp, the TTL or the key set’s life, and every hit re-checks the rule', () => {
  let t = 1_000_000;
  const c = verifiedCache<string>({ ttlMs: 60_000, max: 2, skewSeconds: 5, now: () => t });
  const claims = (exp: number) => ({ iss: 'i', aud: 'a', exp });
  const any = () => true;
  const far = t + 3_600_000;
  c.set('t1', { claims: claims(t / 1000 + 100), value: 'one' }, far);
  c.set('t2', { claims: claims(t / 1000 + 100), value: 'two' }, far);
  assert.equal(c.get('t1', any)?.value, 'one', 't1 is now the most recently used');
  c.set('t3', { claims: claims(t / 1000 + 100), value: 'three' }, far);
  assert.equal(c.size, 2);
  assert.equal(c.get('t2', any), undefined, 'the least recently used entry went first');
  assert.equal(c.get('t1', any)?.value, 'one');
  assert.equal(c.get('t1', () => false), undefined, 'an entry failing the issuer/audience rule is not honoured');
  assert.equal(c.get('t1', any), undefined, '…and is dropped');

  c.clear();
  c.set('short', { claims: claims(t / 1000 + 10), value: 'exp' }, far);
  c.set('keys', { claims: claims(t / 1000 + 100), value: 'keys' }, t + 2_000);
  t += 10_000 + 4_000;
  assert.equal(c.get('short', any)?.value, 'exp', 'inside the clock skew past exp');
  assert.equal(c.get('keys', any), undefined, 'not past the key set’s staleness');
  t += 1_500;
  assert.equal(c.get('short', any), undefined, 'never past exp + skew');
  c.set('ttl', { claims: claims(t / 1000 + 3600), value: 'ttl' }, far);
  t += 60_001;
  assert.equal(c.get('ttl', any), undefined, 'never past the TTL');
  c.set('no-exp', { claims: { iss: 'i', aud: 'a' }, value: 'x' }, far);
  assert.equal(c.size, 0, 'claims without exp are never cached');
  const off = verifiedCache<string>({ ttlMs: 0 });
  off.set('t', { claims: claims(Date.now() / 1000 + 100), value: 'v' }, Infinity);
  assert.equal(off.get('t', any), undefined, 'ttl 0 disables');
});

test('a cached token stops working once its key is withdrawn: at the key set’s max age, or at once when the key set is refetched', async () => {
  const withdrawn = new Set<string>();
  const auth = oauthAuthenticator({}, { fetch: withdrawingFetch(withdrawn), jwksCacheMaxAgeMs: 1_000, jwksCooldownMs: 0 });
  const token = await forge(goodClaims());
  assert.equal((await auth.authenticate(bearer(token))).ok, true);
  withdrawn.add(as.keys[0]!.kid);
  assert.equal((await auth.authenticate(bearer(token))).ok, true, 'served from the cache while the key set is fresh');
  await new Promise((r) => setTimeout(r, 1_100));
  assert401(await auth.authenticate(bearer(token)), /kid|signing key/);

  // An unknown kid makes the key set refetch; that drops every cached verification at once.
  withdrawn.clear();
  const auth2 = oauthAuthenticator({}, { fetch: withdrawingFetch(withdrawn), jwksCooldownMs: 0 });
  const t2 = await forge(goodClaims());
  assert.equal((await auth2.authenticate(bearer(t2))).ok, true);
  withdrawn.add(as.keys[0]!.kid);
  assert.equal((await auth2.authenticate(bearer(t2))).ok, true, 'cached');
  const attacker = await signingKey('attacker-2');
  assert401(await auth2.authenticate(bearer(await forge(goodClaims(), attacker, 'never-published'))));
  assert401(await auth2.authenticate(bearer(t2)), /kid|signing key/);
});

test('verified-token cache: a wrong-audience token is refused every time, a cached token is reused, the cache is bounded', async () => {
  const base = as.counts.jwks;
  const auth = oauthAuthenticator({}, { verifiedCacheMax: 2 });
  const other = await forge({ ...goodClaims(), aud: 'http://127.0.0.1:9999/other' });
  const good = [await forge({ ...goodClaims(), sub: 'a' }), await forge({ ...goodClaims(), sub: 'b' }), await forge({ ...goodClaims(), sub: 'c' })];
  const first = await auth.authenticate(bearer(good[0]!));
  assert.equal(first.ok, true);
  for (let i = 0; i < 3; i++) assert401(await auth.authenticate(bearer(other)), /aud/);
  const again = await auth.authenticate(bearer(good[0]!));
  assert.equal(again, first, 'the cached outcome itself is returned (no re-verification)');
  for (const t of good) assert.equal((await auth.authenticate(bearer(t))).ok, true);
  assert.notEqual(await auth.authenticate(bearer(good[0]!)), first, 'evicted by the bound of 2, then verified afresh');
  assert.equal(as.counts.jwks - base, 1, 'one key set fetch throughout');
});
