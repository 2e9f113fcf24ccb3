/**
 * Tenant isolation in a real redis-server: each McpServer's ACL user reaches
 * only its own prefix, and deleting the McpServer removes its keys and user
 * (the cleanup finalizer), surviving a Redis outage and a Redis restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import {
  clusterWithCrd,
  dropNamespace,
  freshNamespace,
  kubectlApply,
  kubectlJson,
  mcpManifest,
  runOperator,
  startRedis,
  waitFor,
  waitForCondition,
  type RedisServer,
  type TestOperator,
} from './helpers/cluster.ts';
import { moduleSpec } from './helpers/fixtures.ts';

let cluster: TestCluster;
let ns: string;
let op: TestOperator;
let redis: RedisServer;
const clients: Redis[] = [];

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-redis');
  redis = await startRedis();
  op = await runOperator(cluster, ns, { redis: { adminUrl: redis.adminUrl } });
});

after(async () => {
  for (const c of clients) c.disconnect();
  await op?.stop();
  await redis?.stop();
  if (cluster && ns) await dropNamespace(cluster, ns);
});

async function tenantUrl(name: string): Promise<string> {
  const secret = await kubectlJson(cluster, ['-n', ns, 'get', 'secret', `${name}-redis`]);
  return Buffer.from(secret.data.url, 'base64').toString('utf8');
}

function connect(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

const prefix = (name: string): string => `berth:{${ns}/${name}}:`;
const denied = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the command was allowed');
};

test("a tenant's ACL user reaches its own prefix and nothing else", async () => {
  await kubectlApply(cluster, [mcpManifest(ns, 'notes', moduleSpec), mcpManifest(ns, 'other', moduleSpec)]);
  await waitForCondition(cluster, ns, 'notes', 'Ready');
  await waitForCondition(cluster, ns, 'other', 'Ready');
  const url = await tenantUrl('notes');
  assert.match(url, new RegExp(`^redis://berth\\.${ns}\\.notes:`));
  const tenant = connect(url);
  await tenant.connect();
  const p = prefix('notes');
  // What the runtime does: hashes, streams, sorted sets, pub/sub, scripts using TIME.
  await tenant.hset(`${p}s:1`, 'principal', 'alice');
  await tenant.xadd(`${p}e:1`, '*', 'data', 'x');
  await tenant.zadd(`${p}sessions`, 1, '1');
  await tenant.set(`${p}token`, 't');
  await tenant.publish(`${p}bus`, 'hello');
  assert.equal(await tenant.eval("redis.call('TIME'); return redis.call('GET', KEYS[1])", 1, `${p}token`), 't');
  await tenant.info('server');

  await redis.admin.set(`${prefix('other')}secret`, 'theirs');
  assert.match(await denied(tenant.get(`${prefix('other')}secret`)), /NOPERM/);
  assert.match(await denied(tenant.set('unprefixed', 'x')), /NOPERM/);
  assert.match(await denied(tenant.publish(`${prefix('other')}bus`, 'x')), /NOPERM/);
  assert.match(await denied(tenant.eval("return redis.call('GET', KEYS[1])", 1, `${prefix('other')}secret`)), /NOPERM/);
  assert.match(await denied(tenant.scan('0')), /NOPERM/, 'SCAN would reveal other tenants’ key names');
  assert.match(await denied(tenant.keys('*')), /NOPERM/);
  assert.match(await denied(tenant.randomkey()), /NOPERM/);
  assert.match(await denied(tenant.flushall()), /NOPERM/);
  assert.match(await denied(tenant.config('GET', 'requirepass')), /NOPERM/);
  assert.match(await denied(tenant.call('ACL', 'LIST')), /NOPERM/);
  // Redis before mid-2026 sends BCAST invalidations without an ACL check: other tenants' key names (session ids).
  assert.match(await denied(tenant.client('TRACKING', 'ON', 'BCAST')), /NOPERM/, 'BCAST tracking would stream other tenants’ key names');
});

test('deleting an McpServer removes its keys and ACL user, then its finalizer; other tenants keep theirs', async () => {
  const p = prefix('notes');
  assert.equal((await redis.admin.keys(`${p}*`)).length, 4);
  const url = await tenantUrl('notes');
  await cluster.kubectl(['-n', ns, 'delete', 'mcps', 'notes', '--wait=false']);
  await waitFor('the McpServer gone', async () => (await cluster.kubectlResult(['-n', ns, 'get', 'mcps', 'notes'])).code !== 0, { namespace: ns });
  assert.deepEqual(await redis.admin.keys(`${p}*`), []);
  assert.equal(await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.notes`), null);
  assert.equal(await redis.admin.get(`${prefix('other')}secret`), 'theirs');
  assert.ok(await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.other`));
  const creds = new URL(url);
  const stale = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  stale.on('error', () => undefined);
  clients.push(stale);
  await stale.connect();
  assert.match(await denied(stale.auth(decodeURIComponent(creds.username), decodeURIComponent(creds.password))), /WRONGPASS|invalid username-password/);
  const events = await cluster.kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=notes,reason=CleanedUp']);
  assert.match(events, /Removed 4 Redis keys and the ACL user/);
});

test('a Redis restart that lost the ACL users is repaired with the same credentials', async () => {
  const url = await tenantUrl('other');
  await redis.restart();
  assert.equal(await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.other`).catch(() => null), null, 'the restart lost the user');
  await waitFor('the ACL user recreated', async () => (await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.other`)) !== null, { namespace: ns, timeoutMs: 30_000 });
  const tenant = connect(url);
  await tenant.connect();
  assert.equal(await tenant.set(`${prefix('other')}k`, 'v'), 'OK');
  assert.equal(await tenantUrl('other'), url, 'the Secret (and so the pods) did not change');
});

test('cleanup waits out a Redis outage: the finalizer stays, a warning event says why, and it completes later', async () => {
  await kubectlApply(cluster, mcpManifest(ns, 'patient', moduleSpec));
  await waitForCondition(cluster, ns, 'patient', 'Ready');
  await redis.admin.set(`${prefix('patient')}k`, 'v');
  await redis.down();
  await cluster.kubectl(['-n', ns, 'delete', 'mcps', 'patient', '--wait=false']);
  await waitFor('a CleanupFailed event', async () => /CleanupFailed/.test(await cluster.kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=patient'])), {
    namespace: ns,
    timeoutMs: 30_000,
  });
  const stuck = await kubectlJson(cluster, ['-n', ns, 'get', 'mcps', 'patient']);
  assert.ok(stuck.metadata.deletionTimestamp);
  assert.deepEqual(stuck.metadata.finalizers, ['berth.dev/cleanup']);
  await redis.restart();
  await waitFor('the McpServer gone after Redis returned', async () => (await cluster.kubectlResult(['-n', ns, 'get', 'mcps', 'patient'])).code !== 0, {
    namespace: ns,
    timeoutMs: 60_000,
  });
  assert.equal(await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.patient`), null);
});

test('berth.dev/skip-cleanup leaves the keys in place', async () => {
  await kubectlApply(cluster, mcpManifest(ns, 'keeper', moduleSpec, { annotations: { 'berth.dev/skip-cleanup': 'true' } }));
  await waitForCondition(cluster, ns, 'keeper', 'Ready');
  await redis.admin.set(`${prefix('keeper')}k`, 'kept');
  await cluster.kubectl(['-n', ns, 'delete', 'mcps', 'keeper', '--wait=true', '--timeout=60s']);
  assert.equal(await redis.admin.get(`${prefix('keeper')}k`), 'kept');
});

test('an McpServer with its own Redis Secret gets no ACL user and no finalizer', async () => {
  await kubectlApply(cluster, [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'own-redis', namespace: ns }, stringData: { url: 'redis://elsewhere:6379/0' } },
    mcpManifest(ns, 'independent', { ...moduleSpec, redis: { secretRef: { name: 'own-redis' } } }),
  ]);
  const mcp = await waitForCondition(cluster, ns, 'independent', 'Ready');
  assert.equal(mcp.metadata.finalizers, undefined);
  assert.equal(await redis.admin.call('ACL', 'GETUSER', `berth.${ns}.independent`), null);
  assert.equal((await cluster.kubectlResult(['-n', ns, 'get', 'secret', 'independent-redis'])).code, 1);
  const doc = JSON.parse((await kubectlJson(cluster, ['-n', ns, 'get', 'configmap', 'independent-config'])).data['config.json']);
  assert.equal(doc.runtime.redis.urlFile, '/var/run/berth/secrets/own-redis/url');
});
