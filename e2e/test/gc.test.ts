/**
 * Garbage collection: deleting an owner removes its dependents, for plain
 * owner references and for a Deployment's ReplicaSets and Pods; a namespace
 * deletion finishes.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { ensureCluster, freshNamespace, type TestCluster, waitFor } from '../src/cluster/test-cluster.ts';
import { apiError, deployment } from './fixtures.ts';

let cluster: TestCluster;
let core: CoreV1Api;
let apps: AppsV1Api;

before(async () => {
  cluster = await ensureCluster();
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
});

test('deleting an owner ConfigMap removes its dependents', async () => {
  const ns = await freshNamespace('gc');
  const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' }, data: { role: 'owner' } } });
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '', blockOwnerDeletion: true };
  for (const name of ['child-a', 'child-b']) {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, ownerReferences: [ref] }, data: { role: 'child' } } });
  }
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'bystander' } } });

  await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Background' });
  await waitFor(
    'the dependents of owner are collected',
    async () => {
      const names = (await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => c.metadata?.name);
      return !names.includes('child-a') && !names.includes('child-b');
    },
    { namespace: ns },
  );
  // Objects without that owner stay.
  const bystander = await core.readNamespacedConfigMap({ name: 'bystander', namespace: ns });
  assert.equal(bystander.metadata?.name, 'bystander');
});

test('foreground deletion of a Deployment removes its ReplicaSets and Pods first', async () => {
  const ns = await freshNamespace('gc-deploy', { podSecurity: 'restricted' });
  await apps.createNamespacedDeployment({ namespace: ns, body: deployment('worker', 2) });
  await waitFor(
    'worker has 2 ready replicas',
    async () => (await apps.readNamespacedDeployment({ name: 'worker', namespace: ns })).status?.readyReplicas === 2,
    { namespace: ns, timeoutMs: 90_000 },
  );
  assert.equal((await apps.listNamespacedReplicaSet({ namespace: ns })).items.length, 1);

  await apps.deleteNamespacedDeployment({ name: 'worker', namespace: ns, propagationPolicy: 'Foreground' });
  await waitFor(
    'worker, its ReplicaSet and its Pods are gone',
    async () => {
      const [d, rs, pods] = await Promise.all([
        apps.listNamespacedDeployment({ namespace: ns }),
        apps.listNamespacedReplicaSet({ namespace: ns }),
        core.listNamespacedPod({ namespace: ns }),
      ]);
      return d.items.length === 0 && rs.items.length === 0 && pods.items.length === 0;
    },
    { namespace: ns, timeoutMs: 90_000 },
  );
});

test('a namespace with objects in it is deleted completely', async () => {
  const ns = await freshNamespace('gc-ns');
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'x' } } });
  await core.deleteNamespace({ name: ns });
  await waitFor('the namespace is gone', async () => {
    try {
      await core.readNamespace({ name: ns });
      return false;
    } catch (err) {
      return apiError(err).code === 404;
    }
  }, { timeoutMs: 90_000 });
  await cluster.kubectl(['get', 'namespaces']); // the API still answers
});
