/**
 * Rolling restart of all three replicas (SIGTERM one at a time, each replaced
 * first) under load from many concurrent legacy sessions: no failed calls for
 * an idempotent tool; for a non-idempotent tool only clear isError results,
 * never a hang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { startHaproxy, type HaproxyProcess } from './helpers/haproxy.ts';
import { initSession } from './helpers/http-app.ts';
import { legacyCall, startReplica, type CallResult, type Replica } from './helpers/replica-rig.ts';

let redis: RedisProcess;
let proxy: HaproxyProcess;
let replicas: Replica[] = [];

before(async () => {
  redis = await startRedis();
  replicas = await Promise.all([startReplica(redis.url), startReplica(redis.url), startReplica(redis.url)]);
  proxy = await startHaproxy(replicas.map((r) => r.port));
});

after(async () => {
  await Promise.allSettled(replicas.map((r) => r.berth.stop('SIGKILL')));
  await proxy?.stop();
  await redis?.stop();
});

/** Replaces every replica in turn: start the new one, point its HAProxy slot at it, SIGTERM the old one. */
async function rollingRestart(): Promise<void> {
  for (let slot = 0; slot < 3; slot++) {
    const fresh = await startReplica(redis.url);
    const old = replicas[slot]!;
    replicas[slot] = fresh;
    await proxy.setServer(slot, fresh.port);
    await new Promise((r) => setTimeout(r, 400));
    const { code } = await old.berth.stop('SIGTERM');
    assert.equal(code, 0, 'a drained replica exits 0');
  }
}

interface LoadReport {
  calls: number;
  results: CallResult[];
  slowestMs: number;
}

/** `sessions` concurrent sessions calling `tool` back to back until `stop` resolves. */
async function load(sessions: number, tool: string, args: Record<string, unknown>, stop: Promise<void>): Promise<LoadReport> {
  const url = `${proxy.url}/mcp`;
  const ids = await Promise.all(Array.from({ length: sessions }, () => initSession(url)));
  let stopped = false;
  void stop.then(() => (stopped = true));
  const results: CallResult[] = [];
  let slowestMs = 0;
  await Promise.all(
    ids.map(async (sid) => {
      for (let id = 1; !stopped; id++) {
        const t0 = Date.now();
        const r = await legacyCall(url, sid, id, tool, args, { deadlineMs: 20_000 });
        slowestMs = Math.max(slowestMs, Date.now() - t0);
        results.push(r);
      }
    }),
  );
  return { calls: results.length, results, slowestMs };
}

const describe = (r: CallResult) => `${r.status} ${JSON.stringify(r.response)}`;

test('rolling restart under load: zero failed calls of an idempotent tool', async (t) => {
  let release!: () => void;
  const stop = new Promise<void>((r) => (release = r));
  const running = load(16, 'count', { n: 3, stepMs: 40 }, stop);
  await new Promise((r) => setTimeout(r, 800));
  await rollingRestart();
  await new Promise((r) => setTimeout(r, 800));
  release();
  const report = await running;
  const failed = report.results.filter((r) => !r.response?.result || r.response.result.isError);
  t.diagnostic(`${report.calls} calls, ${failed.length} failed, ${report.results.filter((r) => r.resumes > 0).length} resumed, slowest ${report.slowestMs} ms`);
  assert.ok(report.calls > 100, `enough load (${report.calls} calls)`);
  assert.deepEqual(failed.map(describe), []);
});

test('rolling restart under load: a non-idempotent tool gives only clear isError results, no hangs', async (t) => {
  let release!: () => void;
  const stop = new Promise<void>((r) => (release = r));
  const running = load(16, 'charge', { ms: 150 }, stop);
  await new Promise((r) => setTimeout(r, 800));
  await rollingRestart();
  await new Promise((r) => setTimeout(r, 800));
  release();
  const report = await running;
  const unclear = report.results.filter((r) => {
    const result = r.response?.result;
    if (!result) return true;
    if (!result.isError) return !/^charged on \d+$/.test(result.content?.[0]?.text ?? '');
    return !/was lost and the call was not retried|interrupted|draining|shutting down/i.test(result.content?.[0]?.text ?? '');
  });
  const errors = report.results.filter((r) => r.response?.result?.isError);
  t.diagnostic(`${report.calls} calls, ${errors.length} isError, ${unclear.length} unclear, slowest ${report.slowestMs} ms`);
  assert.ok(report.calls > 100);
  assert.deepEqual(unclear.map(describe), []);
  assert.ok(report.slowestMs < 20_000, 'no call hung');
});
