/**
 * Rate limits through the MCP endpoint against a real redis-server: a modern
 * and a legacy tools/call each cost one Redis round trip (INFO commandstats),
 * the tool's limit still answers with an isError result and the request
 * limits with 429 + Retry-After, and a tool the caller may not use is never
 * charged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Principal } from '../src/backend/types.ts';
import { withPolicy } from '../src/policy/with-policy.ts';
import { createRateLimiter } from '../src/security/rate-limit/limiter.ts';
import type { Authenticator } from '../src/security/types.ts';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { initSession, legacyHeaders, modernRequest, silent, startApp, testConfig, type TestApp } from './helpers/http-app.ts';
import { headerAuthenticator } from './helpers/test-auth.ts';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';

let redis: RedisProcess;
let client: Redis;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect();
});
after(async () => {
  client.disconnect();
  await redis.stop();
});

async function evalshaCalls(): Promise<number> {
  const m = /^cmdstat_evalsha:calls=(\d+)/m.exec(await redis.cli('INFO', 'commandstats'));
  return m ? Number(m[1]) : 0;
}

/** An app whose limiter shares `client`; `x-user` names the principal, `x-scopes` its scopes (per-tool scope rule: `echo` needs `tools`). */
async function start(rateLimits: Record<string, unknown>): Promise<TestApp> {
  const spec = { rateLimits, tools: { audit: { onFinding: 'warn' as const } } };
  const config = testConfig(spec);
  const base = headerAuthenticator();
  const auth: Authenticator = {
    ...base,
    async authenticate(req) {
      const out = await base.authenticate(req);
      if (!out.ok) return out;
      const scopes = String(req.headers['x-scopes'] ?? '').split(' ').filter(Boolean);
      return { ok: true, principal: { ...out.principal, scopes } };
    },
    mayUseTool: (p: Principal, tool: string) => tool !== 'echo' || p.scopes.includes('tools'),
  };
  // Without leases, so every request's round trip shows (leases are covered in security-rate-limit).
  const limiter = createRateLimiter(config, { redis: client, keyPrefix: 'berth:{test/http}:', logger: silent, maxLease: 0 });
  const backend = withPolicy(createEchoBackend(), config, { authenticator: auth, limiter, logger: silent });
  return startApp({ backend, spec, auth, limiter });
}

const who = (user: string, scopes = 'tools') => ({ 'x-user': user, 'x-scopes': scopes });

async function modernCall(app: TestApp, id: number, headers: Record<string, string>): Promise<Response> {
  const m = modernRequest(id, 'tools/call', { name: 'echo', arguments: { text: 'hi' } });
  return fetch(app.url, { method: 'POST', headers: { ...m.headers, ...headers }, body: m.body });
}

test('a modern tools/call is one EVALSHA; the tool limit answers isError, the request limit 429', async () => {
  const app = await start({ perPrincipal: { requestsPerMinute: 4, burst: 0 }, tools: { echo: { requestsPerMinute: 2, burst: 0 } } });
  try {
    await client.flushall();
    const before = await evalshaCalls();
    const results: Array<number | string> = [];
    for (let i = 1; i <= 5; i++) {
      const res = await modernCall(app, i, who('alice'));
      if (res.status !== 200) {
        results.push(res.status);
        assert.ok(Number(res.headers.get('retry-after')) >= 14, 'Retry-After of the principal bucket');
        const body = (await res.json()) as { error: { code: number; data: { scope: string } } };
        assert.equal(body.error.code, -32029);
        assert.equal(body.error.data.scope, 'principal');
        continue;
      }
      const body = (await res.json()) as { result: { isError?: boolean; content: Array<{ text: string }> } };
      results.push(body.result.isError ? 'tool-limited' : 'ok');
    }
    assert.deepEqual(results, ['ok', 'ok', 'tool-limited', 'tool-limited', 429]);
    assert.equal((await evalshaCalls()) - before, 5, 'one script call per HTTP request');
  } finally {
    await app.close();
  }
});

test('a caller without the tool scope is refused by policy and never charges the shared tool bucket', async () => {
  const app = await start({ tools: { echo: { requestsPerMinute: 1, burst: 0 } } });
  try {
    await client.flushall();
    const before = await evalshaCalls();
    for (let i = 1; i <= 3; i++) {
      const res = await modernCall(app, i, who('mallory', ''));
      const body = (await res.json()) as { error?: { message: string } };
      assert.match(body.error?.message ?? '', /scope/);
    }
    assert.equal((await evalshaCalls()) - before, 0, 'no rule applied to these requests: Redis untouched');
    const ok = (await (await modernCall(app, 9, who('alice'))).json()) as { result: { isError?: boolean } };
    assert.equal(ok.result.isError, undefined, 'the tool token was still there for a caller allowed to use it');
  } finally {
    await app.close();
  }
});

test('a legacy tools/call in a session is one EVALSHA as well', async () => {
  const app = await start({ perSession: { requestsPerMinute: 100, burst: 0 }, tools: { echo: { requestsPerMinute: 100, burst: 0 } } });
  try {
    await client.flushall();
    const sid = await initSession(app.url, {}, '2025-11-25', who('alice'));
    const before = await evalshaCalls();
    for (let i = 1; i <= 3; i++) {
      const res = await fetch(app.url, {
        method: 'POST',
        headers: { ...legacyHeaders(sid), ...who('alice'), accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }),
      });
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(!text.includes('"isError":true'), text);
    }
    assert.equal((await evalshaCalls()) - before, 3);
  } finally {
    await app.close();
  }
});
