/**
 * Scale and quiet: N McpServers reach Ready (timed), a change to all of them
 * rolls out (requests per reconcile counted), and once everything is Ready the
 * operator writes nothing for a minute although it keeps reconciling
 * (periodic resync, audit retries).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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
  type RedisServer,
  type TestOperator,
} from './helpers/cluster.ts';
import { moduleConfigMapSpec, moduleSpec, remoteSpec, stdioSpec } from './helpers/fixtures.ts';

const N = Number(process.env.BERTH_STEADY_N ?? 20);
let cluster: TestCluster;
let ns: string;
let op: TestOperator;
let redis: RedisServer;
let requests = 0;
let writes = 0;
const writeLog: string[] = [];

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-steady');
  redis = await startRedis();
  op = await runOperator(cluster, ns, {
    redis: { adminUrl: redis.adminUrl },
    // The audit URL does not resolve from here: every Ready server is re-polled each minute, without writes.
    audit: { enabled: true, refreshSeconds: 600, timeoutMs: 500 },
    resyncSeconds: 30,
  });
  op.client.observe((verb, path) => {
    requests++;
    if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(verb) && !path.includes('/leases')) {
      writes++;
      writeLog.push(`${verb} ${path}`);
    }
  });
});

after(async () => {
  await op?.stop();
  await redis?.stop();
  if (cluster && ns) await dropNamespace(cluster, ns);
});

const specs = [stdioSpec, moduleSpec, moduleConfigMapSpec, remoteSpec];

async function allReady(generation?: number): Promise<boolean> {
  const list = await kubectlJson(cluster, ['-n', ns, 'get', 'mcps']);
  return (
    list.items.length === N &&
    list.items.every(
      (m: any) =>
        m.status?.observedGeneration === m.metadata.generation &&
        (generation === undefined || m.metadata.generation === generation) &&
        m.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    )
  );
}

/** resourceVersion of every object the operator could write in the namespace. */
async function versions(): Promise<Map<string, string>> {
  const list = await kubectlJson(cluster, ['-n', ns, 'get', 'mcpservers,deployments,configmaps,secrets,services,serviceaccounts,networkpolicies,poddisruptionbudgets']);
  return new Map(list.items.map((o: any) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
}

/** apiserver_request_total summed for write verbs on the kinds the operator manages (cluster-wide). */
async function apiserverWrites(): Promise<number> {
  const text = await cluster.kubectl(['get', '--raw', '/metrics']);
  const kinds = new Set(['mcpservers', 'deployments', 'configmaps', 'secrets', 'services', 'serviceaccounts', 'networkpolicies', 'poddisruptionbudgets']);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
    const resource = /resource="([a-z]+)"/.exec(line)?.[1] ?? '';
    if (kinds.has(resource) && ['APPLY', 'PATCH', 'POST', 'PUT', 'DELETE', 'CREATE', 'UPDATE'].includes(verb)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

test(`${N} McpServers reach Ready; a change to all of them rolls out`, async () => {
  const manifests = Array.from({ length: N }, (_, i) => mcpManifest(ns, `s${String(i).padStart(3, '0')}`, specs[i % specs.length]!));
  const r0 = op.manager.reconcileCount;
  const q0 = requests;
  let started = Date.now();
  await kubectlApply(cluster, manifests);
  await waitFor(`${N} Deployments`, async () => (await kubectlJson(cluster, ['-n', ns, 'get', 'deployments'])).items.length === N, { namespace: ns, timeoutMs: 180_000, intervalMs: 250 });
  const appliedSeconds = (Date.now() - started) / 1000;
  await waitFor(`${N} McpServers Ready`, () => allReady(), { namespace: ns, timeoutMs: 300_000, intervalMs: 500 });
  const createSeconds = (Date.now() - started) / 1000;
  const createReconciles = op.manager.reconcileCount - r0;
  const createRequests = requests - q0;

  const r1 = op.manager.reconcileCount;
  const q1 = requests;
  const w1 = writes;
  started = Date.now();
  await kubectlApply(cluster, manifests.map((m) => ({ ...m, spec: { ...(m.spec as object), output: { maxBytes: 32768 } } })));
  await waitFor(`${N} McpServers Ready at generation 2`, () => allReady(2), { namespace: ns, timeoutMs: 300_000, intervalMs: 500 });
  const changeSeconds = (Date.now() - started) / 1000;
  const changeReconciles = op.manager.reconcileCount - r1;
  const changeRequests = requests - q1;
  process.stdout.write(
    [
      `# create: every child of ${N} McpServers applied in ${appliedSeconds.toFixed(1)} s, all Ready in ${createSeconds.toFixed(1)} s; ${createReconciles} reconciles, ${createRequests} API requests (${(createRequests / createReconciles).toFixed(1)} per reconcile)`,
      `# change: rolled out in ${changeSeconds.toFixed(1)} s; ${changeReconciles} reconciles, ${changeRequests} API requests (${(changeRequests / changeReconciles).toFixed(1)} per reconcile), ${writes - w1} writes (${((writes - w1) / N).toFixed(1)} per McpServer)`,
      '',
    ].join('\n'),
  );
  // A config change rewrites the ConfigMap and the Deployment and then the status (a few times while pods roll).
  assert.ok((writes - w1) / N < 10, `writes per McpServer for a change: ${(writes - w1) / N}`);
});

test('no-op reconciles are fast and write nothing', async () => {
  const r0 = op.manager.reconcileCount;
  const w0 = writes;
  const q0 = requests;
  const started = performance.now();
  for (let round = 0; round < 5; round++) op.manager.enqueueAll();
  await waitFor('the queue drained', async () => op.manager.queue.length === 0 && op.manager.queue.inFlight === 0 && op.manager.reconcileCount - r0 >= N, { timeoutMs: 60_000, intervalMs: 20 });
  const seconds = (performance.now() - started) / 1000;
  const reconciles = op.manager.reconcileCount - r0;
  process.stdout.write(`# no-op: ${reconciles} reconciles in ${seconds.toFixed(2)} s (${(reconciles / seconds).toFixed(0)}/s), ${requests - q0} API requests, ${writes - w0} writes\n`);
  assert.equal(writes - w0, 0, writeLog.slice(w0).join('\n'));
  // Ready servers are reconciled from the caches alone; one still settling may read its references.
  assert.ok(requests - q0 <= reconciles / 10, `${requests - q0} reads for ${reconciles} reconciles`);
});

test('once everything is Ready, the operator makes no writes for a minute', async () => {
  await sleep(3000);
  const rv0 = await versions();
  const w0 = writes;
  const r0 = op.manager.reconcileCount;
  const a0 = await apiserverWrites();
  await sleep(60_000);
  const rv1 = await versions();
  const a1 = await apiserverWrites();
  const reconciles = op.manager.reconcileCount - r0;
  process.stdout.write(`# steady minute: ${reconciles} reconciles, ${writes - w0} operator writes, apiserver writes on managed kinds (all clients, cluster-wide) +${a1 - a0}\n`);
  assert.ok(reconciles >= N, 'the operator kept reconciling (resync every 30 s)');
  assert.equal(writes - w0, 0, writeLog.slice(w0).join('\n'));
  const changed = [...rv1].filter(([k, v]) => rv0.get(k) !== v).map(([k]) => k);
  assert.deepEqual(changed, [], 'no object in the namespace changed');
});
