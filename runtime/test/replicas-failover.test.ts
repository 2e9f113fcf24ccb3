/**
 * Three runtime processes on one Redis behind HAProxy (round-robin, no
 * stickiness): the replica running a streamed tool call is killed with
 * SIGKILL in the middle of it, and the client resumes on another replica
 * with Last-Event-ID — no event lost, none duplicated, the call finished once.
 * (The module backend keeps nothing per session, so any replica runs a
 * session's calls: the one to kill is named by the call's in-flight record.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { startHaproxy, type HaproxyProcess } from './helpers/haproxy.ts';
import { initSession } from './helpers/http-app.ts';
import { legacyCall, PREFIX, startReplica, type Replica } from './helpers/replica-rig.ts';
import { parseEventId } from '../src/store/redis/event-id.ts';

let redis: RedisProcess;
let proxy: HaproxyProcess;
let replicas: Replica[] = [];
let client: Redis;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  replicas = await Promise.all([startReplica(redis.url), startReplica(redis.url), startReplica(redis.url)]);
  proxy = await startHaproxy(replicas.map((r) => r.port));
});

after(async () => {
  await Promise.allSettled(replicas.map((r) => r.berth.stop('SIGKILL')));
  await proxy?.stop();
  client?.disconnect();
  await redis?.stop();
});

/** The replica running the session's unfinished call, from its in-flight record (`<replica>\t<attempts>\t<request>`). */
async function runningReplica(sessionId: string): Promise<Replica> {
  for (let i = 0; i < 100; i++) {
    const entries = Object.values(await client.hgetall(`${PREFIX}f:${sessionId}`));
    const id = entries[0]?.split('\t')[0];
    const replica = replicas.find((r) => r.id === id);
    if (replica) return replica;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no in-flight call of ${sessionId} on a known replica`);
}

/** Every stored message event of one SSE stream of a session, in order. */
async function storedEvents(sessionId: string, streamId: string): Promise<string[]> {
  const rows = (await client.xrange(`${PREFIX}e:${sessionId}`, '-', '+')) as Array<[string, string[]]>;
  return rows.filter(([, f]) => f[1] === streamId && f[3] !== '').map(([entry]) => entry);
}

test('kill -9 of the replica running a call mid-stream: the client resumes elsewhere, 0 events lost, 0 duplicated', async (t) => {
  const url = `${proxy.url}/mcp`;
  const sid = await initSession(url);
  let killedAt = 0;
  let victim: Replica | undefined;
  const progress: number[] = [];
  const result = await legacyCall(url, sid, 7, 'count', { n: 30, stepMs: 100 }, {
    progressToken: 'p1',
    deadlineMs: 30_000,
    onEvent: (e) => {
      const msg = JSON.parse(e.data) as { method?: string; params?: { progress?: number } };
      if (msg.method !== 'notifications/progress') return;
      progress.push(msg.params?.progress ?? -1);
      if (progress.length === 8 && !victim) {
        void runningReplica(sid).then((running) => {
          victim = running;
          killedAt = Date.now();
          victim.berth.child.kill('SIGKILL');
        });
      }
    },
  });
  const doneAt = Date.now();
  assert.ok(victim, 'the replica running the call was killed');
  assert.ok(result.response?.result, `final result: ${JSON.stringify(result.response)}`);
  assert.equal(result.response.result.isError, undefined);
  assert.match(result.response.result.content?.[0]?.text ?? '', /^counted to 30 on \d+$/);
  assert.notEqual(result.response.result.content?.[0]?.text, `counted to 30 on ${victim.pid}`, 'finished by a surviving replica');
  assert.ok(result.resumes >= 1, 'the stream was resumed');

  const ids = result.events.map((e) => e.id!);
  assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only increases');
  assert.equal(new Set(progress).size, progress.length, 'no progress step repeated');
  const streamId = parseEventId(ids[0]!)!.streamId;
  const stored = await storedEvents(sid, streamId);
  assert.deepEqual(ids.map((id) => parseEventId(id)!.entryId), stored, 'the client got exactly the stored events, in order');
  assert.equal(await client.hget(`${PREFIX}f:${sid}`, streamId), null, 'the in-flight record is gone');
  t.diagnostic(`resume after kill -9: ${doneAt - killedAt} ms from kill to final response (stream broken → resumed ${result.resumes}x, includes re-running the 3 s tool); progress before kill ${progress.length}`);
  replicas = replicas.filter((r) => r !== victim);
});

test('a non-idempotent call lost with its replica ends with a clear isError, not a hang', async (t) => {
  const url = `${proxy.url}/mcp`;
  replicas.push(await startReplica(redis.url));
  await proxy.setServer(0, replicas.at(-1)!.port);
  await proxy.setServer(1, replicas[0]!.port);
  await proxy.setServer(2, replicas[1]!.port);
  const sid = await initSession(url);
  const started = Date.now();
  const call = legacyCall(url, sid, 9, 'charge', { ms: 3000 }, { deadlineMs: 30_000 });
  const victim = await runningReplica(sid);
  await new Promise((r) => setTimeout(r, 700 - (Date.now() - started)));
  victim.berth.child.kill('SIGKILL');
  const result = await call;
  assert.equal(result.response?.result?.isError, true, JSON.stringify(result.response));
  assert.match(result.response?.result?.content?.[0]?.text ?? '', /replica running charge was lost and the call was not retried/);
  t.diagnostic(`isError after ${Date.now() - started} ms`);
  replicas = replicas.filter((r) => r !== victim);
});
