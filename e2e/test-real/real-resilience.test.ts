/**
 * Replica churn on a real node, through a real Service (kube-proxy's iptables
 * rules, no stickiness):
 *
 * - `kubectl rollout restart` of a 3-replica McpServer under continuous load
 *   from several legacy sessions: every idempotent call succeeds. The pods'
 *   preStop sleep (PRE_STOP_SECONDS) lets the endpoint removal land before
 *   SIGTERM; then the runtime drains (spec.drain.gracePeriodSeconds) and
 *   closes its SSE streams with a retry hint, and clients resume elsewhere.
 * - `kubectl delete pod --grace-period=0 --force` of the pod that owns a live
 *   session mid-stream: the client resumes with Last-Event-ID on another pod,
 *   which takes the session over; no event is lost or delivered twice.
 *
 * The raw legacy client is the runtime's test client (it follows SSE streams
 * and resumes them like a spec-following client).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSession } from '../../runtime/test/helpers/http-app.ts';
import { type CallResult, legacyCall } from '../../runtime/test/helpers/replica-rig.ts';
import { freshNamespace, waitFor } from '../src/cluster/test-cluster.ts';
import { ensureBerthChart, ensureRealCluster, fixtureConfigMap, mcpPods, PRE_STOP_SECONDS, type RealCluster, readyEndpoints, serviceUrl, waitMcpReady } from '../src/real/test-real.ts';

const DRAIN_SECONDS = 2;
let cluster: RealCluster;
let ns: string;
let url: string;

before(async () => {
  cluster = await ensureRealCluster();
  await ensureBerthChart(cluster);
  ns = await freshNamespace('real-churn', { podSecurity: 'restricted' });
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: `${fixtureConfigMap('fixtures')}
---
apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: {name: churn}
spec:
  source:
    module:
      configMapRef: {name: fixtures, key: server.mjs}
  replicas: 3
  auth: {none: {}}
  session: {idleTimeoutSeconds: 600}
  drain: {gracePeriodSeconds: ${DRAIN_SECONDS}}
`,
  });
  await waitMcpReady(cluster, ns, 'churn');
  await waitFor('3 ready endpoints', async () => (await readyEndpoints(cluster, ns, 'churn')).length === 3, { namespace: ns, timeoutMs: 120_000 });
  url = await serviceUrl(cluster, ns, 'churn');
});

after(async () => {
  if (ns) await cluster?.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
});

const describe = (r: CallResult): string => `${r.status} ${JSON.stringify(r.response)}`.slice(0, 400);
const resultText = (r: CallResult): string => r.response?.result?.content?.[0]?.text ?? '';

test('rollout restart of 3 replicas under load from 8 sessions: zero failed idempotent calls', async (t) => {
  const before = (await mcpPods(cluster, ns, 'app.kubernetes.io/instance=churn')).map((p) => p.name).sort();
  const sessions = await Promise.all(Array.from({ length: 8 }, () => initSession(url)));
  let stopped = false;
  const results: CallResult[] = [];
  const answeredBy = new Set<string>();
  let slowestMs = 0;
  let retried503 = 0;
  const load = Promise.all(
    sessions.map(async (sid) => {
      for (let id = 1; !stopped; id++) {
        const t0 = Date.now();
        let r = await legacyCall(url, sid, id, 'count', { n: 3, stepMs: 50 }, { progressToken: `p${id}`, deadlineMs: 30_000 });
        // A request on a kept-alive connection to a pod that got SIGTERM is refused with
        // 503 + Retry-After and the connection closed; the client retries it, on a new connection.
        for (let attempt = 0; r.status === 503 && attempt < 5; attempt++) {
          retried503++;
          await new Promise((res) => setTimeout(res, 250));
          r = await legacyCall(url, sid, id, 'count', { n: 3, stepMs: 50 }, { progressToken: `p${id}`, deadlineMs: 30_000 });
        }
        slowestMs = Math.max(slowestMs, Date.now() - t0);
        results.push(r);
        const m = /on (\S+)$/.exec(resultText(r));
        if (m?.[1]) answeredBy.add(m[1]);
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 1500));
  const rolloutStarted = Date.now();
  await cluster.kubectl(['-n', ns, 'rollout', 'restart', 'deployment/churn']);
  await cluster.kubectl(['-n', ns, 'rollout', 'status', 'deployment/churn', '--timeout=240s'], { timeoutMs: 250_000 });
  // The last old pod is still in its preStop + drain after `rollout status` returns.
  await waitFor('old pods gone', async () => (await mcpPods(cluster, ns, 'app.kubernetes.io/instance=churn')).every((p) => !before.includes(p.name)), { namespace: ns, timeoutMs: 120_000 });
  const rolloutSeconds = (Date.now() - rolloutStarted) / 1000;
  await new Promise((r) => setTimeout(r, 1500));
  stopped = true;
  await load;

  const after = (await mcpPods(cluster, ns, 'app.kubernetes.io/instance=churn')).map((p) => p.name);
  assert.equal(after.length, 3);
  assert.ok(after.every((n) => !before.includes(n)), 'every pod was replaced');
  const failed = results.filter((r) => !r.response?.result || r.response.result.isError);
  assert.deepEqual(failed.map(describe), [], 'no idempotent call failed');
  assert.ok(results.every((r) => /^counted to 3 on churn-/.test(resultText(r))));
  const resumed = results.filter((r) => r.resumes > 0).length;
  const oldAnswered = [...answeredBy].filter((p) => before.includes(p)).length;
  const newAnswered = [...answeredBy].filter((p) => after.includes(p)).length;
  assert.ok(oldAnswered > 0 && newAnswered > 0, `old (${oldAnswered}) and new (${newAnswered}) pods both served`);
  const line = `rollout restart: ${results.length} calls over 8 sessions, 0 failed, ${resumed} resumed after a stream closed, ${retried503} retried after 503 + Retry-After, slowest ${slowestMs} ms; rollout ${rolloutSeconds.toFixed(1)} s; preStop ${PRE_STOP_SECONDS} s, drain ${DRAIN_SECONDS} s`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);
});

/**
 * Repeats a call the way a correct client does while a replica shuts down:
 * a kept-alive connection to the draining pod gets 503 + Retry-After (and is
 * closed), and the retry lands on a live replica.
 */
