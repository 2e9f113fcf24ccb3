/**
 * Rate limits against a real redis-server: exact admission across replicas
 * (three limiter instances, and three separate processes with skewed
 * clocks), Retry-After accuracy, a real Cluster, and the local fallback when
 * Redis is down or hung.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import pino from 'pino';
import { parseRuntimeConfig, type RuntimeConfigInput } from '../src/config/runtime-config.ts';
import type { Principal } from '../src/backend/types.ts';
import { createRateLimiter, limiterPrefix, type RateLimiter } from '../src/security/rate-limit/limiter.ts';
import { paramsOf, takeAll } from '../src/security/rate-limit/bucket.ts';
import { startRedis, startRedisCluster, type RedisProcess } from './helpers/redis-server.ts';

const silent = pino({ level: 'silent' });
const PREFIX = 'berth:{team-a/files}:';
let redis: RedisProcess;
const clients: Array<Redis | Cluster> = [];
const limiters: RateLimiter[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(limiters.map((l) => l.close()));
  for (const c of clients) c.disconnect();
  await redis.stop();
});

function config(rateLimits: Record<string, unknown>) {
  return parseRuntimeConfig({
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'team-a', name: 'files' },
    spec: { source: { module: { path: '/srv/server.js' } }, auth: { none: {} }, rateLimits },
  } as RuntimeConfigInput);
}

async function client(port = redis.port): Promise<Redis> {
  const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => 100 });
  c.on('error', () => {});
  clients.push(c);
  await c.connect();
  return c;
}

function limiter(rateLimits: Record<string, unknown>, deps: Partial<Parameters<typeof createRateLimiter>[1]> = {}): RateLimiter {
  const l = createRateLimiter(config(rateLimits), { keyPrefix: PREFIX, logger: silent, ...deps });
  limiters.push(l);
  return l;
}

const alice: Principal = { id: 'oauth:https://as.example#alice', kind: 'oauth', scopes: [] };
const bob: Principal = { id: 'apikey:bob', kind: 'apiKey', scopes: [] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('bucket arithmetic: limit + burst at once, then the steady rate; all-or-nothing across buckets', () => {
  const p = paramsOf({ requestsPerMinute: 60, burst: 10 });
  assert.deepEqual(p, { rate: 1, capacity: 70 });
  assert.deepEqual(paramsOf({ requestsPerSecond: 0.5, burst: 0 }), { rate: 0.5, capacity: 1 });
  let states: Array<{ tokens: number; at: number } | undefined> = [undefined];
  let admitted = 0;
  for (let i = 0; i < 100; i++) {
    const r = takeAll(states, [p], 0);
    states = r.next;
    if (r.allowed) admitted++;
  }
  assert.equal(admitted, 70);
  const denied = takeAll(states, [p], 0);
  assert.equal(denied.allowed, false);
  assert.equal(Math.round(denied.waitMs), 1000);
  assert.equal(takeAll(states, [p], 1000).allowed, true, 'one token back after one second');
  // Two buckets: the empty one refuses and the full one is not charged.
  const both = takeAll([{ tokens: 0, at: 0 }, { tokens: 5, at: 0 }], [p, p], 0);
  assert.equal(both.allowed, false);
  assert.equal(both.denied, 0);
  assert.equal(both.next[1]!.tokens, 5);
});

test('three replicas sharing one Redis admit exactly limit + burst under concurrent load', async () => {
  const rl = { global: { requestsPerMinute: 6, burst: 44 } };
  // Exactness is under test, not the outage fallback: on a loaded machine 600 concurrent
  // decisions can take longer than the default 250 ms, which would (rightly) fall back to local buckets.
  const ls = [0, 1, 2].map(async () => limiter(rl, { redis: await client(), timeoutMs: 10_000 }));
  const resolved = await Promise.all(ls);
  await redis.cli('FLUSHALL');
  const decisions = await Promise.all(resolved.flatMap((l) => Array.from({ length: 200 }, (_, i) => l.checkRequest(i % 2 ? alice : bob, `s-${i}`))));
  assert.equal(decisions.filter((d) => d.ok).length, 50);
  for (const d of decisions) if (!d.ok) assert.equal(d.scope, 'global');
  assert.ok(resolved.every((l) => l.mode() === 'redis'));
});

test('per principal, per session and per tool buckets are separate; the refusal names the scope', async () => {
  const l = limiter(
    { perPrincipal: { requestsPerMinute: 3, burst: 0 }, perSession: { requestsPerMinute: 2, burst: 0 }, tools: { 'search*': { requestsPerMinute: 4, burst: 1 } } },
    { redis: await client() },
  );
  await redis.cli('FLUSHALL');
  const a = [];
  for (let i = 0; i < 3; i++) a.push(await l.checkRequest(alice, 's1'));
  assert.deepEqual(a.map((d) => d.ok), [true, true, false]);
  assert.equal(!a[2]!.ok && a[2]!.scope, 'session');
  assert.equal((await l.checkRequest(alice, 's2')).ok, true, 'a new session has its own bucket');
  const third = await l.checkRequest(alice, 's3');
  assert.equal(!third.ok && third.scope, 'principal', 'alice used her 3 requests');
  assert.equal((await l.checkRequest(bob, 's1-bob')).ok, true, 'bob is unaffected');
  const tool = [];
  for (let i = 0; i < 6; i++) tool.push(await l.checkTool(alice, 'search_docs'));
  assert.equal(tool.filter((d) => d.ok).length, 5);
  const last = tool[5]!;
  assert.equal(!last.ok && last.scope, 'tool:search_docs');
  assert.equal((await l.checkTool(alice, 'read_file')).ok, true, 'tools without a limit are not counted');
});

test('Retry-After is accurate to ±1 s', async () => {
  const l = limiter({ perPrincipal: { requestsPerSecond: 0.5, burst: 0 } }, { redis: await client() });
  await redis.cli('FLUSHALL');
  assert.equal((await l.checkRequest(alice, undefined)).ok, true);
  const t0 = Date.now();
  const d1 = await l.checkRequest(alice, undefined);
  assert.ok(!d1.ok && d1.retryAfterSeconds === 2, JSON.stringify(d1));
  await sleep(1000 - (Date.now() - t0));
  const d2 = await l.checkRequest(alice, undefined);
  assert.ok(!d2.ok && d2.retryAfterSeconds === 1, `still refused halfway, with 1 s left: ${JSON.stringify(d2)}`);
  await sleep(2050 - (Date.now() - t0));
  assert.equal((await l.checkRequest(alice, undefined)).ok, true, 'admitted once Retry-After has passed');
});

test('keys share the McpServer hash tag (one Cluster slot) and stay under the tenant prefix', async () => {
  assert.equal(limiterPrefix(PREFIX, { namespace: 'team-a', name: 'files' }), 'berth:{team-a/files}:rl:');
  assert.equal(limiterPrefix('t1:', { namespace: 'ns', name: 'n' }), 't1:rl:{ns/n}:');
  const l = limiter({ global: { requestsPerSecond: 100, burst: 0 }, perPrincipal: { requestsPerSecond: 100, burst: 0 }, perSession: { requestsPerSecond: 100, burst: 0 } }, { redis: await client() });
  await redis.cli('FLUSHALL');
  await l.checkRequest(alice, 'session-1');
  const keys = (await redis.cli('--scan', '--pattern', '*')).trim().split('\n').filter(Boolean);
  assert.equal(keys.length, 3);
  const slots = new Set<string>();
  for (const k of keys) {
    assert.ok(k.startsWith('berth:{team-a/files}:rl:'), k);
    slots.add((await redis.cli('CLUSTER', 'KEYSLOT', k)).trim());
    const ttl = Number((await redis.cli('PTTL', k)).trim());
    assert.ok(ttl > 0 && ttl <= 3000, `keys expire once refilled (${ttl} ms)`);
  }
  assert.equal(slots.size, 1);
});

test('clock skew between replica processes changes nothing (time comes from Redis TIME)', async () => {
  const limiterUrl = new URL('../src/security/rate-limit/limiter.ts', import.meta.url).href;
  const configUrl = new URL('../src/config/runtime-config.ts', import.meta.url).href;
  const child = `
    const skew = Number(process.env.SKEW_MS);
    const realNow = Date.now;
    Date.now = () => realNow() + skew;
    const realPerf = performance.now.bind(performance);
    performance.now = () => realPerf() + skew;
    const { Redis } = await import('ioredis');
    const { default: pino } = await import('pino');
    const { createRateLimiter } = await import(${JSON.stringify(limiterUrl)});
    const { parseRuntimeConfig } = await import(${JSON.stringify(configUrl)});
    const config = parseRuntimeConfig({ apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeConfig', tenant: { namespace: 'team-a', name: 'files' },
      spec: { source: { module: { path: '/x.js' } }, auth: { none: {} }, rateLimits: { perPrincipal: { requestsPerMinute: 6, burst: 24 } } } });
    const redis = new Redis(Number(process.env.REDIS_PORT), '127.0.0.1', { maxRetriesPerRequest: 1 });
    await new Promise((r) => redis.once('ready', r));
    const l = createRateLimiter(config, { redis, keyPrefix: 'berth:{team-a/files}:', logger: pino({ level: 'silent' }) });
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      const p = { id: 'apikey:shared', kind: 'apiKey', scopes: [] };
      const ds = await Promise.all(Array.from({ length: 200 }, () => l.checkRequest(p, undefined)));
      const retry = ds.filter((d) => !d.ok).map((d) => d.retryAfterSeconds);
      redis.disconnect();
      process.stdout.write(JSON.stringify({ admitted: ds.filter((d) => d.ok).length, mode: l.mode(), maxRetry: Math.max(...retry), minRetry: Math.min(...retry) }) + '\\n', () => process.exit(0));
    });
  `;
  await redis.cli('FLUSHALL');
  const node = process.execPath;
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const procs = [-5000, 0, 5000].map((skew) => spawn(node, ['--input-type=module', '-e', child], { cwd, env: { ...process.env, SKEW_MS: String(skew), REDIS_PORT: String(redis.port) }, stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = procs.map(
    (p) =>
      new Promise<string[]>((resolve, reject) => {
        let buf = '';
        const got: string[] = [];
        const timer = setTimeout(() => reject(new Error('child timed out')), 30_000);
        p.stdout!.on('data', (c: Buffer) => {
          buf += c.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            got.push(buf.slice(0, i));
            buf = buf.slice(i + 1);
            if (got.length === 2) {
              clearTimeout(timer);
              resolve(got);
            }
          }
        });
        p.once('exit', (code) => {
          if (got.length < 2) {
            clearTimeout(timer);
            reject(new Error(`child exited ${code}`));
          }
        });
      }),
  );
  // Wait for every child to be ready, then release them together.
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          const onData = (c: Buffer) => {
            if (c.toString().includes('ready')) {
              p.stdout!.off('data', onData);
              resolve();
            }
          };
          p.stdout!.on('data', onData);
        }),
    ),
  );
  for (const p of procs) p.stdin!.write('go\n');
  const settled = await Promise.all(lines).finally(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  });
  const results = settled.map((l) => JSON.parse(l[1]!) as { admitted: number; mode: string; maxRetry: number; minRetry: number });
  assert.equal(results.reduce((n, r) => n + r.admitted, 0), 30, JSON.stringify(results));
  for (const r of results) {
    assert.equal(r.mode, 'redis');
    // 6/min = one token per 10 s, whatever each process's clock says.
    assert.ok(r.minRetry >= 9 && r.maxRetry <= 10, JSON.stringify(r));
  }
});

test('Redis down: local buckets take over, the outage is logged once, and sharing resumes after', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  const l = limiter({ perPrincipal: { requestsPerMinute: 6, burst: 4 } }, { redis: await client(), logger });
  await redis.cli('FLUSHALL');
  assert.equal((await l.checkRequest(alice, undefined)).ok, true);
  assert.equal(l.mode(), 'redis');
  await redis.halt();
  try {
    const ds = [];
    for (let i = 0; i < 20; i++) ds.push(await l.checkRequest(alice, undefined));
    assert.equal(l.mode(), 'local');
    assert.equal(ds.filter((d) => d.ok).length, 10, 'the local bucket enforces the same limit (full at the outage)');
    const warns = lines.map((x) => JSON.parse(x) as Record<string, unknown>).filter((x) => x['level'] === 40);
    assert.equal(warns.length, 1, 'logged once per outage');
    assert.match(String(warns[0]!['msg']), /local buckets/);
  } finally {
    await redis.restart();
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await l.checkRequest(bob, undefined);
    if (l.mode() === 'redis') break;
    await sleep(100);
  }
  assert.equal(l.mode(), 'redis');
  assert.ok(lines.some((x) => /reachable again/.test(x)));
});

test('a hung Redis (SIGSTOP) costs at most the timeout before the local fallback answers', async () => {
  const l = limiter({ perPrincipal: { requestsPerSecond: 10, burst: 0 } }, { redis: await client(), timeoutMs: 200 });
  redis.pause();
  try {
    const t0 = Date.now();
    const d = await l.checkRequest(alice, undefined);
    const ms = Date.now() - t0;
    assert.equal(d.ok, true);
    assert.equal(l.mode(), 'local');
    assert.ok(ms < 600, `${ms} ms`);
  } finally {
    redis.resume();
  }
});

test('without Redis the limiter is local from the start', async () => {
  const l = limiter({ global: { requestsPerSecond: 1, burst: 2 } });
  const ds = await Promise.all(Array.from({ length: 10 }, () => l.checkRequest(alice, undefined)));
  assert.equal(ds.filter((d) => d.ok).length, 3);
  assert.equal(l.mode(), 'local');
});

test('a real Redis Cluster: three clients still admit exactly limit + burst', async () => {
  const cluster = await startRedisCluster();
  try {
    const nodes = cluster.ports.slice(0, 3).map((port) => ({ host: '127.0.0.1', port }));
    const rl = { perPrincipal: { requestsPerMinute: 6, burst: 34 }, global: { requestsPerMinute: 600, burst: 0 } };
    const cs = [0, 1, 2].map(() => {
      const c = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
      clients.push(c);
      return c;
    });
    await Promise.all(cs.map((c) => new Promise((r) => c.once('ready', r))));
    const ls = cs.map((c) => limiter(rl, { redis: c, timeoutMs: 2000 }));
    const ds = await Promise.all(ls.flatMap((l) => Array.from({ length: 100 }, () => l.checkRequest(alice, undefined))));
    assert.equal(ds.filter((d) => d.ok).length, 40);
    assert.ok(ls.every((l) => l.mode() === 'redis'));
  } finally {
    for (const c of clients.splice(-3)) c.disconnect();
    await cluster.stop();
  }
});

test('measure: limiter round trip', async (t) => {
  const rl = { global: { requestsPerSecond: 1e6, burst: 0 }, perPrincipal: { requestsPerSecond: 1e6, burst: 0 } };
  const conn = await client();
  const remote = limiter(rl, { redis: conn, maxLease: 0 });
  const leasing = limiter(rl, { redis: conn });
  const local = limiter(rl);
  const n0 = 2000;
  const p0 = process.hrtime.bigint();
  for (let i = 0; i < n0; i++) await conn.ping();
  t.diagnostic(`redis PING round trip (baseline): ${(Number(process.hrtime.bigint() - p0) / 1000 / n0).toFixed(1)} µs`);
  for (const [label, l] of [['redis (global + principal, one EVALSHA)', remote], ['redis with leased tokens (default)', leasing], ['local fallback', local]] as const) {
    for (let i = 0; i < 200; i++) await l.checkRequest(alice, undefined);
    const n = 2000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await l.checkRequest(alice, undefined);
    const us = Number(process.hrtime.bigint() - start) / 1000 / n;
    t.diagnostic(`rate limit decision, ${label}: ${us.toFixed(1)} µs`);
    assert.ok(us < 5000);
  }
});

/** Calls per command since the last CONFIG RESETSTAT (`INFO commandstats`). */
async function commandCalls(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await redis.cli('INFO', 'commandstats')).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

