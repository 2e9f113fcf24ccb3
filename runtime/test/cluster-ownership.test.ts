/**
 * Whether a session's owner can keep it while other replicas serve its calls
 * (Ownership.serving), read without client tracking — the Redis Cluster
 * path — against a real redis-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createOwnership, type Ownership } from '../src/cluster/ownership.ts';
import { createCommandClient, waitReady, type RedisClient } from '../src/store/redis/connection.ts';
import { keysFor } from '../src/store/redis/keys.ts';
import { parseRedisUrl } from '../src/store/redis/url.ts';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';

let redis: RedisProcess;
let client: RedisClient;
before(async () => {
  redis = await startRedis();
  client = createCommandClient(parseRedisUrl(redis.url), { connectionName: 'berth:test-ownership' });
  assert.equal(await waitReady(client, 10_000), true);
});
after(async () => {
  client?.disconnect();
  await redis?.stop();
});

test('serving: this replica and a live one are; a draining, gone or unknown one is not', async () => {
  const keys = keysFor('berth:{test/ownership}:');
  const logger = pino({ level: 'silent' });
  const make = (replicaId: string): Ownership => createOwnership({ redis: client, keys, replicaId, logger, token: 't', heartbeatMs: 200, ttlMs: 1000 });
  const a = make('a');
  const b = make('b');
  await a.start('http://127.0.0.1:1');
  await b.start('http://127.0.0.1:2');
  try {
    assert.equal(await a.serving('a'), true);
    assert.equal(await a.serving('b'), true);
    assert.equal(await a.serving('nobody'), false);
    assert.equal(await a.serving(undefined), false);
    await b.setDraining();
    assert.equal(await a.serving('b'), false, 'a draining owner: its sessions are claimed, not served around');
    await b.stop();
    assert.equal(await a.serving('b'), false, 'a stopped owner has no heartbeat');
  } finally {
    await a.stop();
    await b.stop().catch(() => {});
  }
});
