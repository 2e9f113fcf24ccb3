/**
 * The Helm chart: lint and render every CI variant, refuse bad values, and
 * install it for real. The operator then runs with the chart's own
 * ServiceAccount token, which proves the least-privilege RBAC is enough for
 * a whole McpServer lifecycle (and the Role suffices in namespace scope).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import { loadOperatorConfig, operatorConfig } from '../src/config.ts';
import { KubeClient } from '../src/kube/client.ts';
import { startOperator } from '../src/main.ts';
import {
  clusterWithCrd,
  dropNamespace,
  freshNamespace,
  kubectlApply,
  kubectlJson,
  mcpManifest,
  repoRoot,
  testLogger,
  waitFor,
  waitForCondition,
} from './helpers/cluster.ts';
import { moduleSpec } from './helpers/fixtures.ts';

const chart = join(repoRoot, 'charts', 'berth');
const ciValues = readdirSync(join(chart, 'ci')).filter((f) => f.endsWith('.yaml'));
let cluster: TestCluster;
const namespaces: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'berth-chart-'));
/** Releases still installed (uninstalled in `after` if a test failed half-way): name → namespace. */
const releases = new Map<string, string>();
/** Unique per run: cluster-scoped objects (ClusterRole, binding) carry the release name. */
const suffix = randomBytes(3).toString('hex');

before(async () => {
  cluster = await clusterWithCrd();
});

after(async () => {
  for (const [release, namespace] of releases) await cluster.helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '2m']).catch(() => undefined);
  for (const n of namespaces) await dropNamespace(cluster, n);
  rmSync(tmp, { recursive: true, force: true });
});

async function render(args: readonly string[]): Promise<Array<Record<string, any>>> {
  const out = await cluster.helm(['template', 'berth', chart, '--namespace', 'berth-system', ...args]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Record<string, any> | null)
    .filter((d): d is Record<string, any> => d !== null);
}

test('helm lint passes for the defaults and every CI values file', async () => {
  for (const file of [undefined, ...ciValues]) {
    const out = await cluster.helm(['lint', chart, '--strict', ...(file ? ['-f', join(chart, 'ci', file)] : [])]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, file ?? 'defaults');
  }
});

test('every variant renders a loadable operator config and least-privilege RBAC', async () => {
  for (const file of ciValues) {
    const docs = await render(['-f', join(chart, 'ci', file)]);
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'berth-operator')!;
    const configFile = join(tmp, `${file}.json`);
    writeFileSync(configFile, cm.data['config.json']);
    const config = loadOperatorConfig(['--config', configFile], {});
    assert.equal(config.leaderElection.namespace, 'berth-system');
    const scopeNamespace = file.startsWith('namespace');
    assert.equal(config.namespace, scopeNamespace ? 'team-a' : '', file);
    assert.ok(kinds.includes(scopeNamespace ? 'Role/berth-operator' : 'ClusterRole/berth-operator'), file);
    for (const role of docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
      for (const rule of role.rules) {
        for (const field of ['apiGroups', 'resources', 'verbs']) assert.ok(!rule[field].includes('*'), `${file}: wildcard in ${role.kind} ${field}`);
      }
    }
    const crd = docs.find((d) => d.kind === 'CustomResourceDefinition');
    const values = file.startsWith('namespace') ? { enabled: false, keep: true } : file.startsWith('no-leader') ? { enabled: true, keep: false } : { enabled: true, keep: true };
    assert.equal(Boolean(crd), values.enabled, `${file}: CRD rendered`);
    if (crd) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], values.keep ? 'keep' : undefined, `${file}: keep`);
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'berth-operator')!;
    const c = dep.spec.template.spec.containers[0];
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(kinds.includes('Deployment/berth-operator-redis'), file.startsWith('bundled'), `${file}: bundled Redis`);
  }
});

test('values.schema.json refuses bad values with a message naming them', async () => {
  for (const [set, pattern] of [
    ['scope=galaxy', /scope/],
    ['replicaCount=-1', /replicaCount/],
    ['runtime.image.pullPolicy=Sometimes', /pullPolicy/],
    ['unknownKey=1', /unknownKey|additional properties/i],
  ] as const) {
    await assert.rejects(cluster.helm(['template', 'berth', chart, '--set', set]), pattern, set);
  }
  await assert.rejects(cluster.helm(['template', 'berth', chart, '--set', 'watchNamespace=x']), /watchNamespace applies only with scope: namespace/);
});