test('a tools/call costs one Redis round trip: request and tool limits in one EVALSHA, the tool decision kept for checkTool', async () => {
  const generous = { requestsPerSecond: 1000, burst: 0 };
  const l = limiter({ global: generous, perPrincipal: generous, perSession: generous, tools: { 'search*': { requestsPerMinute: 2, burst: 0 } } }, { redis: await client(), maxLease: 0 });
  await redis.cli('FLUSHALL');
  await l.checkRequest(alice, 'warm-up'); // loads the script once
  await redis.cli('CONFIG', 'RESETSTAT');
  const n = 5;
  const tool: boolean[] = [];
  for (let i = 0; i < n; i++) {
    assert.equal((await l.checkRequest(alice, 's1', 'search_docs')).ok, true, 'the request itself is admitted');
    tool.push((await l.checkTool(alice, 'search_docs')).ok);
  }
  assert.deepEqual(tool, [true, true, false, false, false], 'the tool limit still counts each call once');
  const calls = await commandCalls();
  assert.equal(calls['evalsha'], n, `one EVALSHA per call: ${JSON.stringify(calls)}`);
  assert.equal(calls['time'], n, 'Redis TIME once per call');
  assert.equal(calls['mget'], n, 'all buckets read with one MGET');
  // global, principal, session and (while admitted) the tool: one SET each, nothing else.
  assert.equal(calls['set'], n * 3 + 2);
  for (const c of ['hmget', 'hset', 'pexpire', 'eval']) assert.equal(calls[c], undefined, `no ${c}`);
  const refused = await l.checkTool(bob, 'search_docs');
  assert.equal(!refused.ok && refused.scope, 'tool:search_docs', 'without a kept decision checkTool asks Redis itself');
  assert.equal((await commandCalls())['evalsha'], n + 1);
});

