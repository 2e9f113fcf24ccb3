/**
 * Rate limits across replicas with owner routing: a legacy call that reaches
 * a replica which does not own the session is limited there once and
 * forwarded; the owner neither charges the request buckets again nor the
 * tool bucket (it takes the forwarding replica's tool decision). Real
 * redis-server, two real `berth run` processes.
 */
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type RunningBerth } from './cli-helpers.ts';
import { freePort } from './helpers/free-port.ts';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { initSession, legacyHeaders } from './helpers/http-app.ts';
import { legacyCall } from './helpers/replica-rig.ts';
import { TOOL_DECISION_HEADER } from '../src/http/forwarded-limit.ts';

const MANIFEST = join(import.meta.dirname, 'fixtures', 'replicas-limited', 'mcpserver.yaml');
let redis: RedisProcess;
const replicas: Array<{ url: string; berth: RunningBerth }> = [];

before(async () => {
  redis = await startRedis();
  for (const n of [1, 2]) {
    const port = await freePort();
    const berth = await startBerth(['run', '-f', MANIFEST, '--redis', redis.url, '--host', '127.0.0.1', '--port', String(port)], {
      env: { BERTH_REPLICA_ID: `limited-${process.pid}-${n}`, BERTH_LOG_LEVEL: 'info' },
      timeoutMs: 60_000,
    });
    replicas.push({ url: `http://127.0.0.1:${port}/mcp`, berth });
  }
});

after(async () => {
  for (const r of replicas) await r.berth.stop('SIGKILL');
  await redis?.stop();
});

/** Empties the rate-limit buckets only: the replicas' heartbeats must stay, or nothing is forwarded. */
async function resetBuckets(): Promise<void> {
  await redis.cli('EVAL', "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", '0', '*:rl:*');
}

/** Outcome of one echo call: ok, tool-limited (isError result) or the HTTP status. */
async function echo(url: string, sid: string, id: number, headers: Record<string, string> = {}): Promise<string | number> {
  if (Object.keys(headers).length) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...legacyHeaders(sid), ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }),
    });
    const text = await res.text();
    if (res.status !== 200) return res.status;
    return /"isError":true/.test(text) ? 'tool-limited' : 'ok';
  }
  const r = await legacyCall(url, sid, id, 'echo', { text: 'x' });
  if (r.status !== 200) return r.status;
  return r.response?.result?.isError ? 'tool-limited' : 'ok';
}

test('forwarded calls are charged once: the session and tool limits hold exactly, not at half', async () => {
  const [owner, other] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  await resetBuckets();
  // The session's budget of 6 includes its notifications/initialized.
  const sid = await initSession(owner.url);
  const outcomes: Array<string | number> = [];
  // The first call makes `owner` the session's owner; every later one lands on the other replica and is forwarded.
  outcomes.push(await echo(owner.url, sid, 1));
  for (let i = 2; i <= 8; i++) outcomes.push(await echo(other.url, sid, i));
  // Charged on both replicas, the session's budget would be spent after two calls.
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'tool-limited', 429, 429, 429]);
});

test("a client's own tool-decision header is ignored, sent to the owner or through a forward", async () => {
  const [owner, other] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  await resetBuckets();
  const sid = await initSession(owner.url);
  const forged = { [TOOL_DECISION_HEADER]: 'ok' };
  const outcomes: Array<string | number> = [];
  for (let i = 1; i <= 3; i++) outcomes.push(await echo(owner.url, sid, i, forged));
  for (let i = 4; i <= 6; i++) outcomes.push(await echo(other.url, sid, i, forged));
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'tool-limited', 429]);
});
