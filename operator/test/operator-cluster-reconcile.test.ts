/**
 * The operator against a real control plane (kwok nodes): McpServers reach
 * Ready in a namespace enforcing Pod Security "restricted", every child is
 * there with the fields it needs, spec changes roll out, drift is repaired,
 * and `kubectl scale` / `rollout restart` / HPA-owned replicas are respected.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import {
  clusterWithCrd,
  dropNamespace,
  freshNamespace,
  kubectlApply,
  kubectlJson,
  mcpManifest,
  repoRoot,
  runOperator,
  startRedis,
  waitFor,
  waitForCondition,
  type RedisServer,
  type TestOperator,
} from './helpers/cluster.ts';
import { moduleConfigMapSpec, modulePathSpec, moduleSpec, remoteSpec, stdioSpec } from './helpers/fixtures.ts';

let cluster: TestCluster;
let ns: string;
let op: TestOperator;
let redis: RedisServer;

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-reconcile', { podSecurity: 'restricted' });
  redis = await startRedis();
  op = await runOperator(cluster, ns, { redis: { adminUrl: redis.adminUrl } });
});

after(async () => {
  await op?.stop();
  await redis?.stop();
  if (cluster && ns) await dropNamespace(cluster, ns);
});

const get = (kind: string, name: string): Promise<any> => kubectlJson(cluster, ['-n', ns, 'get', kind, name, '--show-managed-fields']);

/** Every examples/<name>/mcpserver.yaml, moved into the test namespace. */
function exampleManifests(): Array<Record<string, any>> {
  const dir = join(repoRoot, 'examples');
  const out: Array<Record<string, any>> = [];
  for (const entry of readdirSync(dir)) {
    const file = join(dir, entry, 'mcpserver.yaml');
    try {
      statSync(file);
    } catch {
      continue;
    }
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const obj = doc.toJS() as Record<string, any> | null;
      if (obj?.kind !== 'McpServer') continue;
      out.push({ ...obj, metadata: { ...obj.metadata, name: `example-${obj.metadata.name}`.slice(0, 63), namespace: ns } });
    }
  }
  return out;
}

test('every source kind and every example McpServer reaches Ready', async () => {
  const fixtures = [
    mcpManifest(ns, 'memory', stdioSpec),
    mcpManifest(ns, 'weather', moduleSpec),
    mcpManifest(ns, 'weather-cm', moduleConfigMapSpec),
    mcpManifest(ns, 'weather-path', modulePathSpec),
    mcpManifest(ns, 'tools', remoteSpec),
    ...exampleManifests(),
  ];
  const started = Date.now();
  await kubectlApply(cluster, fixtures);
  for (const m of fixtures) await waitForCondition(cluster, ns, (m.metadata as { name: string }).name, 'Ready');
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`# ${fixtures.length} McpServers Ready in ${seconds.toFixed(1)} s\n`);
  const table = await cluster.kubectl(['-n', ns, 'get', 'mcps', '-o', 'wide']);
  assert.match(table, /NAME\s+READY\s+REPLICAS\s+REASON\s+URL\s+AGE/);
  assert.match(table, /memory\s+True\s+2\s+Ready\s+http:\/\/memory\.[a-z0-9-]+\.svc:8080\/mcp/);
  const mcp = await get('mcps', 'memory');
  assert.equal(mcp.status.selector, 'app.kubernetes.io/name=berth-runtime,app.kubernetes.io/instance=memory');
  assert.deepEqual(mcp.metadata.finalizers, ['berth.dev/cleanup']);
  const byType = Object.fromEntries(mcp.status.conditions.map((c: any) => [c.type, c]));
  assert.equal(byType.Authenticated.status, 'True');
  assert.equal(byType.Degraded.status, 'False');
  assert.equal((await get('mcps', 'weather')).status.conditions.find((c: any) => c.type === 'Authenticated').reason, 'AuthDisabled');
});