test('a refused request does not charge the tool; a request no rule applies to never reaches Redis', async () => {
  const l = limiter({ perSession: { requestsPerMinute: 1, burst: 0 }, tools: { echo: { requestsPerMinute: 2, burst: 0 } } }, { redis: await client() });
  await redis.cli('FLUSHALL');
  assert.equal((await l.checkRequest(alice, 'a', 'echo')).ok, true);
  assert.equal((await l.checkTool(alice, 'echo')).ok, true);
  const second = await l.checkRequest(alice, 'a', 'echo');
  assert.equal(!second.ok && second.scope, 'session');
  // The refused request took no tool token: one is left for another session.
  assert.equal((await l.checkRequest(alice, 'b', 'echo')).ok, true);
  assert.equal((await l.checkTool(alice, 'echo')).ok, true, 'the second tool token was still there');
  assert.equal((await l.checkRequest(alice, 'c', 'echo')).ok, true);
  const third = await l.checkTool(alice, 'echo');
  assert.equal(!third.ok && third.scope, 'tool:echo');
  assert.ok(!third.ok && third.retryAfterSeconds >= 29 && third.retryAfterSeconds <= 30, JSON.stringify(third));

  await redis.cli('CONFIG', 'RESETSTAT');
  assert.equal((await l.checkRequest(alice, undefined, 'other')).ok, true, 'no session, a tool without a limit');
  assert.equal((await l.checkTool(alice, 'other')).ok, true);
  assert.equal((await commandCalls())['evalsha'], undefined, 'no rule applied, no Redis command');
});

