/**
 * drain(): readiness flips at once, new sessions get 503 + Retry-After, idle
 * streams get a retry hint and close, in-flight calls finish within the
 * grace period (stragglers are interrupted with a clear result), and the
 * whole sequence ends within the grace period plus half a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { eventually, initSession, legacyHeaders, modernRequest, sleep, SseReader, startApp } from './helpers/http-app.ts';
import { fixtureBackend, httpFixture } from './helpers/http-fixture.ts';

const call = (id: number, name: string, args: Record<string, unknown>) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

test('drain: ready flips, sessions refused, streams told to retry, in-flight calls finish, stragglers interrupted, done within grace + 0.5 s', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend, spec: { drain: { gracePeriodSeconds: 2 } } });
  const sid = await initSession(app.url);
  const getStream = new SseReader(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }));
  await getStream.next();
  const listen = new SseReader(
    await fetch(app.url, { method: 'POST', ...modernRequest('l1', 'subscriptions/listen', { notifications: { toolsListChanged: true } }) }),
  );
  await listen.next();

  const modernSlow = modernRequest(10, 'tools/call', { name: 'slow', arguments: { ms: 700 } });
  const inflightModern = fetch(app.url, { method: 'POST', headers: modernSlow.headers, body: modernSlow.body }).then((r) => r.json());
  const inflightLegacy = fetch(app.url, { method: 'POST', headers: legacyHeaders(sid), body: call(11, 'slow', { ms: 1200 }) }).then((r) => new SseReader(r).rest(5000));
  const hung = fetch(app.url, { method: 'POST', headers: legacyHeaders(sid), body: call(12, 'hang', {}) }).then((r) => new SseReader(r).rest(5000));
  await eventually(() => backend.handled.filter((h) => h.method === 'tools/call').length === 3, 2000, 'three calls in flight');

  const t0 = Date.now();
  const drained = app.berth.drain();
  assert.equal(app.berth.state(), 'draining');

  const ready = await fetch(`${app.base}/ready`);
  assert.equal(ready.status, 503, 'readiness flips at once');
  assert.ok(Date.now() - t0 < 1000, 'long before the grace period ends');
  assert.deepEqual((await ready.json()).reasons, ['state is draining']);
  assert.equal((await fetch(`${app.base}/health`)).status, 200, 'still alive while draining');

  const init = await fetch(app.url, {
    method: 'POST',
    headers: legacyHeaders(),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }),
  });
  assert.equal(init.status, 503, 'no new sessions');
  assert.equal(init.headers.get('connection'), 'close', 'keep-alive clients are sent elsewhere');
  assert.equal(init.headers.get('retry-after'), '1');
  assert.equal((await init.json()).error.code, -32002);

  assert.deepEqual(await getStream.rest(1000), [], 'the GET stream closes');
  assert.deepEqual(getStream.retries, [1000, 250], 'with a retry hint after the priming event\'s');
  const listenRest = await listen.rest(1000);
  assert.equal(JSON.parse(listenRest.at(-1)?.data ?? '{}').result?.resultType, 'complete', 'listen streams end gracefully');
  assert.deepEqual(listen.retries, [250]);
  assert.ok(Date.now() - t0 < 1500, 'idle streams closed without waiting for the grace period');

  const modern = await inflightModern;
  assert.equal(modern.result.content[0].text, 'slow done', 'an in-flight modern call finishes');
  const legacy = await inflightLegacy;
  assert.equal(JSON.parse(legacy.at(-1)?.data ?? '{}').result.content[0].text, 'slow done', 'an in-flight legacy call finishes');
  const stuck = JSON.parse((await hung).at(-1)?.data ?? '{}');
  assert.equal(stuck.result.isError, true);
  assert.match(stuck.result.content[0].text, /^\[transient\] Tool "hang" was interrupted because the server is restarting/);

  await drained;
  const total = Date.now() - t0;
  assert.ok(total >= 1900, `waited for the straggler (${total} ms)`);
  assert.ok(total <= 2500, `drain took ${total} ms`);
  assert.equal(app.berth.state(), 'stopped');
  assert.ok(backend.closedWith !== undefined && backend.closedWith <= t0 + 2500, 'backend closed with a deadline inside the window');
  assert.ok(backend.aborted.some((a) => a.reason === 'draining'));
  await assert.rejects(fetch(`${app.base}/health`), 'the server is closed');
});

test('drain with nothing in flight returns promptly, and a second call shares the first', async () => {
  const app = await startApp({ backend: createEchoBackend(), spec: { drain: { gracePeriodSeconds: 5 } } });
  const t0 = Date.now();
  const first = app.berth.drain();
  const second = app.berth.drain();
  assert.equal(first, second);
  await first;
  assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
  assert.equal(app.berth.state(), 'stopped');
});

test('drain with real SDK clients in both eras: in-flight calls complete before the process may exit', async () => {
  const { factory, control } = httpFixture();
  const app = await startApp({ backend: fixtureBackend(factory), spec: { drain: { gracePeriodSeconds: 2 } } });
  const clients: Client[] = [];
  try {
    const results: Array<Promise<unknown>> = [];
    for (const mode of ['legacy', 'auto'] as const) {
      const client = new Client({ name: `drain-${mode}`, version: '1.0.0' }, { versionNegotiation: { mode } });
      await client.connect(new StreamableHTTPClientTransport(new URL(app.url)));
      clients.push(client);
      results.push(client.callTool({ name: 'gate', arguments: { name: mode } }));
    }
    await eventually(() => control.waiting().length === 2, 3000, 'both calls to reach the tool');
    const t0 = Date.now();
    const drained = app.berth.drain();
    await sleep(300);
    control.open('legacy');
    control.open('auto');
    const [legacy, modern] = (await Promise.all(results)) as Array<{ content: Array<{ text: string }> }>;
    assert.equal(legacy?.content[0]?.text, 'gate legacy opened');
    assert.equal(modern?.content[0]?.text, 'gate auto opened');
    await drained;
    assert.ok(Date.now() - t0 < 2500);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await app.close();
  }
});

test('a call that arrives once the backend is closing gets a retryable 503 in both eras, not an in-band error', async () => {
  const real = fixtureBackend(httpFixture().factory);
  let closing = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The real module backend, its close held open: the window in which a late request could reach it.
  const backend = new Proxy(real, {
    get(target, key) {
      if (key === 'close')
        return async (deadline: number) => {
          closing = true;
          const closed = target.close(deadline);
          await gate;
          return closed;
        };
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const app = await startApp({ backend, spec: { drain: { gracePeriodSeconds: 2 } } });
  const sid = await initSession(app.url);
  const drained = app.berth.drain();
  await eventually(() => closing, 2000, 'the drain reached the backend');
  try {
    const modern = modernRequest(20, 'tools/call', { name: 'echo', arguments: { text: 'late' } });
    const legacy = { headers: legacyHeaders(sid), body: call(21, 'echo', { text: 'late' }) };
    for (const [era, req, id] of [['modern', modern, 20], ['legacy', legacy, 21]] as const) {
      const res = await fetch(app.url, { method: 'POST', headers: req.headers, body: req.body });
      assert.equal(res.status, 503, `${era}: refused with a status its client retries`);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(res.headers.get('connection'), 'close');
      assert.equal(res.headers.get('berth-draining'), '1', 'a forwarding replica knows nothing ran here');
      const body = (await res.json()) as { id: number; error: { code: number } };
      assert.deepEqual([body.id, body.error.code], [id, -32002]);
    }
  } finally {
    release();
    await drained;
  }
  assert.equal(app.berth.state(), 'stopped');
});
