/**
 * The remote backend in front of a real published 2025-era upstream
 * (server-everything in streamableHttp mode, SDK v1): both client eras,
 * server→client requests, the upstream restarting (its session is lost and
 * re-established transparently), the upstream going away, and timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/client';
import { createRemoteBackend } from '../src/backend/remote/index.ts';
import type { Backend, ClientContext, ExchangeSink } from '../src/backend/types.ts';
import { ANON, BackendTransport, captureLogger, runtimeConfig } from './fixtures/stdio/harness.ts';
import { startEverythingHttp, startRecordingProxy, type ProcessUpstream } from './fixtures/stdio/upstreams.ts';

const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' } } } as const;
let upstream: ProcessUpstream;
let backend: Backend;
const { logger, lines } = captureLogger();

before(async () => {
  upstream = await startEverythingHttp();
  backend = createRemoteBackend(runtimeConfig({ remote: { url: upstream.url, timeoutSeconds: 10 } }), logger, { reprobeMs: 200 });
  await backend.start();
  assert.deepEqual(backend.health(), { ready: true });
});

after(async () => {
  await backend.close(Date.now() + 2000);
  await upstream.close();
});

const text = (r: { content?: unknown }) => (r.content as Array<{ text?: string }>)[0]?.text ?? '';

for (const era of ['legacy', 'modern'] as const) {
  describe(`${era} client through the remote backend`, () => {
    const connect = async (capabilities: Record<string, unknown> = {}) => {
      const c = new Client({ name: `${era}-remote`, version: '1.0.0' }, { capabilities, ...(era === 'modern' ? MODERN : {}) });
      await c.connect(new BackendTransport(backend));
      return c;
    };

    test('tools, resources and prompts', async () => {
      const c = await connect();
      assert.equal(c.getServerVersion()?.name, 'mcp-servers/everything');
      const names = (await c.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('echo') && names.includes('get-sum'));
      assert.equal(text(await c.callTool({ name: 'echo', arguments: { message: `remote ${era}` } })), `Echo: remote ${era}`);
      const { resources } = await c.listResources();
      assert.ok(resources.length > 0);
      assert.equal((await c.readResource({ uri: resources[0]!.uri })).contents[0]?.uri, resources[0]!.uri);
      const got = await c.getPrompt({ name: 'args-prompt', arguments: { city: 'Porto' } });
      assert.match(JSON.stringify(got.messages), /Porto/);
      await c.close();
    });

    test('progress arrives on the request it belongs to', async () => {
      const c = await connect();
      const progress: number[] = [];
      await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
      assert.deepEqual(progress, [1, 2, 3]);
      await c.close();
    });

    test('sampling and elicitation reach the calling client', async () => {
      const c = await connect({ sampling: {}, elicitation: { form: {} } });
      c.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: `sampled ${era}` }, model: 'm' }));
      c.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: `elicited ${era}`, check: true } }));
      assert.match(text(await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'p', maxTokens: 3 } })), new RegExp(`sampled ${era}`));
      assert.match(JSON.stringify((await c.callTool({ name: 'trigger-elicitation-request', arguments: {} })).content), new RegExp(`elicited ${era}`));
      await c.close();
    });
  });
}

const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('no client')) };
const ctx = (): ClientContext => ({
  era: 'legacy',
  protocolVersion: '2025-11-25',
  session: { id: 'remote-s', initialize: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
  principal: ANON,
  tenant: 'test/remote',
  signal: new AbortController().signal,
});
const call = (b: Backend, method: string, params: Record<string, unknown>) => b.handle(ctx(), { jsonrpc: '2.0', id: 'r1', method, params }, sink);

test('an upstream restart loses the session; Berth re-initializes and the call succeeds', async () => {
  assert.ok('result' in (await call(backend, 'tools/call', { name: 'echo', arguments: { message: 'before' } })));
  await upstream.restart();
  const res = await call(backend, 'tools/call', { name: 'echo', arguments: { message: 'after restart' } });
  assert.ok('result' in res, JSON.stringify(res));
  assert.equal(text(res.result), 'Echo: after restart');
  // Either the request (404/400 on the session) or the session's GET stream noticed first.
  assert.ok(lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('The upstream forgot the session')));
  assert.equal(lines.filter((l) => l.msg === 'Established the upstream session').length >= 2, true);
});

test('an unreachable upstream: isError for tools/call, UpstreamError otherwise, readiness follows', async () => {
  await upstream.kill();
  const tool = await call(backend, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
  assert.ok('result' in tool && tool.result.isError === true, JSON.stringify(tool));
  assert.match(text(tool.result), /unreachable \(ECONNREFUSED\).*retrying may help/);
  const list = await call(backend, 'tools/list', {});
  assert.ok('error' in list && list.error.code === -32050, JSON.stringify(list));
  assert.equal(backend.health().ready, false);
  await upstream.restart();
  const end = Date.now() + 5000;
  while (!backend.health().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.equal(backend.health().ready, true, 'readiness returns once the upstream answers again');
  assert.ok('result' in (await call(backend, 'tools/call', { name: 'echo', arguments: { message: 'back' } })));
});

test('an upstream that stops answering times out after timeoutSeconds', async (t) => {
  const proxy = await startRecordingProxy(upstream.url);
  t.after(() => proxy.close());
  const b = createRemoteBackend(runtimeConfig({ remote: { url: proxy.url, timeoutSeconds: 1 } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 1000));
  await b.start();
  proxy.hang = true;
  const t0 = Date.now();
  const tool = await call(b, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
  assert.ok(Date.now() - t0 < 3000);
  assert.ok('result' in tool && tool.result.isError === true);
  assert.match(text(tool.result), /did not answer within 1s/);
  const list = await call(b, 'tools/list', {});
  assert.ok('error' in list && list.error.code === -32051, JSON.stringify(list));
});

test('a response stream the upstream ends early is resumed with Last-Event-ID', async (t) => {
  const proxy = await startRecordingProxy(upstream.url);
  t.after(() => proxy.close());
  const b = createRemoteBackend(runtimeConfig({ remote: { url: proxy.url, timeoutSeconds: 10 } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 1000));
  await b.start();
  proxy.cutPostStreamsAfter = 1;
  const progress: unknown[] = [];
  const progressSink: ExchangeSink = { notification: (n) => void progress.push(n.params?.progress), request: sink.request };
  const res = await b.handle(
    ctx(),
    { jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 }, _meta: { progressToken: 'p' } } },
    progressSink,
  );
  assert.ok('result' in res, JSON.stringify(res));
  assert.match(text(res.result), /Long running operation completed/);
  assert.deepEqual(progress, [1, 2, 3]);
  const resumes = proxy.requests.filter((r) => r.method === 'GET' && r.headers['last-event-id'] !== undefined);
  assert.ok(resumes.length >= 1, 'resumed with Last-Event-ID');
});