test('the local fallback keeps the same one-step semantics', async () => {
  const l = limiter({ perPrincipal: { requestsPerMinute: 3, burst: 0 }, tools: { echo: { requestsPerMinute: 1, burst: 0 } } });
  assert.equal((await l.checkRequest(alice, undefined, 'echo')).ok, true);
  assert.equal((await l.checkTool(alice, 'echo')).ok, true);
  assert.equal((await l.checkRequest(alice, undefined, 'echo')).ok, true);
  const t = await l.checkTool(alice, 'echo');
  assert.equal(!t.ok && t.scope, 'tool:echo');
  assert.equal((await l.checkRequest(alice, undefined, 'echo')).ok, true);
  const r = await l.checkRequest(alice, undefined, 'echo');
  assert.equal(!r.ok && r.scope, 'principal');
  assert.equal(l.mode(), 'local');
});

test('leased tokens: busy buckets skip most round trips and never admit more than the limit across replicas', async () => {
  // 1,000 tokens, refilled at 0.1/s: a lease of 10 per replica (1% of the capacity).
  const rl = { global: { requestsPerMinute: 6, burst: 994 }, perPrincipal: { requestsPerSecond: 1000, burst: 0 } };
  const ls = [0, 1, 2].map(async () => limiter(rl, { redis: await client(), leaseMs: 100_000 }));
  const [a, b, c] = await Promise.all(ls);
  await redis.cli('FLUSHALL');
  await redis.cli('CONFIG', 'RESETSTAT');
  let admitted = 0;
  for (let i = 0; i < 300; i++) for (const l of [a!, b!, c!]) if ((await l.checkRequest(alice, undefined)).ok) admitted++;
  assert.equal(admitted, 900);
  const scripts = (await commandCalls())['evalsha'] ?? 0;
  assert.ok(scripts <= 900 / 11 + 3, `${scripts} script calls for 900 decisions`);
  const rest = await Promise.all([a!, b!, c!].flatMap((l) => Array.from({ length: 100 }, () => l.checkRequest(bob, undefined))));
  const total = admitted + rest.filter((d) => d.ok).length;
  assert.ok(total <= 1000, `never more than the bucket: ${total}`);
  assert.ok(total >= 1000 - 3 * 10, `at most one lease per replica left unspent: ${total}`);
  for (const d of rest) if (!d.ok) assert.equal(d.scope, 'global');
  // Small buckets never lease: every decision is exact and shared.
  const small = limiter({ perPrincipal: { requestsPerMinute: 60, burst: 100 } }, { redis: await client(), leaseMs: 100_000 });
  await redis.cli('CONFIG', 'RESETSTAT');
  for (let i = 0; i < 5; i++) await small.checkRequest(alice, undefined);
  assert.equal((await commandCalls())['evalsha'], 5);
});