async function honouringRetryAfter<T extends { status?: number }>(call: () => Promise<T>): Promise<T> {
  let r = await call();
  for (let attempt = 0; r.status === 503 && attempt < 20; attempt++) {
    await new Promise((res) => setTimeout(res, 250));
    r = await call();
  }
  return r;
}

test('force-deleting the pod running a live call: the session continues on another pod, no event lost or repeated', async (t) => {
  await waitFor('3 ready endpoints', async () => (await readyEndpoints(cluster, ns, 'churn')).length === 3, { namespace: ns, timeoutMs: 120_000 });
  const sid = await initSession(url);
  assert.match(resultText(await legacyCall(url, sid, 1, 'whoami', {}, { deadlineMs: 20_000 })), /^churn-/);
  // The module backend keeps nothing per session, so the pod that receives a call runs it; its progress names the pod.
  let running: string | undefined;
  let deletedAt = 0;
  let deletion: Promise<unknown> | undefined;
  const progress: number[] = [];
  const result = await legacyCall(url, sid, 2, 'count', { n: 30, stepMs: 150 }, {
    progressToken: 'live',
    deadlineMs: 60_000,
    onEvent: (e) => {
      const msg = JSON.parse(e.data) as { method?: string; params?: { progress?: number; message?: string } };
      if (msg.method !== 'notifications/progress') return;
      progress.push(msg.params?.progress ?? -1);
      running ??= msg.params?.message;
      if (progress.length === 6 && !deletion && running) {
        deletedAt = Date.now();
        deletion = cluster.kubectl(['-n', ns, 'delete', 'pod', running, '--grace-period=0', '--force']);
      }
    },
  });
  const doneAt = Date.now();
  await deletion;
  assert.match(running ?? '', /^churn-/, 'the progress named the pod running the call');
  assert.ok(deletion, 'the pod running the call was deleted mid-stream');
  assert.ok(result.response?.result, `final result: ${describe(result)}`);
  const ids = result.events.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
  assert.ok(progress.length >= 6, 'events before the deletion were delivered');
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only increases');
  assert.equal(new Set(progress).size, progress.length, 'no progress step repeated');
  // Two outcomes are correct. The kubelet gives a force-deleted pod 2 s between
  // SIGTERM and SIGKILL: if the runtime's drain ends the call first, the client
  // gets every event the call emitted (1..k, none missing) and a retryable
  // [transient] isError, and retrying in the same session succeeds elsewhere;
  // if SIGKILL comes first, the replica the client resumes on re-runs the idempotent call.
  let outcome: string;
  let finisher: string | undefined;
  if (result.response.result.isError) {
    assert.match(resultText(result), /^\[transient\].*interrupted/, describe(result));
    assert.deepEqual(progress, Array.from({ length: progress.length }, (_, i) => i + 1), 'no progress event lost before the interruption');
    const retry = await honouringRetryAfter(() => legacyCall(url, sid, 4, 'count', { n: 5, stepMs: 20 }, { progressToken: 'retry', deadlineMs: 30_000 }));
    assert.match(resultText(retry), /^counted to 5 on churn-/, describe(retry));
    finisher = /on (\S+)$/.exec(resultText(retry))?.[1];
    outcome = `interrupted by the drain with a retryable isError after ${progress.length} progress events (1..${progress.length}, none lost), the retry ran on ${finisher}`;
  } else {
    // SIGKILL broke the stream: the client resumed it (Last-Event-ID) on another pod, which took the call over.
    assert.ok(result.resumes >= 1, 'the stream was resumed on another pod');
    assert.match(resultText(result), /^counted to 30 on churn-/);
    finisher = /on (\S+)$/.exec(resultText(result))?.[1];
    outcome = `re-run by ${finisher} (idempotent), ${progress.length} progress events`;
  }
  assert.notEqual(finisher, running, 'finished by another pod');
  // The session itself lives on: another call in it succeeds on a live pod.
  const again = await honouringRetryAfter(() => legacyCall(url, sid, 3, 'whoami', {}, { deadlineMs: 20_000 }));
  assert.match(resultText(again), /^churn-/);
  assert.notEqual(resultText(again), running, 'answered by a live pod');
  const line = `force delete of the pod running a call: final response ${doneAt - deletedAt} ms after the delete, stream resumed ${result.resumes}x; ${outcome}`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);
});
