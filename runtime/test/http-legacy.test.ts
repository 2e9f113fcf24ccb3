/**
 * The 2025-era session layer over real HTTP with the echo backend: sessions
 * bound to principals, SSE with priming events, the GET stream, resumption,
 * server→client requests, cancellation and DELETE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { eventually, initSession, legacyHeaders, sleep, SseReader, startApp, type SseEvent } from './helpers/http-app.ts';
import { headerAuthenticator } from './helpers/test-auth.ts';
import { createMemoryStores } from '../src/store/memory/index.ts';
import { testConfig } from './helpers/http-app.ts';

const post = (url: string, headers: Record<string, string>, body: unknown) => fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
const call = (id: number | string, name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta && { _meta: meta }) },
});
const parse = (e: SseEvent | undefined) => JSON.parse(e?.data ?? 'null');

test('initialize creates a session with a long random visible-ASCII id, answered as JSON', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await post(app.url, legacyHeaders(), {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const id = res.headers.get('mcp-session-id') ?? '';
      assert.match(id, /^[\x21-\x7E]{22,}$/, 'at least 128 bits of visible ASCII');
      ids.add(id);
      const body = await res.json();
      assert.equal(body.result.protocolVersion, '2025-06-18');
      const record = await app.stores.sessions.get(id);
      assert.equal(record?.principal, 'anonymous');
      assert.equal(record?.protocolVersion, '2025-06-18');
      assert.deepEqual(record?.initialize.clientInfo, { name: 'c', version: '1' });
    }
    assert.equal(ids.size, 5);
  } finally {
    await app.close();
  }
});

test('short requests answer JSON; tools/call streams SSE with a priming event, then ids encoding session and stream', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const list = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.equal(list.status, 200);
    assert.match(list.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(list.headers.get('mcp-session-id'), sid);
    assert.ok((await list.json()).result.tools.length > 0);

    const res = await post(app.url, legacyHeaders(sid), call(2, 'progress', { steps: 2 }, { progressToken: 'tok' }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('mcp-session-id'), sid);
    const events = await new SseReader(res).rest();
    const [priming, ...rest] = events;
    assert.equal(priming?.data, '', 'priming event has empty data');
    assert.equal(priming?.retry, 1000, 'priming event carries retry');
    assert.ok(priming?.id?.startsWith(`${sid}.`), 'event ids start with the session id');
    const stream = priming?.id?.split('.')[1];
    for (const e of rest) assert.equal(e.id?.split('.')[1], stream, 'all events of the POST stream share its stream id');
    const messages = rest.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress),
      [1, 2],
    );
    assert.equal(messages.at(-1).id, 2);
    assert.equal(messages.at(-1).result.content[0].text, 'done 2');
  } finally {
    await app.close();
  }
});

test('2025-03-26 sessions get no priming event (they may not parse empty data) but keep resumable ids', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const sid = await initSession(app.url, {}, '2025-03-26');
    // Slower than the stream's opening delay: a stream, not a JSON answer.
    const res = await post(app.url, legacyHeaders(sid, '2025-03-26'), call(1, 'slow', { ms: 60 }));
    const events = await new SseReader(res).rest();
    assert.equal(events.length, 1);
    assert.ok(events[0]?.id?.startsWith(sid));
    assert.equal(parse(events[0]).result.content[0].text, 'slow done');
  } finally {
    await app.close();
  }
});

test('session ids are checked: missing → 400, unknown → 404, another principal → 404, and they never authenticate', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend, auth: headerAuthenticator() });
  try {
    const alice = { 'x-user': 'alice' };
    const sid = await initSession(app.url, {}, '2025-11-25', alice);
    const noId = await post(app.url, { ...legacyHeaders(), ...alice }, { jsonrpc: '2.0', id: 5, method: 'tools/list' });
    assert.equal(noId.status, 400);
    assert.deepEqual((await noId.json()).id, 5);
    const unknown = await post(app.url, { ...legacyHeaders('x'.repeat(24)), ...alice }, { jsonrpc: '2.0', id: 6, method: 'tools/list' });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, -32001);
    const mallory = await post(app.url, { ...legacyHeaders(sid), 'x-user': 'mallory' }, { jsonrpc: '2.0', id: 7, method: 'tools/list' });
    assert.equal(mallory.status, 404, 'a session is bound to the principal that created it');
    const anonymous = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 8, method: 'tools/list' });
    assert.equal(anonymous.status, 401, 'a session id is no credential');
    const malloryGet = await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'x-user': 'mallory' } });
    assert.equal(malloryGet.status, 404);
    const malloryDelete = await fetch(app.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'x-user': 'mallory' } });
    assert.equal(malloryDelete.status, 404);
    const ok = await post(app.url, { ...legacyHeaders(sid), ...alice }, { jsonrpc: '2.0', id: 9, method: 'tools/list' });
    assert.equal(ok.status, 200);
    assert.ok(backend.handled.filter((h) => h.method === 'tools/list').every((h) => h.principal === 'apikey:alice' && h.session === sid));
  } finally {
    await app.close();
  }
});

test('initialize must not carry a session id; notifications get 202 and reach the backend', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const again = await post(app.url, legacyHeaders(sid), {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
    });
    assert.equal(again.status, 400);
    assert.equal((await again.json()).error.code, -32600);
    const note = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    assert.equal(note.status, 202);
    assert.deepEqual(
      backend.notified.map((n) => n.method),
      ['notifications/initialized', 'notifications/roots/list_changed'],
    );
  } finally {
    await app.close();
  }
});

test('DELETE ends the session: 200, then 404; backend state and events are released', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const res = await post(app.url, legacyHeaders(sid), call(1, 'slow', { ms: 60 }));
    const [priming] = await new SseReader(res).rest();
    assert.ok(priming?.id);
    const del = await fetch(app.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    assert.deepEqual(backend.closedSessions, [sid]);
    assert.equal(await app.stores.sessions.get(sid), undefined);
    assert.equal(await app.stores.events.after(sid, priming.id), undefined, 'the event log is gone');
    const after = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(after.status, 404);
    const delAgain = await fetch(app.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(delAgain.status, 404);
    const noId = await fetch(app.url, { method: 'DELETE' });
    assert.equal(noId.status, 400);
  } finally {
    await app.close();
  }
});

test('a DELETE that carries the usual JSON content type and no body still ends the session', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const sid = await initSession(app.url);
    const del = await fetch(app.url, { method: 'DELETE', headers: legacyHeaders(sid) });
    assert.equal(del.status, 200, await del.text());
    assert.equal(await app.stores.sessions.get(sid), undefined);
    const sid2 = await initSession(app.url);
    const garbled = await fetch(app.url, { method: 'DELETE', headers: legacyHeaders(sid2), body: 'not json' });
    assert.equal(garbled.status, 400, 'a body that is there is still parsed');
    assert.equal(((await garbled.json()) as { error: { code: number } }).error.code, -32700);
  } finally {
    await app.close();
  }
});

test('server→client requests go out on the POST stream with a fresh id and the client\'s answer resolves them', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url, { elicitation: {} });
    const res = await post(app.url, legacyHeaders(sid), call(1, 'elicit'));
    const reader = new SseReader(res);
    assert.equal((await reader.next())?.data, '', 'priming');
    const request = parse(await reader.next());
    assert.equal(request.method, 'elicitation/create');
    assert.notEqual(request.id, undefined);
    const answer = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { name: 'Ada' } } });
    assert.equal(answer.status, 202);
    const final = parse(await reader.next());
    assert.equal(final.id, 1);
    assert.equal(final.result.content[0].text, 'hello {"action":"accept","content":{"name":"Ada"}}');
    assert.equal(await reader.next(), undefined, 'the stream ends after the response');
  } finally {
    await app.close();
  }
});

test('a server→client request the client did not declare a capability for is refused to the backend', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const sid = await initSession(app.url, {});
    const res = await post(app.url, legacyHeaders(sid), call(1, 'elicit'));
    // Nothing was sent to the client, so the quick, small result is one JSON answer.
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const final = await res.json();
    assert.equal(final.result.isError, true);
    assert.match(final.result.content[0].text, /did not declare the elicitation capability/);
  } finally {
    await app.close();
  }
});

test('notifications/cancelled aborts the exchange and no response is sent for it', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const res = await post(app.url, legacyHeaders(sid), call('call-1', 'hang'));
    const reader = new SseReader(res);
    await reader.next();
    const cancel = await post(app.url, legacyHeaders(sid), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'call-1', reason: 'user' } });
    assert.equal(cancel.status, 202);
    assert.deepEqual(await reader.rest(), [], 'the stream closes without a response');
    assert.deepEqual(backend.aborted, [{ method: 'tools/call', reason: 'cancelled by the client' }]);
    assert.ok(!backend.notified.some((n) => n.method === 'notifications/cancelled'), 'the cancel reaches the backend as its abort signal');
  } finally {
    await app.close();
  }
});

test('the GET stream carries list_changed to every session, resources/updated only to subscribers', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const a = await initSession(app.url);
    const b = await initSession(app.url);
    const sub = await post(app.url, legacyHeaders(a), { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'test://x' } });
    assert.equal(sub.status, 200);
    assert.deepEqual((await app.stores.sessions.get(a))?.subscriptions, ['test://x'], 'the subscription is in the session record');
    const getA = new SseReader(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': a } }));
    const getB = new SseReader(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': b } }));
    assert.equal((await getA.next())?.data, '', 'GET streams start with a priming event');
    assert.equal((await getB.next())?.data, '');
    backend.emit({ kind: 'resource_updated', uri: 'test://x' });
    backend.emit({ kind: 'tools_list_changed' });
    const a1 = parse(await getA.next());
    const a2 = parse(await getA.next());
    assert.deepEqual([a1.method, a1.params?.uri], ['notifications/resources/updated', 'test://x']);
    assert.equal(a2.method, 'notifications/tools/list_changed');
    const b1 = parse(await getB.next());
    assert.equal(b1.method, 'notifications/tools/list_changed', 'b never subscribed, so it only hears the list change');
    const unsub = await post(app.url, legacyHeaders(a), { jsonrpc: '2.0', id: 2, method: 'resources/unsubscribe', params: { uri: 'test://x' } });
    assert.equal(unsub.status, 200);
    backend.emit({ kind: 'resource_updated', uri: 'test://x' });
    backend.emit({ kind: 'prompts_list_changed' });
    assert.equal(parse(await getA.next()).method, 'notifications/prompts/list_changed');
    await getA.cancel();
    await getB.cancel();
  } finally {
    await app.close();
  }
});

test('a dropped POST stream resumes with Last-Event-ID: no event lost, none duplicated, other streams not replayed', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const getStream = new SseReader(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }));
    await getStream.next();
    const res = await post(app.url, legacyHeaders(sid), call(1, 'progress', { steps: 8, delayMs: 40 }, { progressToken: 'p' }));
    const reader = new SseReader(res);
    const seen: SseEvent[] = [];
    for (let i = 0; i < 3; i++) seen.push((await reader.next()) as SseEvent);
    await reader.cancel(); // the connection drops mid-call
    backend.emit({ kind: 'tools_list_changed' }); // lands on the GET stream only
    await sleep(150);
    const last = seen.at(-1)?.id as string;
    const resumed = await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': last } });
    assert.equal(resumed.status, 200);
    const rest = await new SseReader(resumed).rest();
    const all = [...seen, ...rest];
    const ids = all.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicated event');
    const messages = all.filter((e) => e.data !== '').map((e) => JSON.parse(e.data));
    assert.deepEqual(
      messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress),
      [1, 2, 3, 4, 5, 6, 7, 8],
      'no progress lost',
    );
    assert.equal(messages.at(-1).result.content[0].text, 'done 8');
    assert.ok(!messages.some((m) => m.method === 'notifications/tools/list_changed'), 'the GET stream\'s events are not replayed here');
    assert.equal(parse(await getStream.next()).method, 'notifications/tools/list_changed');
    await getStream.cancel();
  } finally {
    await app.close();
  }
});

test('the GET stream resumes after a drop with the notifications it missed', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend });
  try {
    const sid = await initSession(app.url);
    const first = new SseReader(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }));
    const priming = await first.next();
    await first.cancel();
    await sleep(50);
    backend.emit({ kind: 'tools_list_changed' });
    backend.emit({ kind: 'prompts_list_changed' });
    const second = new SseReader(
      await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': priming?.id as string } }),
    );
    assert.equal(parse(await second.next()).method, 'notifications/tools/list_changed');
    assert.equal(parse(await second.next()).method, 'notifications/prompts/list_changed');
    backend.emit({ kind: 'resources_list_changed' });
    assert.equal(parse(await second.next()).method, 'notifications/resources/list_changed', 'then it tails live');
    await second.cancel();
  } finally {
    await app.close();
  }
});

test('Last-Event-ID of another session, garbage, or trimmed history is refused with 400', async () => {
  const app = await startApp({ backend: createEchoBackend(), spec: { session: { resumability: { maxEvents: 2, retentionSeconds: 60 } } } });
  try {
    const a = await initSession(app.url);
    const b = await initSession(app.url);
    const res = await post(app.url, legacyHeaders(a), call(1, 'progress', { steps: 4, delayMs: 1 }));
    const events = await new SseReader(res).rest();
    const get = (sid: string, last: string) => fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': last } });
    const foreign = await get(b, events[1]?.id as string);
    assert.equal(foreign.status, 400, 'a replay never crosses sessions');
    assert.equal((await foreign.json()).error.code, -32000);
    assert.equal((await get(a, 'garbage')).status, 400);
    assert.equal((await get(a, events[0]?.id as string)).status, 400, 'history after the priming event was trimmed');
  } finally {
    await app.close();
  }
});

test('a stream dropped on one replica resumes on another sharing the stores', async () => {
  const config = testConfig();
  const stores = createMemoryStores(config.spec);
  const backendA = createEchoBackend();
  const backendB = createEchoBackend();
  const a = await startApp({ backend: backendA, stores, replicaId: 'a' });
  const b = await startApp({ backend: backendB, stores, replicaId: 'b' });
  try {
    const sid = await initSession(a.url);
    const res = await post(a.url, legacyHeaders(sid), call(1, 'progress', { steps: 6, delayMs: 40 }, { progressToken: 'p' }));
    const reader = new SseReader(res);
    const seen = [await reader.next(), await reader.next()] as SseEvent[];
    await reader.cancel();
    const resumed = await fetch(b.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': seen[1]?.id as string } });
    assert.equal(resumed.status, 200);
    const rest = await new SseReader(resumed).rest();
    const progress = [...seen, ...rest].filter((e) => e.data !== '').map((e) => JSON.parse(e.data)).filter((m) => m.method === 'notifications/progress');
    assert.deepEqual(progress.map((m) => m.params.progress), [1, 2, 3, 4, 5, 6]);
    assert.equal(JSON.parse(rest.at(-1)?.data ?? '{}').result.content[0].text, 'done 6');
    // b serves later requests of the session and takes it over.
    const list = await post(b.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(list.status, 200);
    await eventually(async () => (await stores.sessions.get(sid))?.owner === 'b', 2000, 'takeover');
  } finally {
    await a.close();
    await b.close();
  }
});

test('JSON-RPC batches are refused for every revision', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const sid = await initSession(app.url, {}, '2025-03-26');
    const res = await post(app.url, legacyHeaders(sid, '2025-03-26'), [
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error.code, -32600);
    assert.match(body.error.message, /batches are not supported/);
  } finally {
    await app.close();
  }
});