test('decisions that miss a lease while its refill is in flight wait for it instead of each asking Redis', async () => {
  // 10,000 tokens: leases of 100 (1% of the capacity).
  const rl = { global: { requestsPerMinute: 60, burst: 9_940 }, perPrincipal: { requestsPerSecond: 1_000, burst: 9_000 } };
  const l = limiter(rl, { redis: await client(), leaseMs: 100_000 });
  await redis.cli('FLUSHALL');
  await redis.cli('CONFIG', 'RESETSTAT');
  const burst = await Promise.all(Array.from({ length: 60 }, () => l.checkRequest(alice, undefined)));
  assert.ok(burst.every((d) => d.ok));
  const scripts = (await commandCalls())['evalsha'] ?? 0;
  // One script leases for both buckets; the 59 concurrent misses spend its tokens.
  assert.equal(scripts, 1, `${scripts} script calls for 60 concurrent decisions`);
  // More concurrent misses than one lease holds: the rest go to Redis and every decision is still made.
  await redis.cli('CONFIG', 'RESETSTAT');
  const more = await Promise.all(Array.from({ length: 300 }, () => l.checkRequest(bob, undefined)));
  assert.ok(more.every((d) => d.ok));
  const after = (await commandCalls())['evalsha'] ?? 0;
  assert.ok(after >= 2 && after < 300, `${after} script calls for 300 decisions over 3 leases' worth`);
});
