/**
 * A Sentinel failover under a running store (master, replica, one sentinel):
 * the store follows the promoted replica, client tracking is proven again on
 * the new master before any read is cached, and a write made there after the
 * failover is seen.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { rawCommand, startSentinel, type SentinelProcess } from './helpers/redis-server.ts';
import { eventually, freshPrefix, record, stores } from './helpers/redis-stores.ts';
import { keysFor, type RedisStores } from '../src/store/redis/index.ts';

let sentinel: SentinelProcess;
let s: RedisStores | undefined;
const clients: Redis[] = [];

before(async () => {
  sentinel = await startSentinel({ replica: true });
});
after(async () => {
  await s?.close();
  for (const c of clients) c.disconnect();
  await sentinel?.stop();
});

const direct = (port: number): Redis => {
  const c = new Redis({ port, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  clients.push(c);
  return c;
};

test('after a Sentinel failover the session store serves from the new master, with tracking proven there again', async (t) => {
  const replica = sentinel.replica!;
  const prefix = freshPrefix();
  s = await stores(sentinel.url, prefix, {}, 'failover');
  await eventually(() => s!.tracking(), 5000, 'tracking on the first master');
  const rec = record();
  await s.sessions.create(rec);
  await s.sessions.get(rec.id);
  await s.sessions.get(rec.id);
  const oldMaster = direct(sentinel.master.port);
  // WAIT answers 0 while the replica is still in its first sync (a busy machine): ask again until it acknowledges.
  await eventually(async () => (await oldMaster.wait(1, 1000)) === 1, 30_000, 'the record reached the replica');

  const t0 = Date.now();
  assert.match(await rawCommand(sentinel.sentinelPort, 'SENTINEL FAILOVER mymaster'), /^\+OK/);
  await eventually(async () => (await rawCommand(sentinel.sentinelPort, 'SENTINEL get-master-addr-by-name mymaster')).includes(String(replica.port)), 20_000, 'the replica promoted');
  const newMaster = direct(replica.port);
  await eventually(async () => ((await newMaster.role()) as unknown[])[0] === 'master', 20_000, 'the new master answers as master');

  const onNewMaster = async () => {
    const names = String(await newMaster.client('LIST'));
    return names.includes(' name=berth:failover ') && names.includes(' name=berth:failover:invalidate ');
  };
  await eventually(onNewMaster, 20_000, 'the command and invalidation connections on the new master');
  t.diagnostic(`connections on the new master ${Date.now() - t0} ms after the failover began`);
  await eventually(async () => s!.tracking() && (await s!.sessions.get(rec.id).catch(() => undefined))?.id === rec.id, 20_000, 'the store back, tracking on');
  t.diagnostic(`tracking proven on the new master ${Date.now() - t0} ms after the failover began`);

  await s.sessions.get(rec.id);
  await newMaster.hset(keysFor(prefix).session(rec.id), 'o', 'after-failover');
  await eventually(async () => (await s!.sessions.get(rec.id))?.owner === 'after-failover', 1000, 'a write on the new master seen');
});
