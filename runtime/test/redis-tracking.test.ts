/**
 * Session records cached under Redis client tracking, against a real
 * redis-server: a read that needs no touch is served from memory, and every
 * way the record can change behind the replica's back — another client's
 * write, another replica's claim, a delete, idle expiry, FLUSHALL, a write while
 * either connection was down — is seen as soon as Redis' invalidation has
 * arrived. (Redis writes the writer's reply before the invalidation, on
 * another connection, so "the next read in this process" may still race it
 * by microseconds; a request caused by that write comes later than that.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { eventually, freshPrefix, record, sleep, stores } from './helpers/redis-stores.ts';
import { keysFor, type RedisStores } from '../src/store/redis/index.ts';

let redis: RedisProcess;
let other: Redis;
const open: RedisStores[] = [];

before(async () => {
  redis = await startRedis();
  other = new Redis({ port: redis.port, lazyConnect: false });
});
after(async () => {
  for (const s of open) await s.close();
  other?.disconnect();
  await redis?.stop();
});

/** Session reads that reached Redis so far (the touch script's HGETALL). */
const redisReads = async (): Promise<number> => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await other.info('commandstats'))?.[1] ?? 0);

async function tracked(prefix: string, session = {}, replicaId?: string): Promise<RedisStores> {
  const s = await stores(redis.url, prefix, session, replicaId);
  open.push(s);
  await eventually(() => s.tracking(), 5000, 'client tracking on');
  return s;
}

/** Waits (briefly) for the invalidation of a write to arrive: with no invalidation the cached value would stay for 10 s. */
async function seen<T>(read: () => Promise<T>, want: (v: T) => boolean, what: string): Promise<void> {
  await eventually(async () => want(await read()), 1000, what);
}

/** The server-side id of the connection named `name`. */
async function clientId(name: string): Promise<string> {
  const list = String(await other.client('LIST'));
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `a connection named ${name}`);
  return /^id=(\d+)/.exec(line)![1]!;
}

test('a read that needs no touch comes from memory; any change in Redis is seen by the next read', async () => {
  const prefix = freshPrefix();
  const s = await tracked(prefix);
  const key = keysFor(prefix).session;
  const rec = record();
  await s.sessions.create(rec);

  const r0 = await redisReads();
  const first = await s.sessions.get(rec.id);
  const second = await s.sessions.get(rec.id);
  const third = await s.sessions.get(rec.id);
  assert.equal((await redisReads()) - r0, 1, 'one read reached Redis, two were served from memory');
  assert.deepEqual(second, first);
  assert.deepEqual(third, first);
  assert.notEqual(second, third, 'each caller gets its own copy');

  await other.hset(key(rec.id), 'o', 'replica-b');
  await seen(() => s.sessions.get(rec.id), (r) => r?.owner === 'replica-b', "another client's write");

  const peer = await tracked(prefix);
  await s.sessions.get(rec.id);
  assert.equal(await peer.sessions.update(rec.id, { owner: 'replica-c' }), true);
  await seen(() => s.sessions.get(rec.id), (r) => r?.owner === 'replica-c', "another replica's claim");

  await s.sessions.get(rec.id);
  await other.del(key(rec.id));
  await seen(() => s.sessions.get(rec.id), (r) => r === undefined, 'a delete');

  const flushed = record();
  await s.sessions.create(flushed);
  await s.sessions.get(flushed.id);
  await s.sessions.get(flushed.id);
  await other.flushall();
  await seen(() => s.sessions.get(flushed.id), (r) => r === undefined, 'FLUSHALL');
});

test('cold reads of one session arriving together reach Redis once, and each caller gets its own copy', async () => {
  const s = await tracked(freshPrefix());
  const rec = record();
  await s.sessions.create(rec);
  const r0 = await redisReads();
  const burst = await Promise.all(Array.from({ length: 20 }, () => s.sessions.get(rec.id)));
  assert.equal((await redisReads()) - r0, 1, 'one read for twenty callers');
  for (const r of burst) assert.deepEqual(r, burst[0]);
  assert.equal(new Set(burst).size, 20, 'no two callers share an object');
  assert.equal(burst[0]?.id, rec.id);
});

