/**
 * The 2026-07-28 path over raw HTTP with the echo backend: stateless
 * requests, JSON unless related messages come first, cancellation by
 * disconnect, and `subscriptions/listen` served from the event bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { eventually, modernRequest, sleep, SseReader, startApp, testConfig } from './helpers/http-app.ts';
import { createMemoryStores } from '../src/store/memory/index.ts';

const SUBSCRIPTION = 'io.modelcontextprotocol/subscriptionId';
const post = (url: string, m: { body: string; headers: Record<string, string> }, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', headers: m.headers, body: m.body, ...(signal && { signal }) });

test('a modern request is answered statelessly as JSON, with no session', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const res = await post(app.url, modernRequest(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' } }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(res.headers.get('mcp-session-id'), null);
    const body = await res.json();
    assert.deepEqual(body, { jsonrpc: '2.0', id: 1, result: { resultType: 'complete', content: [{ type: 'text', text: 'hi' }] } });
    const discover = await post(app.url, modernRequest('d', 'server/discover'));
    assert.deepEqual((await discover.json()).result.supportedVersions, ['2026-07-28']);
    assert.deepEqual(
      backend.handled.map((h) => [h.method, h.era, h.session]),
      [
        ['tools/call', 'modern', undefined],
        ['server/discover', 'modern', undefined],
      ],
    );
  } finally {
    await app.close();
  }
});

test('related messages before the result upgrade the reply to SSE (no ids: the era has no resumption)', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const res = await post(app.url, modernRequest(2, 'tools/call', { name: 'progress', arguments: { steps: 2 }, _meta: { progressToken: 'pt' } }));
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const events = await new SseReader(res).rest();
    assert.ok(events.every((e) => e.id === undefined));
    const messages = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      messages.map((m) => m.method ?? 'result'),
      ['notifications/progress', 'notifications/message', 'notifications/progress', 'notifications/message', 'result'],
    );
    assert.equal(messages.at(-1).result.content[0].text, 'done 2');
  } finally {
    await app.close();
  }
});

test('closing the request\'s stream cancels it (the era\'s cancellation signal)', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const controller = new AbortController();
    const pending = post(app.url, modernRequest(3, 'tools/call', { name: 'hang', arguments: {} }), controller.signal).catch((e: Error) => e);
    await eventually(() => backend.handled.length === 1, 2000, 'the call to start');
    controller.abort();
    assert.ok((await pending) instanceof Error);
    await eventually(() => backend.aborted.length === 1, 2000, 'the abort');
    assert.deepEqual(backend.aborted, [{ method: 'tools/call', reason: 'client disconnected' }]);
  } finally {
    await app.close();
  }
});

test('modern notifications get 202; server→client requests are refused to the backend', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const note = modernRequest(0, 'notifications/roots/list_changed');
    const body = JSON.parse(note.body);
    delete body.id;
    const res = await fetch(app.url, { method: 'POST', headers: note.headers, body: JSON.stringify(body) });
    assert.equal(res.status, 202);
    assert.deepEqual(backend.notified.map((n) => n.method), ['notifications/roots/list_changed']);
    const elicit = await post(app.url, modernRequest(4, 'tools/call', { name: 'elicit', arguments: {} }));
    const result = (await elicit.json()).result;
    assert.equal(result.isError, true);
    assert.match(result.content[0].text, /not available in protocol revision 2026-07-28/);
  } finally {
    await app.close();
  }
});

test('subscriptions/listen: ack first, honored filter narrowed by capabilities, stamped events, filter honored', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const listen = modernRequest('listen:1', 'subscriptions/listen', {
      notifications: { toolsListChanged: true, resourceSubscriptions: ['test://a'], unknownFlag: true },
    });
    const res = await post(app.url, listen);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = new SseReader(res);
    const ack = JSON.parse((await reader.next())?.data ?? '{}');
    assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
    assert.deepEqual(ack.params.notifications, { toolsListChanged: true, resourceSubscriptions: ['test://a'] });
    assert.equal(ack.params._meta[SUBSCRIPTION], 'listen:1');
    backend.emit({ kind: 'prompts_list_changed' }); // not requested
    backend.emit({ kind: 'resource_updated', uri: 'test://b' }); // not subscribed
    backend.emit({ kind: 'resource_updated', uri: 'test://a' });
    backend.emit({ kind: 'tools_list_changed' });
    const first = JSON.parse((await reader.next())?.data ?? '{}');
    const second = JSON.parse((await reader.next())?.data ?? '{}');
    assert.deepEqual([first.method, first.params.uri, first.params._meta[SUBSCRIPTION]], ['notifications/resources/updated', 'test://a', 'listen:1']);
    assert.deepEqual([second.method, second.params._meta[SUBSCRIPTION]], ['notifications/tools/list_changed', 'listen:1']);
    assert.equal(backend.handled.filter((h) => h.method === 'server/discover').length, 1, 'capabilities come from one discovery');
    assert.equal(backend.handled.filter((h) => h.method === 'subscriptions/listen').length, 0, 'no backend exchange is held for the stream');
    await reader.cancel();
  } finally {
    await app.close();
  }
});

test('subscriptions/listen refuses a missing filter in-band and ends at once when nothing can be honored', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const bad = await post(app.url, modernRequest(1, 'subscriptions/listen', {}));
    assert.equal(bad.status, 200);
    assert.equal((await bad.json()).error.code, -32602);
    const nothing = await post(app.url, modernRequest(2, 'subscriptions/listen', { notifications: { toolsListChanged: false } }));
    const events = await new SseReader(nothing).rest();
    assert.equal(events.length, 2);
    assert.deepEqual(JSON.parse(events[0]?.data ?? '{}').params.notifications, {});
    const end = JSON.parse(events[1]?.data ?? '{}');
    assert.equal(end.id, 2);
    assert.equal(end.result.resultType, 'complete');
    assert.equal(end.result._meta[SUBSCRIPTION], 2);
    assert.deepEqual(end.result._meta['io.modelcontextprotocol/serverInfo'], { name: 'echo-backend', version: '1.0.0' });
  } finally {
    await app.close();
  }
});

test('change events reach listeners on every replica exactly once through the shared bus', async () => {
  const config = testConfig();
  const stores = createMemoryStores(config.spec);
  const backendA = createEchoBackend();
  const backendB = createEchoBackend();
  const a = await startApp({ backend: backendA, stores, replicaId: 'a' });
  const b = await startApp({ backend: backendB, stores, replicaId: 'b' });
  try {
    const listen = (url: string, id: string) => post(url, modernRequest(id, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
    const onA = new SseReader(await listen(a.url, 'la'));
    const onB = new SseReader(await listen(b.url, 'lb'));
    await onA.next();
    await onB.next();
    backendA.emit({ kind: 'tools_list_changed' });
    assert.equal(JSON.parse((await onA.next())?.data ?? '{}').method, 'notifications/tools/list_changed');
    assert.equal(JSON.parse((await onB.next())?.data ?? '{}').method, 'notifications/tools/list_changed');
    backendB.emit({ kind: 'tools_list_changed' });
    await onA.next();
    await onB.next();
    await assert.rejects(onA.next(300), /timed out/, 'no duplicate delivery');
    await onA.cancel();
    await onB.cancel();
  } finally {
    await a.close();
    await b.close();
  }
});

test('a stream reaching timeouts.streamSeconds ends (listen: gracefully) with a retry hint', async () => {
  const app = await startApp({ backend: createEchoBackend(), spec: { timeouts: { streamSeconds: 1 } } });
  try {
    const started = Date.now();
    const reader = new SseReader(await post(app.url, modernRequest('l', 'subscriptions/listen', { notifications: { toolsListChanged: true } })));
    const events = await reader.rest(4000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 4000, `ended after ${elapsed} ms`);
    assert.equal(JSON.parse(events.at(-1)?.data ?? '{}').result.resultType, 'complete');
    assert.deepEqual(reader.retries, [1000]);
    await sleep(10);
  } finally {
    await app.close();
  }
});
