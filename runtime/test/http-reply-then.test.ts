/**
 * POSTs leave the reply to Berth without fastify waiting on it: nothing on
 * the path resolves with `reply` (a thenable), so fastify's Reply.then, which
 * hangs end-of-stream listeners on the response, never runs for a call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { initSession, legacyHeaders, modernRequest, startApp } from './helpers/http-app.ts';

const Reply = createRequire(import.meta.url)('fastify/lib/reply.js') as { prototype: { then: (...a: unknown[]) => unknown } };

test('modern and legacy calls, and their error answers, are sent without Reply.then', async (t) => {
  const original = Reply.prototype.then;
  let thens = 0;
  Reply.prototype.then = function (this: unknown, ...a: unknown[]) {
    thens++;
    return original.apply(this, a);
  };
  t.after(() => {
    Reply.prototype.then = original;
  });
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const m = modernRequest(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' } });
    const modern = await fetch(app.url, { method: 'POST', headers: m.headers, body: m.body });
    assert.equal(modern.status, 200);
    await modern.text();
    const sid = await initSession(app.url);
    const thensAfterSetup = thens;
    const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } };
    const legacy = await fetch(app.url, { method: 'POST', headers: legacyHeaders(sid), body: JSON.stringify(call) });
    assert.equal(legacy.status, 200);
    assert.match(await legacy.text(), /"text":"hi"/);
    const unknown = await fetch(app.url, { method: 'POST', headers: legacyHeaders('no-such-session'), body: JSON.stringify(call) });
    assert.equal(unknown.status, 404);
    await unknown.text();
    assert.equal(thensAfterSetup, 0, 'initialize and a modern call');
    assert.equal(thens, 0, 'a legacy call and an unknown session');
  } finally {
    await app.close();
  }
});
