/**
 * Cost of the Redis layer, measured on a real runtime process: Redis round
 * trips per modern and per legacy tools/call (MONITOR), Redis memory and
 * runtime memory per idle legacy session, and 10,000 sessions opened and
 * closed leaving Redis keys and RSS near their baseline.
 */
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { initSession, legacyHeaders, modernRequest } from './helpers/http-app.ts';
import { legacyCall, PREFIX, rssBytes, startReplica, type Replica } from './helpers/replica-rig.ts';
import { keysUnder } from './helpers/redis-stores.ts';
import { heartbeat, heartbeatRead, routeSession } from '../src/cluster/scripts.ts';
import { sessionTouch } from '../src/store/redis/scripts.ts';

let redis: RedisProcess;
let replica: Replica;
let client: Redis;
let url: string;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  replica = await startReplica(redis.url);
  url = `http://127.0.0.1:${replica.port}/mcp`;
});

after(async () => {
  await replica?.berth.stop('SIGKILL');
  client?.disconnect();
  await redis?.stop();
});

/** DELETE carries no body, so no content-type. */
function deleteHeaders(sid: string): Record<string, string> {
  const { 'content-type': _drop, ...rest } = legacyHeaders(sid);
  return rest;
}

const sha = (lua: string): string => createHash('sha1').update(lua).digest('hex');
const heartbeatSha = sha(heartbeat.lua);

/** Top-level commands (round trips' worth) sent by clients while `work` runs; heartbeats and health pings excluded. */
async function commandsDuring(work: () => Promise<void>): Promise<{ top: number; inScripts: number; names: Record<string, number>; scripts: Record<string, number> }> {
  const monitor = await client.monitor();
  const names: Record<string, number> = {};
  const scripts: Record<string, number> = {};
  let top = 0;
  let inScripts = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = (args[0] ?? '').toLowerCase();
    if (source === 'lua') {
      inScripts++;
      return;
    }
    if (name === 'ping' || name === 'monitor' || (name === 'evalsha' && args[1] === heartbeatSha) || (name === 'eval' && args[1] === heartbeat.lua)) return;
    top++;
    names[name] = (names[name] ?? 0) + 1;
    if (name === 'evalsha') scripts[args[1]!] = (scripts[args[1]!] ?? 0) + 1;
  });
  await new Promise((r) => setTimeout(r, 100));
  await work();
  await new Promise((r) => setTimeout(r, 200));
  monitor.disconnect();
  return { top, inScripts, names, scripts };
}

