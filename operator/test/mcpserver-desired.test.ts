import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRuntimeConfig } from '../../runtime/src/config/runtime-config.ts';
import { operatorConfig, type OperatorConfigInput } from '../src/config.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { renderDesired, terminationGracePeriod, type DesiredState } from '../src/mcpserver/desired.ts';
import { ANNOTATION_APPLIED_HASH, ANNOTATION_CONFIG_HASH, type McpServerObject } from '../src/mcpserver/names.ts';
import { references } from '../src/mcpserver/references.ts';
import { parseSpec } from '../src/mcpserver/spec.ts';
import { mcpServer, moduleConfigMapSpec, modulePathSpec, moduleSpec, remoteSpec, stdioSpec } from './helpers/fixtures.ts';

const REDIS_URL = 'redis://berth.team-a.x:pw@redis.berth-system.svc:6380/0';

function render(mcp: McpServerObject, cfg: OperatorConfigInput = {}, redisUrl: string | null = REDIS_URL): DesiredState {
  const parsed = parseSpec(mcp.spec);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.issues.join('\n'));
  const result = renderDesired({ mcp, spec: parsed.spec, config: operatorConfig(cfg), credentials: { redisUrl: redisUrl ?? undefined, internalToken: 'tok' } });
  assert.ok(result.ok, result.ok ? '' : result.issues.join('\n'));
  return result.desired;
}

const find = (d: DesiredState, kind: string, name?: string): any => {
  const obj = d.objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  return obj as any;
};
const podSpecOf = (d: DesiredState): any => find(d, 'Deployment').spec.template.spec;
const containerOf = (d: DesiredState): any => podSpecOf(d).containers[0];

test('every child carries a controlling owner reference, common labels and an applied hash', () => {
  const d = render(mcpServer('memory', stdioSpec));
  const kinds = d.objects.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(kinds, [
    'ConfigMap/memory-config',
    'Secret/memory-redis',
    'Secret/memory-internal',
    'ServiceAccount/memory',
    'Service/memory',
    'Deployment/memory',
    'NetworkPolicy/memory',
    'PodDisruptionBudget/memory',
  ]);
  for (const o of d.objects) {
    assert.equal(o.metadata.namespace, 'team-a');
    assert.deepEqual(o.metadata.ownerReferences, [
      { apiVersion: 'berth.dev/v1alpha1', kind: 'McpServer', name: 'memory', uid: 'uid-memory', controller: true, blockOwnerDeletion: true },
    ]);
    assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'berth-operator');
    assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'memory');
    assert.match(o.metadata.annotations?.[ANNOTATION_APPLIED_HASH] ?? '', /^sha256:[0-9a-f]{32}$/);
  }
});

