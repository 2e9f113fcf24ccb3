/**
 * Tenant ACL users on real redis-servers: standalone and a three-master
 * Cluster (ACLs are per node, so every node must get the user). Setting a
 * user is idempotent and writes only on difference; cleanup removes the
 * tenant's keys on every master and the user on every node.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { DEFAULT_ACL_COMMANDS } from '../src/config.ts';
import { connectTenantRedis, credentialsOf, newPassword, redisPort, tenantUrl, type TenantRedis } from '../src/redis/tenants.ts';
import { startRedis as startRedisNode, type RedisProcess } from '../../runtime/test/helpers/redis-server.ts';
import { startRedis, testLogger, type RedisServer } from './helpers/cluster.ts';

const exec = promisify(execFile);
const PASSWORD = 'cluster-admin';

interface RedisCluster {
  ports: number[];
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Three masters formed with redis-cli --cluster create, then given a password
 * on the default user (and masterauth), as a platform's Cluster has. Nodes come
 * from the runtime's helper: a bus port of its own below the ephemeral range
 * (the default, port + 10000, can be taken by any outgoing connection), fresh
 * ports when one cannot bind, and stopped again when anything fails. A Cluster
 * that does not form is started once more.
 */
async function startCluster(): Promise<RedisCluster> {
  try {
    return await formCluster();
  } catch (err) {
    process.stderr.write(`# the Redis Cluster did not form, starting it again on fresh ports: ${(err as Error).message}\n`);
    return formCluster();
  }
}

async function formCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-op-rcluster-'));
  const nodes: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.halt()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startRedisNode({ dir, cluster: true }));
    const ports = nodes.map((n) => n.port);
    await exec('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { timeout: 60_000 });
    for (let i = 0; ; i++) {
      const infos = await Promise.all(nodes.map((n) => n.cli('cluster', 'info')));
      if (infos.every((info) => info.includes('cluster_state:ok'))) break;
      if (i === 300) throw new Error(`cluster_state is not ok on every node after 30 s:\n${infos.join('\n')}`);
      await sleep(100);
    }
    for (const n of nodes) {
      await n.cli('config', 'set', 'masterauth', PASSWORD);
      await n.cli('config', 'set', 'requirepass', PASSWORD);
    }
    return { ports, adminUrl: `redis+cluster://default:${PASSWORD}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

let standalone: RedisServer;
let cluster: RedisCluster;
const closers: Array<() => Promise<void> | void> = [];

before(async () => {
  standalone = await startRedis();
  cluster = await startCluster();
});

after(async () => {
  for (const c of closers) await c();
  await standalone?.stop();
  await cluster?.stop();
});

function admin(url: string): TenantRedis {
  const t = connectTenantRedis(url, DEFAULT_ACL_COMMANDS, testLogger('redis'));
  closers.push(() => t.close());
  return t;
}

test('tenant URLs keep the admin URL’s scheme, hosts and db, with the tenant’s credentials', () => {
  assert.equal(tenantUrl('redis://default:x@redis.svc:6380/2', 'berth.ns.a', 'p w'), 'redis://berth.ns.a:p%20w@redis.svc:6380/2');
  assert.equal(tenantUrl('rediss://redis.svc:6379/0', 'u', 'p', 'other.svc:7000'), 'rediss://u:p@other.svc:7000/0');
  assert.equal(tenantUrl('redis+cluster://a:b@h1:1,h2:2', 'u', 'p'), 'redis+cluster://u:p@h1:1,h2:2');
  assert.deepEqual(credentialsOf('redis://berth.ns.a:p%20w@redis.svc:6380/2'), { username: 'berth.ns.a', password: 'p w' });
  assert.equal(credentialsOf('redis://redis.svc:6379'), undefined);
  assert.equal(redisPort('redis+cluster://u:p@h1:7001,h2:7002'), 7001);
  assert.equal(redisPort('redis://h'), 6379);
  assert.notEqual(newPassword(), newPassword());
  assert.ok(newPassword().length >= 43);
});

test('standalone: ensureUser creates the user once and then only checks it', async () => {
  const t = admin(standalone.adminUrl);
  const pw = newPassword();
  assert.equal(await t.ensureUser('ns', 'a', pw), true);
  assert.equal(await t.ensureUser('ns', 'a', pw), false, 'unchanged: no write');
  assert.equal(await t.ensureUser('ns', 'a', newPassword()), true, 'a new password is set');
  await standalone.admin.call('ACL', 'SETUSER', 'berth.ns.a', '+flushall');
  assert.equal(await t.ensureUser('ns', 'a', pw), true, 'a widened user is narrowed again');
  const user = (await standalone.admin.call('ACL', 'GETUSER', 'berth.ns.a')) as unknown[];
  assert.ok(!String(user[user.indexOf('commands') + 1]).includes('+flushall'));
});

test('cluster: every node gets the user; the tenant reaches only its slot’s prefix; cleanup covers all nodes', async () => {
  const t = admin(cluster.adminUrl);
  const pw = newPassword();
  assert.equal(await t.ensureUser('team', 'notes', pw), true);
  for (const port of cluster.ports) {
    const { stdout } = await exec('redis-cli', ['-p', String(port), '-a', PASSWORD, '--no-auth-warning', 'acl', 'getuser', 'berth.team.notes']);
    assert.match(stdout, /~berth:\{team\/notes\}:\*/, `node ${port}`);
  }
  assert.equal(await t.ensureUser('team', 'notes', pw), false);

  const tenant = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), {
    redisOptions: { username: 'berth.team.notes', password: pw },
  });
  closers.push(() => tenant.disconnect());
  const prefix = 'berth:{team/notes}:';
  for (let i = 0; i < 20; i++) await tenant.set(`${prefix}k${i}`, String(i));
  await tenant.xadd(`${prefix}e:1`, '*', 'a', 'b');
  await assert.rejects(tenant.set('berth:{team/other}:k', 'x'), /NOPERM/);

  const other = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], { redisOptions: { password: PASSWORD } });
  closers.push(() => other.disconnect());
  await other.set('berth:{team/other}:k', 'keep');
  assert.equal(await t.deleteTenant('team', 'notes'), 21);
  assert.equal(await other.get('berth:{team/other}:k'), 'keep');
  assert.equal(await other.exists(`${prefix}k0`), 0);
  for (const port of cluster.ports) {
    const node = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
    closers.push(() => node.disconnect());
    assert.equal(await node.call('ACL', 'GETUSER', 'berth.team.notes'), null, `node ${port}`);
  }
});
