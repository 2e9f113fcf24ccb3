/**
 * The coordination.k8s.io Lease API, which leader election is built on:
 * create, read, update with optimistic concurrency, conflict, delete.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { ensureCluster, freshNamespace, type TestCluster } from '../src/cluster/test-cluster.ts';
import { apiError } from './fixtures.ts';

let cluster: TestCluster;

before(async () => {
  cluster = await ensureCluster();
});

test('a Lease round trip with resourceVersion conflicts', async () => {
  const ns = await freshNamespace('lease');
  const api = cluster.kubeConfig().makeApiClient(CoordinationV1Api);
  const now = new V1MicroTime();
  const created = await api.createNamespacedLease({
    namespace: ns,
    body: {
      metadata: { name: 'berth-operator' },
      spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    },
  });
  assert.equal(created.spec?.holderIdentity, 'replica-a');
  const rv1 = created.metadata?.resourceVersion;
  assert.ok(rv1);

  const read = await api.readNamespacedLease({ name: 'berth-operator', namespace: ns });
  assert.equal(read.spec?.leaseDurationSeconds, 15);
  assert.ok(!Number.isNaN(new Date(String(read.spec?.renewTime)).getTime()), `renewTime ${String(read.spec?.renewTime)}`);

  // Replica b takes over, using the resourceVersion it read.
  const takeover = {
    ...read,
    spec: { ...read.spec, holderIdentity: 'replica-b', leaseTransitions: 1, acquireTime: new V1MicroTime(), renewTime: new V1MicroTime() },
  };
  const updated = await api.replaceNamespacedLease({ name: 'berth-operator', namespace: ns, body: takeover });
  assert.equal(updated.spec?.holderIdentity, 'replica-b');
  assert.equal(updated.spec?.leaseTransitions, 1);
  assert.notEqual(updated.metadata?.resourceVersion, rv1);

  // Replica a renews with its stale resourceVersion: the API refuses.
  const stale = { ...created, spec: { ...created.spec, renewTime: new V1MicroTime() } };
  await assert.rejects(api.replaceNamespacedLease({ name: 'berth-operator', namespace: ns, body: stale }), (err: unknown) => {
    const { code, text } = apiError(err);
    assert.equal(code, 409, text);
    assert.match(text, /the object has been modified/);
    return true;
  });

  await api.deleteNamespacedLease({ name: 'berth-operator', namespace: ns });
  await assert.rejects(api.readNamespacedLease({ name: 'berth-operator', namespace: ns }), (err: unknown) => apiError(err).code === 404);
});