test('the ConfigMap holds a runtime config document the runtime accepts, with secrets by reference', () => {
  const d = render(mcpServer('memory', stdioSpec));
  const cm = find(d, 'ConfigMap');
  const doc = JSON.parse(cm.data['config.json']);
  const parsed = parseRuntimeConfig(doc, 'configmap');
  assert.equal(parsed.kind, 'RuntimeConfig');
  assert.deepEqual(parsed.tenant, { namespace: 'team-a', name: 'memory' });
  assert.equal(parsed.runtime.secretsDir, '/var/run/berth/secrets');
  assert.equal(parsed.runtime.configMapsDir, '/var/run/berth/configmaps');
  assert.equal(parsed.runtime.packagesDir, '/var/lib/berth/packages');
  assert.deepEqual(parsed.runtime.redis, { urlFile: '/var/run/berth/secrets/memory-redis/url', keyPrefix: 'berth:{team-a/memory}:' });
  assert.equal(parsed.runtime.internalTokenFile, '/var/run/berth/secrets/memory-internal/token');
  assert.equal(parsed.runtime.listen.port, 8080);
  // No secret value and no Redis password is copied into the ConfigMap.
  assert.doesNotMatch(cm.data['config.json'], /:pw@|tok"/);
  assert.equal(parsed.spec.source.stdio?.env[0]?.valueFrom?.secretKeyRef?.name, 'memory-token');
});

test('the Redis credential lives in its own Secret and is mounted, not inlined', () => {
  const d = render(mcpServer('memory', stdioSpec));
  const secret = find(d, 'Secret', 'memory-redis');
  assert.equal(Buffer.from(secret.data.url, 'base64').toString(), REDIS_URL);
  const mounts = containerOf(d).volumeMounts.map((m: any) => `${m.mountPath}:${m.readOnly === true}`);
  assert.ok(mounts.includes('/var/run/berth/secrets/memory-redis:true'));
  assert.ok(mounts.includes('/var/run/berth/secrets/memory-internal:true'));
  assert.ok(mounts.includes('/var/run/berth/secrets/memory-token:true'));
  assert.ok(mounts.includes('/var/run/berth/secrets/memory-keys:true'));
  assert.ok(mounts.includes('/var/run/berth/configmaps/memory-settings:true'));
  assert.ok(mounts.includes('/etc/berth:true'));
  const vols = podSpecOf(d).volumes;
  assert.equal(vols.find((v: any) => v.configMap?.name === 'memory-settings').configMap.optional, true, 'an optional reference mounts optionally');
  assert.equal(vols.find((v: any) => v.secret?.secretName === 'memory-token').secret.optional, undefined);
  assert.equal(JSON.stringify(containerOf(d).env).includes('secretKeyRef'), false, 'secrets are files, not env');
});

test('a user-provided Redis Secret replaces the operator-managed one', () => {
  const spec = { ...moduleSpec, redis: { secretRef: { name: 'own-redis' } } };
  const d = render(mcpServer('weather', spec));
  assert.equal(find(d, 'Secret', 'weather-redis'), undefined);
  const doc = JSON.parse(find(d, 'ConfigMap').data['config.json']);
  assert.equal(doc.runtime.redis.urlFile, '/var/run/berth/secrets/own-redis/url');
  assert.ok(containerOf(d).volumeMounts.some((m: any) => m.mountPath === '/var/run/berth/secrets/own-redis'));
});

test('without any Redis the runtime config has none and no Redis egress is opened', () => {
  const d = render(mcpServer('weather', moduleSpec), {}, null);
  const doc = JSON.parse(find(d, 'ConfigMap').data['config.json']);
  assert.equal(doc.runtime.redis, undefined);
  const egress = find(d, 'NetworkPolicy').spec.egress;
  assert.ok(!JSON.stringify(egress).includes('6380'));
});

test('the runtime container: command, probes, preStop sleep, restricted security, read-only root', () => {
  const d = render(mcpServer('memory', stdioSpec));
  const c = containerOf(d);
  assert.deepEqual([...c.command, ...c.args], ['node', 'runtime/bin/berth.mjs', 'serve', '--config', '/etc/berth/config.json']);
  assert.equal(c.workingDir, '/app');
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  assert.equal(c.livenessProbe.httpGet.path, '/health');
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  assert.equal(c.startupProbe.httpGet.path, '/health');
  assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
  assert.deepEqual(c.securityContext, {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
  const pod = podSpecOf(d);
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.serviceAccountName, 'memory');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  const tmp = pod.volumes.find((v: any) => v.name === 'tmp');
  const pkgs = pod.volumes.find((v: any) => v.name === 'packages');
  assert.ok(tmp.emptyDir && pkgs.emptyDir);
  assert.ok(c.volumeMounts.some((m: any) => m.mountPath === '/tmp'));
  assert.ok(c.volumeMounts.some((m: any) => m.mountPath === '/var/lib/berth/packages'));
});

test('terminationGracePeriodSeconds leaves room beyond preStop and drain', () => {
  const d = render(mcpServer('memory', { ...stdioSpec, drain: { gracePeriodSeconds: 7.5 } }));
  const grace = podSpecOf(d).terminationGracePeriodSeconds;
  assert.equal(grace, 5 + 8 + 10);
  const spec = parseSpec({ ...stdioSpec, drain: { gracePeriodSeconds: 30 } });
  assert.ok(spec.ok);
  assert.ok(terminationGracePeriod(spec.spec, operatorConfig()) > 5 + 30);
});

test('a package source gets an init container installing it; other sources get none', () => {
  const stdio = render(mcpServer('memory', stdioSpec));
  const init = podSpecOf(stdio).initContainers;
  assert.equal(init.length, 1);
  assert.deepEqual([...init[0].command, ...init[0].args], [
    'node',
    'runtime/bin/berth.mjs',
    'install-package',
    '@modelcontextprotocol/server-memory@2026.8.31',
    '--dir',
    '/var/lib/berth/packages',
  ]);
  assert.equal(init[0].image, containerOf(stdio).image);
  assert.equal(init[0].securityContext.readOnlyRootFilesystem, true);
  const mod = render(mcpServer('weather', moduleSpec), { runtime: { npmRegistry: 'https://npm.internal/' } });
  assert.equal(podSpecOf(mod).initContainers[0].args[1], '@acme/weather-mcp@1.4.2');
  assert.ok(podSpecOf(mod).initContainers[0].env.some((e: any) => e.name === 'npm_config_registry' && e.value === 'https://npm.internal/'));
  for (const spec of [moduleConfigMapSpec, modulePathSpec, remoteSpec]) {
    assert.equal(podSpecOf(render(mcpServer('x', spec))).initContainers, undefined);
  }
});

test('a module from a ConfigMap is mounted under configMapsDir', () => {
  const d = render(mcpServer('weather', moduleConfigMapSpec));
  assert.ok(containerOf(d).volumeMounts.some((m: any) => m.mountPath === '/var/run/berth/configmaps/weather-code' && m.readOnly));
});

test('replicas: set from spec.replicas, omitted when unset so an HPA owns them', () => {
  assert.equal(find(render(mcpServer('a', modulePathSpec)), 'Deployment').spec.replicas, 3);
  const hpa = find(render(mcpServer('b', moduleConfigMapSpec)), 'Deployment');
  assert.equal('replicas' in hpa.spec, false);
});

test('a PodDisruptionBudget exists only when more than one replica may run', () => {
  assert.equal(find(render(mcpServer('a', moduleSpec)), 'PodDisruptionBudget'), undefined);
  const pdb = find(render(mcpServer('b', stdioSpec)), 'PodDisruptionBudget');
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'berth-runtime', 'app.kubernetes.io/instance': 'b' });
  assert.ok(find(render(mcpServer('c', moduleConfigMapSpec)), 'PodDisruptionBudget'), 'HPA-owned replicas get a PDB');
});

