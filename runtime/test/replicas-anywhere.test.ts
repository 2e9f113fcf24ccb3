/**
 * A module backend keeps nothing per session, so a legacy session's calls run
 * on whichever replica receives them (no hop to the owner). What the session
 * still shares crosses replicas: a client's answer to an elicitation and a
 * cancel reach the replica running the call, a log level set through one
 * replica filters calls on another, a DELETE stops the session's calls
 * wherever they run, and the owner keeps fanning out change
 * notifications for a session whose traffic all goes elsewhere. Three real
 * runtime processes on one real Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { initSession, legacyHeaders, SseReader } from './helpers/http-app.ts';
import { legacyCall, startReplica, type Replica } from './helpers/replica-rig.ts';

const SHORT_IDLE = join(import.meta.dirname, 'fixtures', 'replicas', 'mcpserver-short-idle.yaml');

let redis: RedisProcess;
let a: Replica;
let b: Replica;
let c: Replica;
const url = (r: Replica) => `http://127.0.0.1:${r.port}/mcp`;

before(async () => {
  redis = await startRedis();
  [a, b, c] = await Promise.all([startReplica(redis.url, SHORT_IDLE), startReplica(redis.url, SHORT_IDLE), startReplica(redis.url, SHORT_IDLE)]);
});

after(async () => {
  await Promise.allSettled([a, b, c].map((r) => r?.berth.stop('SIGKILL')));
  await redis?.stop();
});

const post = (r: Replica, sid: string, body: unknown) => fetch(url(r), { method: 'POST', headers: legacyHeaders(sid), body: JSON.stringify(body) });
const call = (id: number | string, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });
const parse = (e: { data: string } | undefined) => JSON.parse(e?.data ?? 'null') as { id?: unknown; method?: string; params?: Record<string, unknown>; result?: { content?: Array<{ text?: string }> } };

test('an elicitation asked by a call on one replica is answered through another', async () => {
  const sid = await initSession(url(a), { elicitation: {} });
  const reader = new SseReader(await post(b, sid, call(1, 'ask')));
  assert.equal((await reader.next())?.data, '', 'priming');
  const ask = parse(await reader.next());
  assert.equal(ask.method, 'elicitation/create');
  const answer = await post(c, sid, { jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { name: 'Ada' } } });
  assert.equal(answer.status, 202);
  const final = parse(await reader.next(10_000));
  assert.equal(final.id, 1);
  assert.equal(final.result?.content?.[0]?.text, `accept:{"name":"Ada"} on ${b.berth.child.pid}`, 'run by the replica that received the call');
});

test('a cancel sent to another replica stops the call, and no response is sent for it', async () => {
  const sid = await initSession(url(a));
  const started = Date.now();
  const reader = new SseReader(await post(b, sid, call('c-1', 'wait_abort')));
  assert.equal((await reader.next())?.data, '', 'priming: the call is running');
  const cancel = await post(c, sid, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c-1', reason: 'user' } });
  assert.equal(cancel.status, 202);
  assert.deepEqual(await reader.rest(10_000), [], 'the stream closes without a response');
  assert.ok(Date.now() - started < 10_000, 'well before the tool would have answered by itself (20 s)');
});

test('a DELETE through the owner stops the session\'s call running on another replica, and its stream closes', async () => {
  const sid = await initSession(url(a));
  const started = Date.now();
  const reader = new SseReader(await post(b, sid, call('d-1', 'wait_abort')));
  assert.equal((await reader.next())?.data, '', 'priming: the call is running');
  const deleted = await fetch(url(a), { method: 'DELETE', headers: legacyHeaders(sid) });
  assert.equal(deleted.status, 200);
  assert.deepEqual(await reader.rest(10_000), [], 'the stream closes without a response');
  assert.ok(Date.now() - started < 10_000, 'well before the tool would have answered by itself (20 s)');
  const after = await post(c, sid, call('d-2', 'wait_abort'));
  assert.equal(after.status, 404, 'the session is gone on every replica');
  await after.body?.cancel();
});

test('a log level set through one replica filters the log lines of a call on another', async () => {
  const sid = await initSession(url(a));
  // logging/setLevel changes session state: the replica that receives it hands it to the owner.
  const set = await post(b, sid, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'error' } });
  assert.equal(set.status, 200);
  const setBody = await set.text();
  assert.deepEqual((JSON.parse(setBody) as { result?: unknown }).result, {}, setBody);
  const levels: string[] = [];
  const result = await legacyCall(url(c), sid, 2, 'log_levels', {}, {
    onEvent: (e) => {
      const msg = parse(e);
      if (msg.method === 'notifications/message') levels.push(String(msg.params?.level));
    },
  });
  assert.equal(result.response?.result?.content?.[0]?.text, `logged on ${c.berth.child.pid}`);
  assert.deepEqual(levels, ['error']);
});

test('the owner keeps fanning out change notifications for a session whose calls all run elsewhere', async (t) => {
  const sid = await initSession(url(a));
  // Past the idle timeout (10 s) on the owner's own clock: every call goes to b.
  const until = Date.now() + 16_000;
  let calls = 0;
  while (Date.now() < until) {
    assert.ok((await legacyCall(url(b), sid, ++calls, 'echo', { text: 'x' })).response?.result);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const get = await fetch(url(c), { method: 'GET', headers: { ...legacyHeaders(sid), accept: 'text/event-stream' } });
  assert.equal(get.status, 200);
  const stream = new SseReader(get);
  assert.equal((await stream.next())?.data, '', 'priming');
  assert.ok((await legacyCall(url(b), sid, ++calls, 'announce', {})).response?.result);
  const note = parse(await stream.next(10_000));
  assert.equal(note.method, 'notifications/tools/list_changed', 'appended by the owner, delivered by the replica holding the GET stream');
  await stream.cancel();
  t.diagnostic(`${calls} calls through a non-owner over 16 s; the owner still fans out`);
});
