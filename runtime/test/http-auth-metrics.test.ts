// Refused authentications are counted by reason in /metrics (the dashboard's
// authentication panel reads them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadLocalRuntimeConfig } from '../src/config/manifest.ts';
import { startRuntime } from '../src/main.ts';
import { repoRoot } from './cli-helpers.ts';

const count = (text: string, reason: string): number => Number(new RegExp(`^berth_auth_failures_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

const HELLO = JSON.stringify(join(repoRoot, 'examples', 'hello', 'server.ts'));

/** Starts a runtime for an McpServer named `name` whose spec lines (after `source`) are `specLines`; `prepare` fills its folder first. */
async function startWith(name: string, specLines: string, prepare: (dir: string) => void = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-auth-metrics-'));
  prepare(dir);
  const manifest = `apiVersion: berth.dev/v1alpha1\nkind: McpServer\nmetadata: { name: ${name}, namespace: test }\nspec:\n  source: { module: { path: ${HELLO} } }\n${specLines}`;
  writeFileSync(join(dir, 'mcpserver.yaml'), manifest);
  return startRuntime(loadLocalRuntimeConfig(join(dir, 'mcpserver.yaml'), { port: 0, env: {} }), {
    logger: pino({ level: 'silent' }),
    handleSignals: false,
    handleProcessErrors: false,
  });
}

test('401s are counted in berth_auth_failures_total by reason', async () => {
  const rt = await startWith('keyed', '  auth: { apiKeys: { secretRef: { name: keys } } }\n', (dir) => {
    mkdirSync(join(dir, 'secrets', 'keys'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'keys', 'alice'), 'correct-horse-battery-staple');
  });
  try {
    const base = rt.url.replace(/\/mcp$/, '');
    const before = await (await fetch(`${base}/metrics`)).text();
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const missing = await fetch(rt.url, { method: 'POST', headers, body });
    assert.equal(missing.status, 401);
    await missing.text();
    const wrong = await fetch(rt.url, { method: 'POST', headers: { ...headers, authorization: 'Bearer not-the-key' }, body });
    assert.equal(wrong.status, 401);
    await wrong.text();
    const ok = await fetch(rt.url, { method: 'POST', headers: { ...headers, authorization: 'Bearer correct-horse-battery-staple' }, body });
    assert.equal(ok.status, 200);
    await ok.text();
    const after = await (await fetch(`${base}/metrics`)).text();
    const total = (t: string): number => count(t, 'missing_credentials') + count(t, 'invalid_token') + count(t, 'invalid_request');
    assert.equal(total(after) - total(before), 2, after.split('\n').filter((l) => l.startsWith('berth_auth_failures_total')).join('\n'));
    assert.equal(count(after, 'missing_credentials') - count(before, 'missing_credentials') >= 1, true);
  } finally {
    await rt.stop();
  }
});

test('an unreachable authorization server gets 503 + Retry-After with a JSON-RPC error, counted as "unavailable"', async () => {
  const rt = await startWith('guarded', '  endpoint: { publicUrl: "http://127.0.0.1:9/mcp" }\n  auth: { oauth: { issuer: "http://127.0.0.1:9" } }\n');
  try {
    const base = rt.url.replace(/\/mcp$/, '');
    const before = count(await (await fetch(`${base}/metrics`)).text(), 'unavailable');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const res = await fetch(rt.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer a.b.c' }, body });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(res.headers.get('www-authenticate'), null);
    const json = (await res.json()) as { error: { code: number; message: string } };
    assert.equal(json.error.code, -32002);
    assert.match(json.error.message, /not reachable/);
    assert.equal(count(await (await fetch(`${base}/metrics`)).text(), 'unavailable') - before, 1);
  } finally {
    await rt.stop();
  }
});