test('the chart’s own pods (operator, bundled Redis, helm test) pass Pod Security "restricted"', async () => {
  const restricted = await freshNamespace('chart-psa', { podSecurity: 'restricted' });
  namespaces.push(restricted);
  const docs = await render(['--set', 'redis.bundled.enabled=true']);
  const pods = [
    ...docs.filter((d) => d.kind === 'Deployment').map((d) => ({ name: d.metadata.name, spec: d.spec.template.spec })),
    ...docs.filter((d) => d.kind === 'Pod').map((d) => ({ name: d.metadata.name, spec: d.spec })),
  ];
  assert.equal(pods.length, 3);
  for (const p of pods) {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: restricted }, spec: { ...p.spec, serviceAccountName: 'default', volumes: (p.spec.volumes ?? []).filter((v: any) => v.emptyDir) } };
    pod.spec.containers = pod.spec.containers.map((c: any) => ({ ...c, volumeMounts: (c.volumeMounts ?? []).filter((m: any) => pod.spec.volumes.some((v: any) => v.name === m.name)), env: (c.env ?? []).filter((e: any) => !e.valueFrom?.secretKeyRef) }));
    const r = await cluster.kubectlResult(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    assert.equal(r.code, 0, `${p.name}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /PodSecurity/, p.name);
  }
});

/** A client authenticated as a ServiceAccount (a real token, so RBAC applies). */
async function clientAs(namespace: string, serviceAccount: string): Promise<KubeClient> {
  const token = (await cluster.kubectl(['-n', namespace, 'create', 'token', serviceAccount, '--duration=1h'])).trim();
  const admin = cluster.kubeConfig();
  const c = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: c.server, caData: c.caData, caFile: c.caFile, skipTLSVerify: c.skipTLSVerify }],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
    currentContext: 'sa',
  });
  return new KubeClient(kc);
}

/** Lets `helm install` adopt the CRD the test rig applied. */
async function adoptCrd(release: string, namespace: string): Promise<void> {
  await cluster.kubectl(['label', 'crd', 'mcpservers.berth.dev', 'app.kubernetes.io/managed-by=Helm', '--overwrite']);
  await cluster.kubectl(['annotate', 'crd', 'mcpservers.berth.dev', `meta.helm.sh/release-name=${release}`, `meta.helm.sh/release-namespace=${namespace}`, '--overwrite']);
}

test('helm install (cluster scope, bundled Redis): objects, ready pods, RBAC enough for a full lifecycle; uninstall keeps the CRD', async () => {
  const system = await freshNamespace('berth-system');
  const tenants = await freshNamespace('chart-tenant');
  namespaces.push(system, tenants);
  const release = `berth-${suffix}`;
  const fullname = `${release}-operator`;
  await adoptCrd(release, system);
  releases.set(release, system);
  // Helm 4 applies server-side: take the CRD's fields over from the test rig's field manager.
  await cluster.helm(['install', release, chart, '--namespace', system, '--force-conflicts', '--set', 'redis.bundled.enabled=true', '--set', 'replicaCount=1', '--wait', '--timeout', '2m']);
  const deps = await kubectlJson(cluster, ['-n', system, 'get', 'deployments']);
  assert.deepEqual(deps.items.map((d: any) => [d.metadata.name, d.status.readyReplicas]).sort(), [
    [fullname, 1],
    [`${fullname}-redis`, 1],
  ]);
  const crd = await kubectlJson(cluster, ['get', 'crd', 'mcpservers.berth.dev']);
  assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');

  // RBAC: what it must and must not do.
  const sa = `system:serviceaccount:${system}:${fullname}`;
  const can = async (verb: string, resource: string, ns?: string): Promise<boolean> =>
    (await cluster.kubectlResult(['auth', 'can-i', verb, resource, '--as', sa, ...(ns ? ['-n', ns] : ['--all-namespaces'])])).stdout.trim() === 'yes';
  for (const [verb, res] of [['patch', 'mcpservers.berth.dev/status'], ['update', 'mcpservers.berth.dev/finalizers'], ['create', 'deployments.apps'], ['delete', 'poddisruptionbudgets.policy'], ['watch', 'pods'], ['create', 'events']] as const) {
    assert.ok(await can(verb, res), `can ${verb} ${res}`);
  }
  for (const [verb, res] of [['get', 'nodes'], ['delete', 'mcpservers.berth.dev'], ['create', 'pods'], ['create', 'clusterroles.rbac.authorization.k8s.io'], ['delete', 'namespaces']] as const) {
    assert.ok(!(await can(verb, res)), `cannot ${verb} ${res}`);
  }
  assert.ok(await can('update', `leases.coordination.k8s.io/${fullname}`, system));
  assert.ok(!(await can('update', 'leases.coordination.k8s.io/someone-else', system)));

  // Run the operator as that ServiceAccount through a whole lifecycle.
  const client = await clientAs(system, fullname);
  const op = await startOperator(
    operatorConfig({
      namespace: tenants,
      runtime: { image: 'berth-runtime:test' },
      leaderElection: { namespace: system, leaseName: fullname },
      http: { host: '127.0.0.1', port: 0 },
      audit: { enabled: false },
      identity: 'chart-test',
    }),
    { client, log: testLogger('operator-as-sa'), defaultMetrics: false },
  );
  try {
    await kubectlApply(cluster, mcpManifest(tenants, 'lifecycle', { ...moduleSpec, replicas: 2 }));
    await waitForCondition(cluster, tenants, 'lifecycle', 'Ready');
    await cluster.kubectl(['-n', tenants, 'scale', 'mcps/lifecycle', '--replicas=1']);
    await waitFor('the PDB pruned', async () => (await cluster.kubectlResult(['-n', tenants, 'get', 'pdb', 'lifecycle'])).code !== 0, { namespace: tenants });
    await cluster.kubectl(['-n', tenants, 'delete', 'mcps', 'lifecycle', '--wait=true', '--timeout=60s']);
    const lease = await kubectlJson(cluster, ['-n', system, 'get', 'lease', fullname]);
    assert.equal(lease.spec.holderIdentity, 'chart-test');
  } finally {
    await op.stop();
  }

  await cluster.helm(['uninstall', release, '--namespace', system, '--wait', '--timeout', '2m']);
  releases.delete(release);
  assert.equal((await cluster.kubectlResult(['get', 'crd', 'mcpservers.berth.dev'])).code, 0, 'crds.keep kept the CRD');
  assert.equal((await cluster.kubectlResult(['-n', system, 'get', 'deployment', fullname])).code, 1);
  assert.equal((await cluster.kubectlResult(['get', 'clusterrole', fullname])).code, 1);
});

test('helm install (namespace scope): a Role in the watched namespace is all the operator needs', async () => {
  const system = await freshNamespace('berth-ns-system');
  const tenant = await freshNamespace('chart-ns-tenant');
  namespaces.push(system, tenant);
  releases.set('scoped', system);
  await cluster.helm(['install', 'scoped', chart, '--namespace', system, '--set', 'scope=namespace', '--set', `watchNamespace=${tenant}`, '--set', 'crds.enabled=false', '--set', 'replicaCount=1', '--wait', '--timeout', '2m']);
  const roles = await kubectlJson(cluster, ['-n', tenant, 'get', 'roles']);
  assert.ok(roles.items.some((r: any) => r.metadata.name === 'scoped-berth-operator'));
  assert.equal((await cluster.kubectlResult(['get', 'clusterrole', 'scoped-berth-operator'])).code, 1, 'no ClusterRole');
  const client = await clientAs(system, 'scoped-berth-operator');
  const op = await startOperator(
    operatorConfig({
      namespace: tenant,
      runtime: { image: 'berth-runtime:test' },
      leaderElection: { namespace: system, leaseName: 'scoped-berth-operator' },
      http: { host: '127.0.0.1', port: 0 },
      audit: { enabled: false },
    }),
    { client, log: testLogger('operator-scoped'), defaultMetrics: false },
  );
  try {
    await kubectlApply(cluster, mcpManifest(tenant, 'scoped', moduleSpec));
    await waitForCondition(cluster, tenant, 'scoped', 'Ready');
  } finally {
    await op.stop();
  }
  await cluster.helm(['uninstall', 'scoped', '--namespace', system, '--wait', '--timeout', '2m']);
  releases.delete('scoped');
});
