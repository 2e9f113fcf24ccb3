/** The same store tests against a local 6-node Redis Cluster (3 masters, 3 replicas). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisCluster, type RedisClusterProcess } from './helpers/redis-server.ts';
import { storeSuite } from './helpers/store-suite.ts';
import { createRedisStores } from '../src/store/redis/index.ts';
import { silent } from './helpers/redis-stores.ts';

let cluster: RedisClusterProcess;
before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster?.stop();
});

storeSuite(() => cluster.url);

test('a Cluster refuses a key prefix without a hash tag (multi-key scripts need one slot)', async () => {
  await assert.rejects(
    createRedisStores({ url: cluster.url, keyPrefix: 'berth:plain:', spec: { session: { idleTimeoutSeconds: 60, maxSessions: 10, resumability: { maxEvents: 10, retentionSeconds: 10 } } }, logger: silent, replicaId: 'r' }),
    /hash tag/,
  );
});

test('the ?cluster=true form of a redis:// URL also reaches the Cluster', async () => {
  const s = await createRedisStores({
    url: `redis://127.0.0.1:${cluster.ports[1]}?cluster=true`,
    keyPrefix: 'berth:{test/cluster-flag}:',
    spec: { session: { idleTimeoutSeconds: 60, maxSessions: 10, resumability: { maxEvents: 10, retentionSeconds: 10 } } },
    logger: silent,
    replicaId: 'r',
  });
  try {
    assert.equal(s.target.mode, 'cluster');
    assert.equal(await s.sessions.count(), 0);
    assert.ok(s.healthy());
  } finally {
    await s.close();
  }
});
