/**
 * Two runtime replicas sharing a real redis-server (Redis session, event and
 * bus stores): a legacy stream resumes on the other replica, change events
 * cross replicas exactly once, and a session's GET stream on one replica
 * hears the owner's notifications.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createEchoBackend, type EchoBackend } from './helpers/echo-backend.ts';
import { initSession, legacyHeaders, modernRequest, silent, SseReader, startApp, testConfig, type SseEvent, type TestApp } from './helpers/http-app.ts';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { createRedisStores, keyPrefixFor, type RedisStores } from '../src/store/redis/index.ts';

let redis: RedisProcess;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

interface Replica {
  app: TestApp;
  backend: EchoBackend;
  stores: RedisStores;
}

async function replicas(count: number): Promise<{ list: Replica[]; close(): Promise<void> }> {
  const prefix = keyPrefixFor('test', randomBytes(6).toString('hex'));
  const spec = testConfig().spec;
  const list: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const replicaId = `r${i}`;
    const stores = await createRedisStores({ url: redis.url, keyPrefix: prefix, spec, logger: silent, replicaId, connectWaitMs: 10_000 });
    const backend = createEchoBackend();
    const app = await startApp({ backend, stores, replicaId });
    list.push({ app, backend, stores });
  }
  return {
    list,
    close: async () => {
      for (const r of list) {
        await r.app.close();
        await r.stores.close();
      }
    },
  };
}

const post = (url: string, headers: Record<string, string>, body: unknown) => fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
const data = (events: SseEvent[]) => events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data));

test('a legacy stream dropped on one replica resumes on another from Redis, losing and repeating nothing', async () => {
  const { list, close } = await replicas(2);
  const [a, b] = list as [Replica, Replica];
  try {
    const sid = await initSession(a.app.url);
    const res = await post(a.app.url, legacyHeaders(sid), {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'progress', arguments: { steps: 10, delayMs: 40 }, _meta: { progressToken: 't' } },
    });
    const reader = new SseReader(res);
    const seen = [await reader.next(), await reader.next(), await reader.next()] as SseEvent[];
    await reader.cancel();
    const resumed = await fetch(b.app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': seen.at(-1)?.id as string } });
    assert.equal(resumed.status, 200);
    const all = [...seen, ...(await new SseReader(resumed).rest(8000))];
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'no duplicate ids');
    const messages = data(all);
    assert.deepEqual(
      messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(messages.at(-1).result.content[0].text, 'done 10');
  } finally {
    await close();
  }
});

test('a quick, small call is one JSON answer with nothing stored; a quick, large one stays resumable when cut after its priming event', async () => {
  const { list, close } = await replicas(2);
  const [a, b] = list as [Replica, Replica];
  try {
    const sid = await initSession(a.app.url);
    const small = await post(a.app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'echo', arguments: { text: 'whole' } } });
    assert.match(small.headers.get('content-type') ?? '', /application\/json/);
    assert.equal((await small.json()).result.content[0].text, 'whole');
    assert.equal(await a.stores.redis.xlen(`${a.stores.keys.prefix}e:${sid}`), 0, 'no event stored for it');
    // Larger than one packet: the client could get the priming event and lose the rest.
    const res = await post(a.app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'big', arguments: { bytes: 4000 } } });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const whole = await res.text();
    const frames = whole.split('\n\n').filter((f) => f.length > 0);
    assert.equal(frames.length, 2, 'priming and result in one response');
    const primingId = /^id: (.+)$/m.exec(frames[0]!)?.[1];
    const resultId = /^id: (.+)$/m.exec(frames[1]!)?.[1];
    assert.ok(primingId && resultId);
    // The write was cut after the priming event: resume from it, elsewhere.
    const resumed = await fetch(b.app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': primingId } });
    assert.equal(resumed.status, 200);
    const replay = await new SseReader(resumed).rest(5000);
    assert.deepEqual(
      replay.map((e) => e.id),
      [resultId],
      'exactly the result, under the id of the original write',
    );
    assert.equal(JSON.parse(replay[0]!.data).id, 7);
  } finally {
    await close();
  }
});

test('change events cross replicas through the Redis bus, each delivered once per listener', async () => {
  const { list, close } = await replicas(2);
  const [a, b] = list as [Replica, Replica];
  try {
    const listen = async (r: Replica, id: string) => {
      const reader = new SseReader(await fetch(r.app.url, { method: 'POST', ...modernRequest(id, 'subscriptions/listen', { notifications: { toolsListChanged: true } }) }));
      await reader.next();
      return reader;
    };
    const onA = await listen(a, 'la');
    const onB = await listen(b, 'lb');
    a.backend.emit({ kind: 'tools_list_changed' });
    assert.equal(JSON.parse((await onB.next())?.data ?? '{}').params._meta['io.modelcontextprotocol/subscriptionId'], 'lb');
    assert.equal(JSON.parse((await onA.next())?.data ?? '{}').method, 'notifications/tools/list_changed');
    await assert.rejects(onA.next(400), /timed out/, 'the local event is not delivered twice');
    await assert.rejects(onB.next(100), /timed out/);
    await onA.cancel();
    await onB.cancel();
  } finally {
    await close();
  }
});

test('a GET stream on another replica hears the owner\'s notifications; DELETE anywhere ends the session everywhere', async () => {
  const { list, close } = await replicas(2);
  const [a, b] = list as [Replica, Replica];
  try {
    const sid = await initSession(a.app.url);
    const get = new SseReader(await fetch(b.app.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }));
    assert.equal((await get.next())?.data, '');
    b.backend.emit({ kind: 'prompts_list_changed' });
    assert.equal(JSON.parse((await get.next(5000))?.data ?? '{}').method, 'notifications/prompts/list_changed');
    await get.cancel();
    const del = await fetch(b.app.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    const after = await post(a.app.url, legacyHeaders(sid), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(after.status, 404);
  } finally {
    await close();
  }
});
