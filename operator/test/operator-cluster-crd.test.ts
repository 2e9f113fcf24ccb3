/**
 * The generated CRD on a real apiserver: it installs, `kubectl explain`
 * documents the fields, defaults are applied, and invalid McpServers are
 * rejected by the CEL rules and bounds with messages that name the field.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import { clusterWithCrd, dropNamespace, freshNamespace, kubectlJson, mcpManifest } from './helpers/cluster.ts';

let cluster: TestCluster;
let ns: string;

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-crd');
});

after(async () => {
  if (cluster && ns) await dropNamespace(cluster, ns);
});

const dryRun = (obj: unknown): ReturnType<TestCluster['kubectlResult']> =>
  cluster.kubectlResult(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(obj) });

test('the CRD is established with names, subresources and printer columns', async () => {
  const crd = await kubectlJson(cluster, ['get', 'crd', 'mcpservers.berth.dev']);
  assert.ok(crd.status.conditions.some((c: any) => c.type === 'Established' && c.status === 'True'));
  assert.deepEqual(crd.status.acceptedNames.shortNames, ['mcps']);
  assert.deepEqual(crd.status.acceptedNames.categories, ['berth']);
  const resources = await cluster.kubectl(['api-resources', '--api-group=berth.dev', '-o', 'wide']);
  assert.match(resources, /mcpservers\s+mcps\s+berth\.dev\/v1alpha1\s+true\s+McpServer/);
  assert.match(await cluster.kubectl(['get', 'berth', '-n', ns]), /No resources found|^$/, 'the berth category resolves');
});

test('kubectl explain documents the spec', async () => {
  const source = await cluster.kubectl(['explain', 'mcpserver.spec.source']);
  assert.match(source, /exactly one of module, stdio, remote/);
  assert.match(source, /stdio\s+<Object>/);
  const stdio = await cluster.kubectl(['explain', 'mcpserver.spec.source.stdio.package']);
  assert.match(stdio, /npm package that provides the command/);
  const replicas = await cluster.kubectl(['explain', 'mcpserver.spec.replicas']);
  assert.match(replicas, /omit to let an HPA own them/);
  const recursive = await cluster.kubectl(['explain', 'mcpserver.spec', '--recursive']);
  for (const field of ['rateLimits', 'tools', 'audit', 'session', 'drain', 'networkPolicy', 'podTemplate']) assert.match(recursive, new RegExp(`\\b${field}\\b`));
});

test('defaults from the schema are applied by the apiserver', async () => {
  const r = await dryRun(mcpManifest(ns, 'defaults', { source: { stdio: { command: ['x'] } }, auth: { none: {} } }));
  assert.equal(r.code, 0, r.stderr);
  const spec = JSON.parse(r.stdout).spec;
  assert.equal(spec.endpoint.path, '/mcp');
  assert.deepEqual(spec.source.stdio.instances, { mode: 'shared', min: 1, max: 4 });
  assert.equal(spec.drain.gracePeriodSeconds, 2);
  assert.equal(spec.tools.audit.onFinding, 'block');
  assert.equal('replicas' in spec, false, 'replicas stay unset (HPA-owned) unless given');
});

test('invalid McpServers are rejected with messages naming the field', async () => {
  const base = { source: { stdio: { command: ['x'] } }, auth: { none: {} } };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['two sources', { ...base, source: { stdio: { command: ['x'] }, remote: { url: 'https://up/mcp' } } }, /spec\.source: Invalid value: .*exactly one of module, stdio, remote must be set/],
    ['no source', { ...base, source: {} }, /spec\.source: Invalid value: .*exactly one of module, stdio, remote must be set/],
    ['two module forms', { ...base, source: { module: { package: 'a@1', path: '/m.mjs' } } }, /spec\.source\.module: Invalid value: .*exactly one of package, configMapRef, path/],
    ['no auth', { ...base, auth: {} }, /spec\.auth: Invalid value: .*exactly one of oauth, apiKeys, none/],
    ['rps and rpm', { ...base, rateLimits: { perPrincipal: { requestsPerSecond: 1, requestsPerMinute: 5 } } }, /spec\.rateLimits\.perPrincipal: Invalid value: .*exactly one of requestsPerSecond, requestsPerMinute/],
    ['tool limit without a rate', { ...base, rateLimits: { tools: { search: { burst: 2 } } } }, /spec\.rateLimits\.tools\[search\]: Invalid value/],
    ['min > max', { ...base, source: { stdio: { command: ['x'], instances: { min: 9, max: 2 } } } }, /spec\.source\.stdio\.instances\.min: Invalid value: .*min must be less than or equal to max/],
    ['replicas out of bounds', { ...base, replicas: 1001 }, /spec\.replicas: Invalid value: 1001: spec\.replicas in body should be less than or equal to 1000/],
    ['negative timeout', { ...base, timeouts: { toolCallSeconds: 0 } }, /spec\.timeouts\.toolCallSeconds: Invalid value: 0/],
    ['bad enum', { ...base, output: { sanitize: 'maybe' } }, /spec\.output\.sanitize: Unsupported value: "maybe"/],
    ['oauth without audience', { ...base, auth: { oauth: { issuer: 'https://idp/' } } }, /spec\.auth\.oauth\.audience: Required value: auth\.oauth\.audience is required when endpoint\.publicUrl is not set/],
    ['ftp upstream', { ...base, source: { remote: { url: 'ftp://up/mcp' } } }, /spec\.source\.remote\.url: Invalid value: .*url must be an http or https URL/],
    ['bad package spec', { ...base, source: { stdio: { command: ['x'], package: 'not a package!' } } }, /spec\.source\.stdio\.package: Invalid value/],
  ];
  for (const [what, spec, message] of cases) {
    const r = await dryRun(mcpManifest(ns, 'bad', spec));
    assert.notEqual(r.code, 0, `${what} was accepted`);
    assert.match(r.stderr, message, what);
  }
  const name = await dryRun(mcpManifest(ns, '9lives', base));
  assert.notEqual(name.code, 0);
  assert.match(name.stderr, /metadata\.name must be a DNS-1035 label/);
  const ok = await dryRun(mcpManifest(ns, 'good', { ...base, source: { stdio: { command: ['x'], package: '@Scope/Pkg@1.2.3' } } }));
  assert.equal(ok.code, 0, ok.stderr);
});