test('the Service maps port 8080 to the named port http', () => {
  const svc = find(render(mcpServer('memory', stdioSpec)), 'Service');
  assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
  assert.deepEqual(svc.spec.selector, { 'app.kubernetes.io/name': 'berth-runtime', 'app.kubernetes.io/instance': 'memory' });
});

test('the ServiceAccount mounts no token', () => {
  assert.equal(find(render(mcpServer('memory', stdioSpec)), 'ServiceAccount').automountServiceAccountToken, false);
});

test('the NetworkPolicy denies by default and allows DNS, Redis, peers, configured peers, upstream and registry', () => {
  const cfg: OperatorConfigInput = {
    redis: { networkPolicyPeers: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'berth-system' } } }] },
    networkPolicy: { operatorPeer: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'berth-system' } }, podSelector: { matchLabels: { app: 'op' } } } },
  };
  const spec = {
    ...remoteSpec,
    networkPolicy: { ingressFrom: [{ namespaceSelector: { matchLabels: { team: 'agents' } } }], egressTo: [{ to: [{ ipBlock: { cidr: '10.1.0.0/16' } }] }] },
  };
  const np = find(render(mcpServer('tools', spec), cfg), 'NetworkPolicy').spec;
  assert.deepEqual(np.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(np.podSelector.matchLabels, { 'app.kubernetes.io/name': 'berth-runtime', 'app.kubernetes.io/instance': 'tools' });
  const from = np.ingress[0].from;
  assert.equal(from.length, 3, 'peers, the operator, and ingressFrom');
  assert.deepEqual(np.ingress[0].ports, [{ protocol: 'TCP', port: 8080 }]);
  assert.deepEqual(from[2], { namespaceSelector: { matchLabels: { team: 'agents' } } });
  const egress = np.egress as any[];
  assert.deepEqual(egress[0].ports, [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]);
  assert.deepEqual(egress[1].to, [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'berth-runtime', 'app.kubernetes.io/instance': 'tools' } } }]);
  assert.ok(egress.some((r) => r.ports?.[0]?.port === 6380 && r.to?.[0]?.namespaceSelector), 'Redis on the URL port, to its peers');
  assert.ok(egress.some((r) => r.ports?.[0]?.port === 8443 && r.to === undefined), 'the remote upstream port');
  assert.ok(egress.some((r) => r.to?.[0]?.ipBlock?.cidr === '10.1.0.0/16'), 'spec.networkPolicy.egressTo');
  assert.ok(!egress.some((r) => r.ports?.[0]?.port === 443), 'no registry egress without a package');
  const withPkg = find(render(mcpServer('memory', stdioSpec)), 'NetworkPolicy').spec.egress as any[];
  assert.ok(withPkg.some((r) => r.ports?.[0]?.port === 443), 'registry egress for the init container');
  const disabled = render(mcpServer('memory', stdioSpec), { networkPolicy: { enabled: false } });
  assert.equal(find(disabled, 'NetworkPolicy'), undefined);
});

