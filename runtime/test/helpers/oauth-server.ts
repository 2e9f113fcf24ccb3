/**
 * A real OAuth 2.1 authorization server for tests: oidc-provider with the
 * client-credentials grant and resource indicators, issuing RS256 JWT access
 * tokens whose `aud` is the requested resource (and opaque tokens for the
 * `opaque` client, for introspection). Counts requests per endpoint so tests
 * can assert JWKS fetches.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** SPKI PEM of the public key (for the HS256-with-public-key attack). */
  publicPem: string;
  jwk: JWK;
}

export interface TestAuthServer {
  issuer: string;
  /** The resource (audience) tokens are issued for by default. */
  resource: string;
  keys: SigningKey[];
  counts: { jwks: number; discovery: number; introspection: number; token: number };
  /** A client-credentials access token. */
  token(opts?: { clientId?: string; scope?: string; resource?: string }): Promise<string>;
  /** Replaces the signing key: the new key signs, the old one stays published. */
  rotate(): Promise<SigningKey>;
  stop(): Promise<void>;
}

export const CLIENTS = {
  app: { id: 'app', secret: 'app-secret-0123456789' },
  opaque: { id: 'opaque', secret: 'opaque-secret-0123456789' },
  rs: { id: 'resource-server', secret: 'rs-secret-0123456789' },
};

/** Generates an RS256 key with a kid. */
export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, publicPem: await exportSPKI(publicKey), jwk };
}

/** Starts the authorization server on a free loopback port. */
export async function startAuthServer(opts: { resource: string; scopes: string[] }): Promise<TestAuthServer> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys = [await signingKey('key-1')];
  const counts = { jwks: 0, discovery: 0, introspection: 0, token: 0 };
  const scope = opts.scopes.join(' ');

  const build = (): Provider =>
    new Provider(issuer, {
      clients: [
        { client_id: CLIENTS.app.id, client_secret: CLIENTS.app.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope },
        { client_id: CLIENTS.opaque.id, client_secret: CLIENTS.opaque.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope },
        { client_id: CLIENTS.rs.id, client_secret: CLIENTS.rs.secret, grant_types: [], redirect_uris: [], response_types: [] },
      ],
      // The newest key signs (first in the set); older ones stay published.
      jwks: { keys: [...keys].reverse().map((k) => k.jwk) },
      scopes: opts.scopes,
      ttl: { ClientCredentials: 600 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => opts.resource,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => ({
            scope,
            audience: resource,
            accessTokenTTL: 600,
            accessTokenFormat: client.clientId === CLIENTS.opaque.id ? 'opaque' : 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
    } as unknown as ConstructorParameters<typeof Provider>[1]);

  let handler = build().callback();
  server.on('request', (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/jwks') counts.jwks++;
    else if (path.startsWith('/.well-known/')) counts.discovery++;
    else if (path === '/token/introspection') counts.introspection++;
    else if (path === '/token') counts.token++;
    handler(req, res);
  });

  return {
    issuer,
    resource: opts.resource,
    keys,
    counts,
    async token(o = {}) {
      const client = o.clientId === CLIENTS.opaque.id ? CLIENTS.opaque : CLIENTS.app;
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource: o.resource ?? opts.resource });
      if (o.scope !== undefined) body.set('scope', o.scope);
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64') },
        body,
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!json.access_token) throw new Error(`token request failed: ${res.status} ${json.error} ${json.error_description}`);
      return json.access_token;
    },
    async rotate() {
      const next = await signingKey(`key-${keys.length + 1}`);
      keys.push(next);
      handler = build().callback();
      return next;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