test('a cached record is not served once a touch is due: the idle TTL still slides', async () => {
  // 2 s idle timeout: a touch sets 2.2 s and the next read must touch once 200 ms have passed.
  const s = await tracked(freshPrefix(), { idleTimeoutSeconds: 2 });
  const rec = record();
  await s.sessions.create(rec);
  await s.sessions.get(rec.id);
  const r0 = await redisReads();
  await s.sessions.get(rec.id);
  assert.equal((await redisReads()) - r0, 0, 'served from memory inside the slack');
  await sleep(250);
  const touched = await s.sessions.get(rec.id);
  assert.equal((await redisReads()) - r0, 1, 'read from Redis once a touch was due');
  assert.ok(touched && touched.lastSeenAt > rec.lastSeenAt, 'and that read touched');
  assert.ok((await other.pttl(keysFor(s.keys.prefix).session(rec.id))) > 2000, 'the TTL slid');

  const idle = record();
  await s.sessions.create(idle);
  await s.sessions.get(idle.id);
  await sleep(2300);
  assert.equal(await s.sessions.get(idle.id), undefined, 'an idle session expires although it was cached');
});

for (const which of ['invalidation', 'command'] as const) {
  test(`a write made while the ${which} connection was down is seen: the cache is emptied and trusted again only after a new probe`, async () => {
    const prefix = freshPrefix();
    const replicaId = `trk-${which}`;
    const s = await tracked(prefix, {}, replicaId);
    const key = keysFor(prefix).session;
    const rec = record();
    await s.sessions.create(rec);
    await s.sessions.get(rec.id);
    await s.sessions.get(rec.id);

    const name = which === 'invalidation' ? `berth:${replicaId}:invalidate` : `berth:${replicaId}`;
    await other.client('KILL', 'ID', await clientId(name));
    // Written while nobody tracks the key for this replica: no invalidation will ever come for it.
    await other.hset(key(rec.id), 'o', `after-${which}-loss`);
    await eventually(() => s.tracking(), 5000, 'tracking back on');
    assert.equal((await s.sessions.get(rec.id))?.owner, `after-${which}-loss`);
    await s.sessions.get(rec.id);
    const r0 = await redisReads();
    await s.sessions.get(rec.id);
    assert.equal((await redisReads()) - r0, 0, 'cached again once tracking is proven');
  });
}

test('where client tracking is refused (ACL), every read goes to Redis and nothing else changes', async () => {
  // As the operator's tenant ACL does: everything else of CLIENT (id, setname) stays allowed.
  await other.call('ACL', 'SETUSER', 'no-tracking', 'on', '>secret', '~*', '&*', '+@all', '-client|tracking');
  const prefix = freshPrefix();
  const s = await stores(`redis://no-tracking:secret@127.0.0.1:${redis.port}`, prefix, {}, 'refused');
  open.push(s);
  const rec = record();
  await s.sessions.create(rec);
  await sleep(300);
  assert.equal(s.tracking(), false);
  const r0 = await redisReads();
  for (let i = 0; i < 3; i++) assert.equal((await s.sessions.get(rec.id))?.id, rec.id);
  assert.equal((await redisReads()) - r0, 3);
  assert.equal(s.healthy(), true);
  const connections = async () => Number(/total_connections_received:(\d+)/.exec(await other.info('stats'))?.[1]);
  const c0 = await connections();
  await sleep(2500);
  assert.equal(await connections(), c0, 'a refusal is not retried by reconnecting over and over');
  const names = String(await other.client('LIST'));
  assert.match(names, / name=berth:refused /, 'the command connection stays');
  assert.doesNotMatch(names, / name=berth:refused:invalidate /, 'the useless invalidation connection is closed');
});