test('pods spread over hostnames and zones without blocking scheduling', () => {
  const tsc = podSpecOf(render(mcpServer('memory', stdioSpec))).topologySpreadConstraints;
  assert.deepEqual(tsc.map((t: any) => [t.topologyKey, t.whenUnsatisfiable]), [
    ['kubernetes.io/hostname', 'ScheduleAnyway'],
    ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
  ]);
});

test('the config hash follows the spec and is stable', () => {
  const a = render(mcpServer('memory', stdioSpec));
  const b = render(mcpServer('memory', stdioSpec));
  assert.equal(a.configHash, b.configHash);
  assert.deepEqual(a.objects, b.objects);
  const c = render(mcpServer('memory', { ...stdioSpec, output: { maxBytes: 1024 } }));
  assert.notEqual(a.configHash, c.configHash);
  assert.equal(find(c, 'Deployment').spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH], c.configHash);
  // Changing replicas changes the Deployment, not the pods' config.
  const d = render(mcpServer('memory', { ...stdioSpec, replicas: 5 }));
  assert.equal(find(d, 'Deployment').spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH], find(a, 'Deployment').spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH]);
});

test('podTemplate: scheduling fields and metadata merge in; isolation-weakening fields are refused', () => {
  const spec = {
    ...stdioSpec,
    podTemplate: {
      metadata: { labels: { team: 'a', 'app.kubernetes.io/instance': 'hijack' }, annotations: { 'x/y': 'z' } },
      spec: { nodeSelector: { pool: 'mcp' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }], priorityClassName: 'high' },
    },
  };
  const d = render(mcpServer('memory', spec), { runtime: { podTemplate: { nodeSelector: { os: 'linux' } } } });
  const tpl = find(d, 'Deployment').spec.template;
  assert.equal(tpl.metadata.labels.team, 'a');
  assert.equal(tpl.metadata.labels['app.kubernetes.io/instance'], 'memory', 'selector labels cannot be overridden');
  assert.equal(tpl.metadata.annotations['x/y'], 'z');
  assert.deepEqual(tpl.spec.nodeSelector, { os: 'linux', pool: 'mcp' });
  assert.equal(tpl.spec.priorityClassName, 'high');

  const bad = parseSpec({ ...stdioSpec, podTemplate: { spec: { hostNetwork: true, containers: [] } } });
  assert.ok(bad.ok);
  const result = renderDesired({ mcp: mcpServer('memory', stdioSpec), spec: bad.spec, config: operatorConfig(), credentials: { internalToken: 't' } });
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.issues.some((i) => i.startsWith('spec.podTemplate.spec.hostNetwork: not allowed')));
  assert.ok(!result.ok && result.issues.some((i) => i.startsWith('spec.podTemplate.spec.containers: not allowed')));
});

test('spec.resources replaces the operator default resources', () => {
  const d = render(mcpServer('memory', { ...stdioSpec, resources: { requests: { cpu: '1' } } }));
  assert.deepEqual(containerOf(d).resources, { requests: { cpu: '1' } });
});

test('the applied hash changes only when the object changes', () => {
  const hashes = (d: DesiredState): Record<string, string> =>
    Object.fromEntries(d.objects.map((o: KubeObject) => [`${o.kind}/${o.metadata.name}`, o.metadata.annotations![ANNOTATION_APPLIED_HASH]!]));
  const a = hashes(render(mcpServer('memory', stdioSpec)));
  const b = hashes(render(mcpServer('memory', { ...stdioSpec, replicas: 4 })));
  for (const key of Object.keys(a)) {
    if (key === 'Deployment/memory') assert.notEqual(a[key], b[key]);
    else assert.equal(a[key], b[key], key);
  }
});

test('parseSpec names the bad field', () => {
  const r = parseSpec({ source: {}, auth: { none: {} } });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.issues.some((i) => i.startsWith('spec.source: exactly one of module, stdio, remote')));
});

test('references name the field that makes them', () => {
  const parsed = parseSpec(stdioSpec);
  assert.ok(parsed.ok);
  assert.deepEqual(references(parsed.spec), [
    { kind: 'Secret', name: 'memory-token', optional: false, field: 'spec.source.stdio.env[0].valueFrom.secretKeyRef' },
    { kind: 'ConfigMap', name: 'memory-settings', optional: true, field: 'spec.source.stdio.env[1].valueFrom.configMapKeyRef' },
    { kind: 'Secret', name: 'memory-keys', optional: false, field: 'spec.auth.apiKeys.secretRef' },
  ]);
});
