/**
 * The remote backend in front of a 2026-07-28-only upstream (SDK v2
 * createMcpHandler with legacy: 'reject'): modern clients pass through
 * (input_required rounds included); 2025-era clients are translated per
 * request (initialize from server/discover, envelope from the session,
 * input_required turned into real server→client requests).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/client';
import { createRemoteBackend } from '../src/backend/remote/index.ts';
import type { Backend } from '../src/backend/types.ts';
import { BackendTransport, captureLogger, runtimeConfig } from './fixtures/stdio/harness.ts';
import { startModernOnlyUpstream, type InProcessUpstream } from './fixtures/stdio/upstreams.ts';

let upstream: InProcessUpstream;
let backend: Backend;

before(async () => {
  upstream = await startModernOnlyUpstream();
  backend = createRemoteBackend(runtimeConfig({ remote: { url: upstream.url } }), captureLogger().logger);
  await backend.start();
  assert.deepEqual(backend.health(), { ready: true });
});

after(async () => {
  await backend.close(Date.now() + 2000);
  await upstream.close();
});

const text = (r: { content?: unknown }) => (r.content as Array<{ text?: string }>)[0]?.text ?? '';

test('a 2026-07-28 client is passed through, input_required rounds included', async () => {
  const c = new Client({ name: 'modern', version: '1' }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  c.setRequestHandler('elicitation/create', async (req) => ({ action: 'accept', content: { ok: String(req.params.message).includes('deploy') } }));
  await c.connect(new BackendTransport(backend));
  assert.equal(c.getServerVersion()?.name, 'modern-only');
  assert.deepEqual((await c.listTools()).tools.map((t) => t.name).sort(), ['confirm', 'echo', 'work']);
  assert.equal(text(await c.callTool({ name: 'echo', arguments: { text: 'through' } })), 'through');
  const progress: string[] = [];
  const logs: unknown[] = [];
  c.setNotificationHandler('notifications/message', (n) => void logs.push(n.params.data));
  const worked = await c.callTool(
    { name: 'work', arguments: { tag: 'm1' }, _meta: { 'io.modelcontextprotocol/logLevel': 'info' } },
    { onprogress: (p) => progress.push(String(p.message)) },
  );
  assert.equal(text(worked), 'worked m1');
  assert.deepEqual(progress, ['m1']);
  assert.deepEqual(logs, ['work m1']);
  assert.equal(text(await c.callTool({ name: 'confirm', arguments: { what: 'deploy' } })), 'confirmed deploy: {"ok":true}');
  assert.equal((await c.readResource({ uri: 'note://one' })).contents[0]?.uri, 'note://one');
  await c.close();
  // Every upstream request carried the standard modern headers (the upstream rejects those without).
  const posts = upstream.requests.filter((r) => r.method === 'POST');
  assert.ok(posts.every((r) => r.headers['mcp-protocol-version'] === '2026-07-28' && typeof r.headers['mcp-method'] === 'string'));
  assert.ok(posts.some((r) => r.headers['mcp-method'] === 'tools/call' && r.headers['mcp-name'] === 'echo'));
  assert.ok(posts.every((r) => r.headers['mcp-session-id'] === undefined), 'no sessions toward a modern upstream');
});

test('a 2025-era client is translated: initialize, envelope, log level, progress and elicitation', async () => {
  const c = new Client({ name: 'legacy', version: '1' }, { capabilities: { elicitation: {} } });
  const asked: string[] = [];
  c.setRequestHandler('elicitation/create', async (req) => {
    asked.push(String(req.params.message));
    return { action: 'accept', content: { ok: true } };
  });
  await c.connect(new BackendTransport(backend));
  assert.equal(c.getServerVersion()?.name, 'modern-only');
  assert.equal(c.getInstructions(), 'A 2026-07-28-only fixture.');
  const tools = await c.listTools();
  assert.ok(tools.tools.some((t) => t.name === 'echo'));
  assert.equal((tools as Record<string, unknown>).resultType, undefined, 'modern-only fields are stripped for a 2025-era client');
  assert.equal(text(await c.callTool({ name: 'echo', arguments: { text: 'old client' } })), 'old client');
  const logs: unknown[] = [];
  c.setNotificationHandler('notifications/message', (n) => void logs.push(n.params.data));
  await c.callTool({ name: 'work', arguments: { tag: 'l0' } });
  assert.deepEqual(logs, [], 'no log level set: the envelope asks for no logs');
  await c.setLoggingLevel('info');
  const progress: string[] = [];
  await c.callTool({ name: 'work', arguments: { tag: 'l1' } }, { onprogress: (p) => progress.push(String(p.message)) });
  assert.deepEqual(progress, ['l1']);
  assert.deepEqual(logs, ['work l1']);
  assert.equal(text(await c.callTool({ name: 'confirm', arguments: { what: 'release' } })), 'confirmed release: {"ok":true}');
  assert.deepEqual(asked, ['Confirm release?']);
  const prompt = await c.getPrompt({ name: 'hello', arguments: { who: 'there' } });
  assert.match(JSON.stringify(prompt.messages), /hello there/);
  await c.ping();
  await c.close();
  const calls = upstream.requests.filter((r) => r.headers['mcp-method'] === 'tools/call');
  assert.ok(calls.length >= 4);
});

test('a 2025-era client without the elicitation capability gets a clear error, not a hang', async () => {
  const c = new Client({ name: 'legacy-plain', version: '1' });
  await c.connect(new BackendTransport(backend));
  await assert.rejects(c.callTool({ name: 'confirm', arguments: { what: 'x' } }), /capabilit(y|ies) do not declare|did not declare the elicitation/);
  await c.close();
});

test('change notifications of a modern upstream reach onChange through a subscriptions/listen stream', async () => {
  const events: unknown[] = [];
  const off = backend.onChange((e) => events.push(e));
  const end = Date.now() + 5000;
  // The listen stream opens in the background at start; publish until it is seen.
  while (!events.length && Date.now() < end) {
    upstream.notify!.toolsChanged();
    await new Promise((r) => setTimeout(r, 50));
  }
  off();
  assert.deepEqual(events[0], { kind: 'tools_list_changed' });
  const listens = upstream.requests.filter((r) => r.headers['mcp-method'] === 'subscriptions/listen');
  assert.ok(listens.length >= 1);
});
