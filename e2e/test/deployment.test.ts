/**
 * Workloads: a Deployment's pods are scheduled onto kwok's nodes and become
 * Ready; a Service gets an EndpointSlice of them; scaling works.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { NODE_NAMES } from '../src/cluster/config.ts';
import { ensureCluster, freshNamespace, type TestCluster, waitFor } from '../src/cluster/test-cluster.ts';
import { deployment } from './fixtures.ts';

let cluster: TestCluster;
let apps: AppsV1Api;
let core: CoreV1Api;

before(async () => {
  cluster = await ensureCluster();
  apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
});

const podReady = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function readyPods(namespace: string, app: string, count: number): Promise<V1Pod[]> {
  return waitFor(
    `${count} Ready pods of ${app}`,
    async () => {
      const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      return pods.length === count && pods.every(podReady) ? pods : undefined;
    },
    { namespace, timeoutMs: 90_000 },
  );
}

test('a Deployment in a restricted namespace gets Ready pods on kwok nodes', async () => {
  const ns = await freshNamespace('deploy', { podSecurity: 'restricted' });
  await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 3) });

  const pods = await readyPods(ns, 'web', 3);
  for (const p of pods) {
    assert.ok(NODE_NAMES.includes(p.spec?.nodeName as (typeof NODE_NAMES)[number]), `pod ${p.metadata?.name} on ${p.spec?.nodeName}`);
    assert.equal(p.status?.phase, 'Running');
    assert.match(p.status?.podIP ?? '', /^10\.244\./);
    assert.equal(p.status?.containerStatuses?.[0]?.ready, true);
  }

  const d = await waitFor(
    'web reports 3 ready replicas',
    async () => {
      const x = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      return x.status?.readyReplicas === 3 && x.status.availableReplicas === 3 ? x : undefined;
    },
    { namespace: ns },
  );
  assert.equal(d.status?.observedGeneration, d.metadata?.generation);
  const available = d.status?.conditions?.find((c) => c.type === 'Available');
  assert.equal(available?.status, 'True');
});

test('a Service gets an EndpointSlice with the Ready pods, and scaling follows', async () => {
  const ns = await freshNamespace('svc', { podSecurity: 'restricted' });
  await apps.createNamespacedDeployment({ namespace: ns, body: deployment('api', 2) });
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  const discovery = cluster.kubeConfig().makeApiClient(DiscoveryV1Api);
  const readyEndpoints = async (count: number): Promise<string[]> =>
    waitFor(
      `EndpointSlice of api lists ${count} ready endpoints`,
      async () => {
        const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=api' });
        const ready = slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses));
        return ready.length === count ? ready : undefined;
      },
      { namespace: ns, timeoutMs: 90_000 },
    );
  const two = await readyEndpoints(2);
  const pods = await readyPods(ns, 'api', 2);
  assert.deepEqual([...two].sort(), pods.map((p) => p.status?.podIP).sort());

  // Scale through the scale subresource, as `kubectl scale` and an HPA do.
  await apps.patchNamespacedDeploymentScale(
    { name: 'api', namespace: ns, body: { spec: { replicas: 4 } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await readyPods(ns, 'api', 4);
  assert.equal((await readyEndpoints(4)).length, 4);
});
