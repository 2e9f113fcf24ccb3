/**
 * What reaches an upstream: Berth's injected headers (literal and from
 * Secret files) and the protocol headers, nothing else. The client's token
 * never reaches the backend at all (ClientContext carries only the
 * principal), and neither the principal nor the runtime's own secrets leak
 * into upstream requests. Driven end to end through the HTTP layer, with the
 * client's Authorization header set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createRemoteBackend } from '../src/backend/remote/index.ts';
import type { ClientContext, ExchangeSink } from '../src/backend/types.ts';
import { captureLogger, runtimeConfig } from './fixtures/stdio/harness.ts';
import { startModernOnlyUpstream, startRecordingProxy, startEverythingHttp } from './fixtures/stdio/upstreams.ts';

const ALLOWED = new Set([
  'host',
  'connection',
  'content-type',
  'content-length',
  'transfer-encoding',
  'accept',
  'authorization',
  'x-api-version',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'mcp-session-id',
  'last-event-id',
]);

test('only injected and protocol headers reach the upstream; no client or runtime credential does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-remote-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'upstream-cred'), { recursive: true });
  writeFileSync(join(dir, 'upstream-cred', 'token'), 'Bearer upstream-token-abc\n');
  const runtimeSecrets = { BERTH_REDIS_URL: 'redis://:runtime-redis-pw@r:6379', BERTH_TEST_RUNTIME_SECRET: 'runtime-secret-xyz' };
  Object.assign(process.env, runtimeSecrets);
  t.after(() => {
    for (const k of Object.keys(runtimeSecrets)) delete process.env[k];
  });

  for (const kind of ['modern-only', 'legacy-only'] as const) {
    const target = kind === 'modern-only' ? await startModernOnlyUpstream() : await startEverythingHttp();
    t.after(() => target.close());
    const proxy = await startRecordingProxy(target.url);
    t.after(() => proxy.close());
    const b = createRemoteBackend(
      runtimeConfig(
        {
          remote: {
            url: proxy.url,
            headers: [
              { name: 'Authorization', valueFrom: { secretKeyRef: { name: 'upstream-cred', key: 'token' } } },
              { name: 'X-Api-Version', value: '7' },
              // Protocol headers are Berth's own: an injected one is ignored.
              { name: 'Mcp-Session-Id', value: 'forged-session' },
            ],
          },
        },
        { runtime: { secretsDir: dir } },
      ),
      captureLogger().logger,
    );
    t.after(() => b.close(Date.now() + 1000));
    await b.start();
    const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('none')) };
    const principal = { id: 'oauth:https://idp.example#alice-subject', kind: 'oauth' as const, scopes: ['mcp'], clientId: 'alice-ide' };
    for (const era of ['legacy', 'modern'] as const) {
      const ctx: ClientContext =
        era === 'legacy'
          ? { era, protocolVersion: '2025-11-25', session: { id: 'sess-secret', initialize: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'ide', version: '1' } } }, principal, tenant: 'test/remote', signal: new AbortController().signal }
          : { era, protocolVersion: '2026-07-28', principal, tenant: 'test/remote', signal: new AbortController().signal };
      const meta =
        era === 'modern'
          ? { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'ide', version: '1' } } }
          : {};
      const res = await b.handle(ctx, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: meta }, sink);
      assert.ok('result' in res, `${kind}/${era}: ${JSON.stringify(res)}`);
    }
    assert.ok(proxy.requests.length >= 3, `${kind}: the upstream saw requests`);
    for (const r of proxy.requests) {
      const names = Object.keys(r.headers);
      const unexpected = names.filter((n) => !ALLOWED.has(n));
      assert.deepEqual(unexpected, [], `${kind}: unexpected upstream headers`);
      assert.equal(r.headers.authorization, 'Bearer upstream-token-abc', `${kind}: the injected credential, trailing newline trimmed`);
      assert.equal(r.headers['x-api-version'], '7');
      assert.notEqual(r.headers['mcp-session-id'], 'forged-session');
      const all = JSON.stringify(r.headers);
      for (const v of [...Object.values(runtimeSecrets), 'alice-subject', 'alice-ide']) assert.ok(!all.includes(v), `${kind}: ${v} reached the upstream`);
    }
  }
});

test('end to end through the HTTP layer: the client token stops at Berth', async (t) => {
  const { buildApp } = await import('../src/app.ts');
  const { createMemoryStores } = await import('../src/store/memory/index.ts');
  const { createAuthenticator } = await import('../src/security/authenticator.ts');
  const target = await startModernOnlyUpstream();
  t.after(() => target.close());
  const proxy = await startRecordingProxy(target.url);
  t.after(() => proxy.close());
  const dir = mkdtempSync(join(tmpdir(), 'berth-remote-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // An API key for the client; Berth's own credential for the upstream.
  mkdirSync(join(dir, 'client-keys'), { recursive: true });
  writeFileSync(join(dir, 'client-keys', 'ide'), 'client-secret-key-123');
  const config = runtimeConfig(
    { remote: { url: proxy.url, headers: [{ name: 'Authorization', value: 'Bearer berth-to-upstream' }] } },
    { spec: { auth: { apiKeys: { secretRef: { name: 'client-keys' } } } }, runtime: { secretsDir: dir, listen: { host: '127.0.0.1', port: 0 } } },
  );
  const logger = captureLogger().logger;
  const backend = createRemoteBackend(config, logger);
  await backend.start();
  const stores = createMemoryStores(config.spec);
  const auth = createAuthenticator(config, { logger });
  const app = await buildApp({ config, backend, sessions: stores.sessions, events: stores.events, bus: stores.bus, logger, auth });
  t.after(async () => {
    await app.drain();
  });
  await app.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.app.server.address() as { port: number }).port;
  for (const era of ['legacy', 'modern'] as const) {
    const client = new Client({ name: 'ide', version: '1' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { authorization: 'Bearer client-secret-key-123' } } }));
    assert.equal((await client.callTool({ name: 'echo', arguments: { text: `e2e ${era}` } })).content?.[0]?.type, 'text');
    await client.close();
  }
  assert.ok(proxy.requests.length >= 2);
  for (const r of proxy.requests) {
    assert.equal(r.headers.authorization, 'Bearer berth-to-upstream');
    assert.ok(!JSON.stringify(r.headers).includes('client-secret-key-123'));
  }
});

test('a header Secret that is missing fails start() with a config error naming the field', async () => {
  const b = createRemoteBackend(
    runtimeConfig({ remote: { url: 'http://127.0.0.1:9/mcp', headers: [{ name: 'Authorization', valueFrom: { secretKeyRef: { name: 'absent', key: 'token' } } }] } }, { runtime: { secretsDir: '/nonexistent-berth' } }),
    captureLogger().logger,
  );
  await assert.rejects(b.start(), (err: Error) => err.name === 'ConfigError' && /spec\.source\.remote\.headers\[0\] \(Authorization\): Secret "absent" key "token" is not available/.test(err.message));
  await b.close(Date.now() + 500);
});
