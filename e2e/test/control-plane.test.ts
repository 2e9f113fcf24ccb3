/**
 * The control plane itself: the pinned version answers, kwok's nodes are
 * Ready, and Pod Security admission enforces the "restricted" level.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ApiException, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { pinnedVersions } from '../src/cluster/build.ts';
import { NODE_NAMES } from '../src/cluster/config.ts';
import { ensureCluster, freshNamespace, type TestCluster } from '../src/cluster/test-cluster.ts';
import { apiError, restrictedPod } from './fixtures.ts';

let cluster: TestCluster;
let core: CoreV1Api;

before(async () => {
  cluster = await ensureCluster();
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
});

test('the apiserver reports the pinned Kubernetes version and is ready', async () => {
  const version = await cluster.kubeConfig().makeApiClient(VersionApi).getCode();
  assert.equal(version.gitVersion, pinnedVersions().kubernetes);
  assert.equal(version.gitTreeState, 'clean');
  assert.equal((await cluster.kubectl(['get', '--raw', '/readyz'])).trim(), 'ok');
});

test('three kwok nodes are Ready, one per zone, with allocatable pods', async () => {
  const nodes = (await core.listNode({ labelSelector: 'type=kwok' })).items;
  assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), [...NODE_NAMES]);
  for (const n of nodes) {
    assert.equal(n.metadata?.annotations?.['kwok.x-k8s.io/node'], 'fake');
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True', `${n.metadata?.name} Ready condition: ${JSON.stringify(ready)}`);
    assert.equal(n.status?.allocatable?.pods, '110');
  }
  const zones = new Set(nodes.map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone']));
  assert.equal(zones.size, 3);
});

test('Pod Security admission rejects a privileged pod in a restricted namespace', async () => {
  const ns = await freshNamespace('psa', { podSecurity: 'restricted' });
  const privileged = restrictedPod('privileged');
  const container = privileged.spec?.containers[0];
  assert.ok(container);
  container.securityContext = { privileged: true };
  await assert.rejects(
    core.createNamespacedPod({ namespace: ns, body: privileged }),
    (err: unknown) => {
      assert.ok(err instanceof ApiException, String(err));
      const { code, text } = apiError(err);
      assert.equal(code, 403);
      assert.match(text, /violates PodSecurity "restricted:latest"/);
      return true;
    },
  );
  // A compliant pod is admitted (the ServiceAccount admission plugin runs too).
  const ok = await core.createNamespacedPod({ namespace: ns, body: restrictedPod('compliant') });
  assert.equal(ok.spec?.serviceAccountName, 'default');
  assert.ok(
    ok.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken)),
    'the ServiceAccount admission plugin added a projected token volume',
  );
});

test('kubectl and helm from the npm package talk to the cluster', async () => {
  const ns = await freshNamespace('tools');
  const client = JSON.parse(await cluster.kubectl(['version', '--client', '-o', 'json'])) as { clientVersion: { minor: string } };
  assert.equal(client.clientVersion.minor, '35');
  const releases = JSON.parse(await cluster.helm(['list', '-n', ns, '-o', 'json'])) as unknown[];
  assert.deepEqual(releases, []);
  const helmVersion = await cluster.helm(['version', '--short']);
  assert.match(helmVersion, /^v\d+\.\d+\.\d+/);
});