test('the children exist, are owned, and carry the fields that matter', async () => {
  const mcp = await get('mcps', 'memory');
  const uid = mcp.metadata.uid;
  const owned = (o: any): void => {
    assert.deepEqual(
      o.metadata.ownerReferences.map((r: any) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]),
      [['McpServer', 'memory', uid, true, true]],
      `${o.kind} ${o.metadata.name}`,
    );
    assert.ok(o.metadata.managedFields.some((f: any) => f.manager === 'berth-operator' && f.operation === 'Apply'));
  };
  const cm = await get('configmap', 'memory-config');
  owned(cm);
  const doc = JSON.parse(cm.data['config.json']);
  assert.equal(doc.kind, 'RuntimeConfig');
  assert.deepEqual(doc.tenant, { namespace: ns, name: 'memory' });
  assert.equal(doc.runtime.redis.urlFile, '/var/run/berth/secrets/memory-redis/url');
  assert.equal(doc.runtime.redis.keyPrefix, `berth:{${ns}/memory}:`);
  const redisSecret = await get('secret', 'memory-redis');
  owned(redisSecret);
  assert.match(Buffer.from(redisSecret.data.url, 'base64').toString(), new RegExp(`^redis://berth\\.${ns}\\.memory:[^@]+@127\\.0\\.0\\.1:${redis.port}/0$`));
  owned(await get('secret', 'memory-internal'));
  const sa = await get('serviceaccount', 'memory');
  owned(sa);
  assert.equal(sa.automountServiceAccountToken, false);
  const svc = await get('service', 'memory');
  owned(svc);
  assert.deepEqual(
    svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort]),
    [['http', 8080, 'http']],
  );
  const dep = await get('deployment', 'memory');
  owned(dep);
  assert.equal(dep.spec.replicas, 2);
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual([...c.command, ...c.args], ['node', 'runtime/bin/berth.mjs', 'serve', '--config', '/etc/berth/config.json']);
  assert.equal(c.livenessProbe.httpGet.path, '/health');
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  assert.equal(c.startupProbe.httpGet.path, '/health');
  assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 5 } });
  assert.ok(pod.terminationGracePeriodSeconds > 5 + 2, 'grace beyond preStop + drain');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.serviceAccountName, 'memory');
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(pod.initContainers[0].args[0], 'install-package');
  assert.ok(dep.spec.template.metadata.annotations['berth.dev/config-hash'].startsWith('sha256:'));
  assert.deepEqual(
    pod.topologySpreadConstraints.map((t: any) => [t.topologyKey, t.whenUnsatisfiable]),
    [
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
    ],
  );
  const np = await get('networkpolicy', 'memory');
  owned(np);
  assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
  assert.ok(np.spec.egress.some((r: any) => r.ports?.some((p: any) => p.port === redis.port)), 'Redis egress on its port');
  assert.ok(np.spec.egress.some((r: any) => r.ports?.some((p: any) => p.port === 53)), 'DNS egress');
  const pdb = await get('poddisruptionbudget', 'memory');
  owned(pdb);
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.equal((await cluster.kubectlResult(['-n', ns, 'get', 'pdb', 'weather'])).code, 1, 'one replica: no PDB');
  // The pods really run under "restricted" (the namespace enforces it) and are Ready on kwok nodes.
  const pods = await kubectlJson(cluster, ['-n', ns, 'get', 'pods', '-l', 'app.kubernetes.io/instance=memory']);
  assert.equal(pods.items.length, 2);
  for (const p of pods.items) assert.ok(p.status.conditions.some((cond: any) => cond.type === 'Ready' && cond.status === 'True'));
});

