// A real OAuth 2.1 authorization server for the OAuth rung: oidc-provider
// with the client-credentials grant and resource indicators, issuing RS256
// JWT access tokens for the benchmark's resource. Counts JWKS fetches, so the
// report can show the key set was fetched once and then served from cache.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface BenchAuthServer {
  issuer: string;
  counts: { jwks: number; token: number };
  /** A client-credentials access token for `resource` with `scope`. */
  token(resource: string, scope: string): Promise<string>;
  stop(): Promise<void>;
}

const CLIENT = { id: 'bench-agent', secret: 'bench-agent-secret-0123456789' };

/** Starts the authorization server on a free loopback port. */
export async function startAuthServer(resource: string, scopes: string[]): Promise<BenchAuthServer> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' };
  const scope = scopes.join(' ');
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope }],
    jwks: { keys: [jwk] },
    scopes,
    ttl: { ClientCredentials: 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope, audience: resource, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
  } as unknown as ConstructorParameters<typeof Provider>[1]);
  const handler = provider.callback();
  const counts = { jwks: 0, token: 0 };
  server.on('request', (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/jwks') counts.jwks++;
    else if (path === '/token') counts.token++;
    handler(req, res);
  });
  return {
    issuer,
    counts,
    async token(forResource, withScope) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource: forResource, scope: withScope });
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64') },
        body,
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!json.access_token) throw new Error(`token request failed: HTTP ${res.status} ${json.error} ${json.error_description}`);
      return json.access_token;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