test('Redis commands per tools/call: modern and legacy', async (t) => {
  const n = 50;
  // Warm up (script loading, pools).
  const sid = await initSession(url);
  await legacyCall(url, sid, 1, 'echo', { text: 'x' });
  const m0 = modernRequest(1, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
  await (await fetch(url, { method: 'POST', headers: m0.headers, body: m0.body })).text();

  const modern = await commandsDuring(async () => {
    for (let i = 0; i < n; i++) {
      const m = modernRequest(i + 2, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
      const res = await fetch(url, { method: 'POST', headers: m.headers, body: m.body });
      assert.equal(res.status, 200);
      await res.text();
    }
  });
  const legacy = await commandsDuring(async () => {
    for (let i = 0; i < n; i++) {
      const r = await legacyCall(url, sid, i + 2, 'echo', { text: 'x' });
      assert.ok(r.response?.result);
    }
  });
  t.diagnostic(`modern tools/call: ${modern.top / n} Redis commands per call ${JSON.stringify(modern.names)}`);
  t.diagnostic(`legacy tools/call: ${legacy.top / n} Redis commands per call ${JSON.stringify(legacy.names)} (+${legacy.inScripts / n} inside scripts)`);
  assert.equal(modern.top, 0, 'modern requests never touch the session layer (no rate limits configured)');
  // A quick, small answer is JSON with no event stored; the session record comes from the tracked cache.
  assert.equal(legacy.scripts[sha(sessionTouch.lua)] ?? 0, 0, 'no session read: the record is served from memory under client tracking');
  assert.ok(legacy.top <= 2, `a quick legacy call costs no Redis command (${legacy.top} over ${n} calls)`);
});

test('a call sent to a replica that does not own the session runs there, with no Redis command more than on the owner', async (t) => {
  const other = await startReplica(redis.url);
  try {
    const sid = await initSession(url);
    const viaOther = `http://127.0.0.1:${other.port}/mcp`;
    for (let i = 0; i < 3; i++) assert.ok((await legacyCall(viaOther, sid, i + 1, 'echo', { text: 'x' })).response?.result, 'served');
    // The module backend keeps nothing per session: no hop to the owner.
    const ran = await legacyCall(viaOther, sid, 9, 'count', { n: 1, stepMs: 0 });
    assert.equal(ran.response?.result?.content?.[0]?.text, `counted to 1 on ${other.pid}`, 'run by the replica that received it');
    const n = 30;
    const direct = await commandsDuring(async () => {
      for (let i = 0; i < n; i++) assert.ok((await legacyCall(url, sid, 100 + i, 'echo', { text: 'x' })).response?.result);
    });
    const forwarded = await commandsDuring(async () => {
      for (let i = 0; i < n; i++) assert.ok((await legacyCall(viaOther, sid, 200 + i, 'echo', { text: 'x' })).response?.result);
    });
    const reads = forwarded.scripts[sha(heartbeatRead.lua)] ?? 0;
    t.diagnostic(`owner ${direct.top / n}, other replica ${forwarded.top / n} Redis commands per call; ${reads} heartbeat re-reads ${JSON.stringify(forwarded.names)}`);
    assert.equal(forwarded.scripts[sha(routeSession.lua)] ?? 0, 0, 'no routing script: the owner came from the tracked record, its liveness from the tracked heartbeat');
    // The owner's heartbeat is rewritten every second, and each rewrite costs the other replica one re-read.
    assert.ok(forwarded.top - reads <= direct.top + 2, `calls on the other replica cost what the owner's do (${forwarded.top} − ${reads} re-reads against ${direct.top})`);
  } finally {
    // Gracefully: a stopped replica deletes its heartbeat, so the key counts of the next test hold.
    await other.berth.stop('SIGTERM');
  }
});

test('memory per idle session in Redis and in the runtime', async (t) => {
  const n = 1000;
  await client.call('MEMORY', 'PURGE');
  const before = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const rssBefore = rssBytes(replica.pid);
  const ids: string[] = [];
  for (let i = 0; i < n; i += 20) ids.push(...(await Promise.all(Array.from({ length: 20 }, () => initSession(url)))));
  const afterMem = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const rssAfter = rssBytes(replica.pid);
  const record = Number(await client.call('MEMORY', 'USAGE', `${PREFIX}s:${ids[0]}`));
  const perSession = (afterMem - before) / n;
  const rssPerSession = (rssAfter - rssBefore) / n;
  t.diagnostic(`Redis: ${Math.round(perSession)} B per idle session (used_memory delta), record hash MEMORY USAGE ${record} B; runtime RSS delta ${Math.round(rssPerSession)} B per session`);
  assert.ok(perSession < 50 * 1024);
  // RSS also counts garbage not yet collected; it bounds what the runtime keeps per session.
  assert.ok(rssPerSession < 100 * 1024);
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(ids.slice(i, i + 20).map((sid) => fetch(url, { method: 'DELETE', headers: deleteHeaders(sid) }).then((r) => r.text())));
  }
});

test('10,000 sessions opened and closed: Redis keys and runtime RSS return near baseline', async (t) => {
  const open = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          next++;
          const sid = await initSession(url);
          const res = await fetch(url, { method: 'DELETE', headers: deleteHeaders(sid) });
          const text = await res.text();
          assert.equal(res.status, 200, text);
        }
      }),
    );
  };
  await open(500);
  const baseKeys = await keysUnder(client, PREFIX);
  const baseRss = rssBytes(replica.pid);
  const t0 = Date.now();
  await open(10_000);
  const ms = Date.now() - t0;
  const keys = await keysUnder(client, PREFIX);
  const rss = rssBytes(replica.pid);
  // The heap grows to a working size once (V8 collects lazily); a per-session leak would keep growing.
  await open(2000);
  const rss2 = rssBytes(replica.pid);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  t.diagnostic(`10,000 sessions in ${ms} ms; keys ${baseKeys.length} → ${keys.length}; RSS ${mib(baseRss)} → ${mib(rss)} MiB after 10k → ${mib(rss2)} MiB after 2k more`);
  assert.deepEqual(keys, baseKeys, 'no key of a closed session remains');
  assert.ok(rss2 - rss < 15 * 2 ** 20, `RSS plateaus (grew ${mib(rss2 - rss)} MiB over the last 2,000 sessions)`);
});