test('the rendered pod passes a server-side dry run under Pod Security "restricted"', async () => {
  const restricted = await freshNamespace('op-psa', { podSecurity: 'restricted' });
  try {
    for (const name of ['memory', 'weather-cm', 'tools']) {
      const dep = await get('deployment', name);
      const podSpec = { ...dep.spec.template.spec, serviceAccountName: 'default' };
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-dry-run`, namespace: restricted, labels: dep.spec.template.metadata.labels }, spec: podSpec };
      const r = await cluster.kubectlResult(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /would violate PodSecurity/);
    }
    // And a privileged variant is refused, so the check has teeth.
    const dep = await get('deployment', 'memory');
    const bad = structuredClone(dep.spec.template.spec);
    bad.serviceAccountName = 'default';
    bad.containers[0].securityContext.allowPrivilegeEscalation = true;
    const r = await cluster.kubectlResult(['apply', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad', namespace: restricted }, spec: bad }),
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted/);
  } finally {
    await dropNamespace(cluster, restricted);
  }
});

test('a spec change rolls out a new pod template and reports the new generation', async () => {
  const before = await get('deployment', 'memory');
  const oldHash = before.spec.template.metadata.annotations['berth.dev/config-hash'];
  await cluster.kubectl(['-n', ns, 'patch', 'mcps', 'memory', '--type=merge', '-p', '{"spec":{"output":{"maxBytes":4096}}}']);
  const mcp = await waitForCondition(cluster, ns, 'memory', 'Ready');
  assert.equal(mcp.metadata.generation, 2);
  assert.equal(mcp.status.observedGeneration, 2);
  const afterDep = await get('deployment', 'memory');
  const newHash = afterDep.spec.template.metadata.annotations['berth.dev/config-hash'];
  assert.notEqual(newHash, oldHash);
  assert.equal(mcp.status.configHash, newHash);
  assert.equal(JSON.parse((await get('configmap', 'memory-config')).data['config.json']).spec.output.maxBytes, 4096);
  const rs = await kubectlJson(cluster, ['-n', ns, 'get', 'replicasets', '-l', 'app.kubernetes.io/instance=memory']);
  assert.ok(rs.items.length >= 2, 'a new ReplicaSet for the new template');
});

test('deleted children are recreated', async () => {
  const uids: Record<string, string> = {};
  for (const kind of ['service', 'networkpolicy', 'configmap/memory-config', 'serviceaccount', 'secret/memory-internal']) {
    const [k, n = 'memory'] = kind.split('/') as [string, string?];
    uids[kind] = (await get(k, n)).metadata.uid;
    await cluster.kubectl(['-n', ns, 'delete', k, n, '--wait=true']);
  }
  for (const kind of Object.keys(uids)) {
    const [k, n = 'memory'] = kind.split('/') as [string, string?];
    const restored = await waitFor(`${kind} recreated`, async () => {
      const r = await cluster.kubectlResult(['-n', ns, 'get', k, n, '-o', 'json']);
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    }, { namespace: ns });
    assert.notEqual(restored.metadata.uid, uids[kind], `${kind} is a new object`);
  }
  await waitForCondition(cluster, ns, 'memory', 'Ready');
});

test('hand edits of owned fields are reverted; fields the operator does not own are kept', async () => {
  await cluster.kubectl(['-n', ns, 'patch', 'service', 'memory', '--type=merge', '-p', '{"metadata":{"annotations":{"team.example/owner":"alice"}},"spec":{"ports":[{"name":"http","port":9999,"targetPort":"http"}]}}']);
  await cluster.kubectl(['-n', ns, 'patch', 'networkpolicy', 'memory', '--type=json', '-p', '[{"op":"replace","path":"/spec/egress","value":[]}]']);
  await cluster.kubectl(['-n', ns, 'set', 'image', 'deployment/memory', 'runtime=evil:latest']);
  await waitFor('the Service port restored', async () => (await get('service', 'memory')).spec.ports.some((p: any) => p.port === 8080), { namespace: ns });
  await waitFor('the NetworkPolicy egress restored', async () => (await get('networkpolicy', 'memory')).spec.egress?.length > 0, { namespace: ns });
  await waitFor('the image restored', async () => (await get('deployment', 'memory')).spec.template.spec.containers[0].image === 'berth-runtime:test', { namespace: ns });
  assert.equal((await get('service', 'memory')).metadata.annotations['team.example/owner'], 'alice', 'a field the operator does not own survives');
  await waitForCondition(cluster, ns, 'memory', 'Ready');
});

test('kubectl scale mcps sets the replicas through the scale subresource', async () => {
  await cluster.kubectl(['-n', ns, 'scale', 'mcps/memory', '--replicas=3']);
  const mcp = await waitFor('3 replicas', async () => {
    const m = await get('mcps', 'memory');
    return m.status?.replicas === 3 && m.status?.readyReplicas === 3 ? m : undefined;
  }, { namespace: ns });
  assert.equal(mcp.spec.replicas, 3);
  assert.equal((await get('deployment', 'memory')).spec.replicas, 3);
  const scale = JSON.parse(await cluster.kubectl(['get', '--raw', `/apis/berth.dev/v1alpha1/namespaces/${ns}/mcpservers/memory/scale`]));
  assert.equal(scale.spec.replicas, 3);
  assert.equal(scale.status.replicas, 3);
  assert.equal(scale.status.selector, 'app.kubernetes.io/name=berth-runtime,app.kubernetes.io/instance=memory');
});

test('kubectl rollout restart is not reverted', async () => {
  await cluster.kubectl(['-n', ns, 'rollout', 'restart', 'deployment/memory']);
  const restartedAt = (await get('deployment', 'memory')).spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
  assert.ok(restartedAt);
  // Make the operator reconcile (and re-apply the Deployment) while the restart is there.
  await cluster.kubectl(['-n', ns, 'patch', 'mcps', 'memory', '--type=merge', '-p', '{"spec":{"output":{"maxBytes":8192}}}']);
  await waitForCondition(cluster, ns, 'memory', 'Ready');
  const dep = await get('deployment', 'memory');
  assert.equal(dep.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'], restartedAt);
  assert.equal(JSON.parse((await get('configmap', 'memory-config')).data['config.json']).spec.output.maxBytes, 8192);
});

test('replicas left to an HPA are not fought, and the PDB follows the replica count', async () => {
  await kubectlApply(cluster, mcpManifest(ns, 'elastic', { ...moduleConfigMapSpec }));
  await waitForCondition(cluster, ns, 'elastic', 'Ready');
  assert.ok(await get('poddisruptionbudget', 'elastic'), 'HPA-owned replicas get a PDB');
  // What an HPA does: write the Deployment's scale with its own field manager.
  await cluster.kubectl(['-n', ns, 'scale', 'deployment/elastic', '--replicas=4']);
  await cluster.kubectl(['-n', ns, 'annotate', 'mcps', 'elastic', 'touch=1']); // forces a reconcile
  await waitFor('4 ready replicas reported', async () => (await get('mcps', 'elastic')).status?.readyReplicas === 4, { namespace: ns });
  await sleep(1000);
  assert.equal((await get('deployment', 'elastic')).spec.replicas, 4);

  await cluster.kubectl(['-n', ns, 'scale', 'mcps/weather-path', '--replicas=1']);
  await waitFor('the PDB pruned at one replica', async () => (await cluster.kubectlResult(['-n', ns, 'get', 'pdb', 'weather-path'])).code !== 0, { namespace: ns });
  await cluster.kubectl(['-n', ns, 'scale', 'mcps/weather-path', '--replicas=2']);
  await waitFor('the PDB back at two replicas', async () => (await cluster.kubectlResult(['-n', ns, 'get', 'pdb', 'weather-path'])).code === 0, { namespace: ns });
});

test('a refused pod template and a name clash are reported, not applied', async () => {
  await kubectlApply(cluster, mcpManifest(ns, 'sneaky', { ...moduleSpec, podTemplate: { spec: { hostNetwork: true } } }));
  const sneaky = await waitForCondition(cluster, ns, 'sneaky', 'Degraded');
  const degraded = sneaky.status.conditions.find((c: any) => c.type === 'Degraded');
  assert.equal(degraded.reason, 'InvalidSpec');
  assert.match(degraded.message, /spec\.podTemplate\.spec\.hostNetwork: not allowed/);
  assert.equal((await cluster.kubectlResult(['-n', ns, 'get', 'deployment', 'sneaky'])).code, 1);

  await kubectlApply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'clash-config', namespace: ns }, data: { mine: 'yes' } });
  await kubectlApply(cluster, mcpManifest(ns, 'clash', moduleSpec));
  const clash = await waitForCondition(cluster, ns, 'clash', 'Degraded');
  assert.equal(clash.status.conditions.find((c: any) => c.type === 'Degraded').reason, 'ChildConflict');
  const cm = await get('configmap', 'clash-config');
  assert.deepEqual(cm.data, { mine: 'yes' });
  assert.equal(cm.metadata.ownerReferences, undefined);
  const events = await cluster.kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=clash,reason=ChildConflict']);
  assert.match(events, /ChildConflict/);
});

test('a missing Secret or ConfigMap is named in the status until it appears', async () => {
  // Scaled to zero, so the server is not Ready and the operator looks for the cause (kwok pods never miss a volume).
  await kubectlApply(cluster, mcpManifest(ns, 'needy', { ...moduleConfigMapSpec, source: { module: { configMapRef: { name: 'needy-code', key: 'server.mjs' } } }, replicas: 0, auth: { apiKeys: { secretRef: { name: 'needy-keys' } } } }));
  const needy = await waitForCondition(cluster, ns, 'needy', 'Degraded');
  const degraded = needy.status.conditions.find((c: any) => c.type === 'Degraded');
  assert.equal(degraded.reason, 'MissingReference');
  assert.match(degraded.message, new RegExp(`ConfigMap ${ns}/needy-code \\(spec\\.source\\.module\\.configMapRef\\) does not exist`));
  assert.match(degraded.message, new RegExp(`Secret ${ns}/needy-keys \\(spec\\.auth\\.apiKeys\\.secretRef\\) does not exist`));
  await kubectlApply(cluster, [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'needy-code', namespace: ns }, data: { 'server.mjs': 'export default () => null;' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'needy-keys', namespace: ns }, stringData: { alice: 'k'.repeat(20) } },
  ]);
  const fixed = await waitForCondition(cluster, ns, 'needy', 'Degraded', 'False', 45_000);
  assert.equal(fixed.status.conditions.find((c: any) => c.type === 'Ready').reason, 'ScaledToZero');
});
