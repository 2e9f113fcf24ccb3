import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { McpServerSpec } from '../../runtime/src/config/spec.ts';
import { customResourceDefinition, openApiSchema, undocumentedPaths, VALIDATIONS } from '../src/api/v1alpha1/crd.ts';
import { generatedFiles } from '../src/api/v1alpha1/generate.ts';
import { nodeAt, toStructural, walk } from '../src/api/v1alpha1/structural.ts';

const root = resolve(import.meta.dirname, '..', '..');

test('the committed CRD, its Helm template and the reference docs match the schema (run `npm run -w operator gen`)', () => {
  for (const [path, content] of Object.entries(generatedFiles())) {
    let committed = '';
    try {
      committed = readFileSync(join(root, path), 'utf8');
    } catch {
      assert.fail(`${path} is missing; run npm run -w operator gen`);
    }
    assert.ok(committed === content, `${path} drifted from the schema; run npm run -w operator gen`);
  }
});

test('the committed CRD parses back to the generated object', () => {
  const committed = parse(readFileSync(join(root, 'crds/mcpservers.berth.dev.yaml'), 'utf8'));
  assert.deepEqual(committed, customResourceDefinition());
});

test('names, scope, subresources and printer columns', () => {
  const crd = customResourceDefinition() as any;
  assert.equal(crd.metadata.name, 'mcpservers.berth.dev');
  assert.equal(crd.spec.group, 'berth.dev');
  assert.equal(crd.spec.scope, 'Namespaced');
  assert.deepEqual(crd.spec.names, {
    kind: 'McpServer',
    listKind: 'McpServerList',
    plural: 'mcpservers',
    singular: 'mcpserver',
    shortNames: ['mcps'],
    categories: ['berth'],
  });
  const [v] = crd.spec.versions;
  assert.equal(crd.spec.versions.length, 1);
  assert.equal(v.name, 'v1alpha1');
  assert.equal(v.served && v.storage, true);
  assert.deepEqual(v.subresources, {
    status: {},
    scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
  });
  const cols = Object.fromEntries(v.additionalPrinterColumns.map((c: any) => [c.name, c]));
  assert.equal(cols.Ready.jsonPath, '.status.conditions[?(@.type=="Ready")].status');
  assert.equal(cols.Replicas.jsonPath, '.status.replicas');
  assert.equal(cols.URL.jsonPath, '.status.url');
  assert.equal(cols.URL.priority, 1);
  assert.equal(cols.Age.type, 'date');
  assert.equal(nodeAt(openApiSchema(), 'status.selector').type, 'string');
});

test('the schema is structural: typed nodes, no refs, no unions, no additionalProperties:false', () => {
  const schema = openApiSchema();
  const text = JSON.stringify(schema);
  for (const forbidden of ['"$ref"', '"anyOf"', '"oneOf"', '"allOf"', '"not"', '"const"', '"propertyNames"', '"additionalProperties":false', '"$schema"']) {
    assert.ok(!text.includes(forbidden), `schema contains ${forbidden}`);
  }
  walk(schema, (node, path) => {
    assert.ok(node.type || node['x-kubernetes-preserve-unknown-fields'], `${path || '(root)'} has no type`);
    assert.ok(!(node.properties && node.additionalProperties), `${path}: properties with additionalProperties`);
  });
});

test('free-form objects keep unknown fields', () => {
  const schema = openApiSchema();
  for (const path of ['spec.resources', 'spec.podTemplate', 'spec.networkPolicy.ingressFrom[]', 'spec.networkPolicy.egressTo[]', 'spec.tools.overrides.*.annotations']) {
    assert.equal(nodeAt(schema, path)['x-kubernetes-preserve-unknown-fields'], true, path);
  }
});

test('descriptions, defaults and bounds come from the schema', () => {
  const schema = openApiSchema();
  assert.deepEqual(undocumentedPaths(schema), []);
  assert.match(nodeAt(schema, 'spec.source').description ?? '', /exactly one of module, stdio, remote/);
  assert.equal(nodeAt(schema, 'spec.endpoint.path').default, '/mcp');
  assert.equal(nodeAt(schema, 'spec.drain.gracePeriodSeconds').default, 2);
  const replicas = nodeAt(schema, 'spec.replicas');
  assert.deepEqual([replicas.type, replicas.minimum, replicas.maximum], ['integer', 0, 1000]);
  const rps = nodeAt(schema, 'spec.rateLimits.global.requestsPerSecond');
  assert.deepEqual([rps.minimum, rps.exclusiveMinimum], [0, true]);
  assert.deepEqual(nodeAt(schema, 'spec.source.stdio.instances.mode').enum, ['shared', 'perSession']);
  assert.ok(nodeAt(schema, 'spec.source.module.package').pattern?.startsWith('(?i)'), 'case-insensitive zod regexes keep their flag');
  assert.deepEqual(nodeAt(schema, 'spec').required, ['source', 'auth']);
  assert.equal(nodeAt(schema, 'status.conditions')['x-kubernetes-list-type'], 'map');
});

test('CEL rules are present for every cross-field check', () => {
  const schema = openApiSchema();
  const rulesAt = (path: string): string[] => (path === '' ? schema : nodeAt(schema, path))['x-kubernetes-validations']?.map((r) => r.rule) ?? [];
  assert.deepEqual(rulesAt('spec.source'), ['[has(self.module), has(self.stdio), has(self.remote)].exists_one(x, x)']);
  assert.deepEqual(rulesAt('spec.source.module'), ['[has(self.package), has(self.configMapRef), has(self.path)].exists_one(x, x)']);
  assert.deepEqual(rulesAt('spec.auth'), ['[has(self.oauth), has(self.apiKeys), has(self.none)].exists_one(x, x)']);
  assert.match(rulesAt('spec.source.stdio.instances')[0] ?? '', /self\.min <= self\.max/);
  for (const p of ['spec.rateLimits.global', 'spec.rateLimits.perPrincipal', 'spec.rateLimits.perSession', 'spec.rateLimits.tools.*']) {
    assert.deepEqual(rulesAt(p), ['has(self.requestsPerSecond) != has(self.requestsPerMinute)'], p);
  }
  assert.match(rulesAt('spec')[0] ?? '', /auth\.oauth\.audience/);
  assert.match(rulesAt('')[0] ?? '', /metadata\.name/);
  for (const rules of Object.values(VALIDATIONS)) for (const r of rules) assert.ok(r.message.length > 10);
});

test('what the CEL rules reject, the zod schema rejects too', () => {
  const base = { source: { stdio: { command: ['x'] } }, auth: { none: {} } };
  const invalid: Array<[string, unknown]> = [
    ['two sources', { ...base, source: { stdio: { command: ['x'] }, remote: { url: 'https://a/mcp' } } }],
    ['no source', { ...base, source: {} }],
    ['two module forms', { ...base, source: { module: { package: 'a@1', path: '/x.mjs' } } }],
    ['no auth mode', { ...base, auth: {} }],
    ['two auth modes', { ...base, auth: { none: {}, apiKeys: { secretRef: { name: 'k' } } } }],
    ['rps and rpm', { ...base, rateLimits: { global: { requestsPerSecond: 1, requestsPerMinute: 60 } } }],
    ['neither rps nor rpm', { ...base, rateLimits: { tools: { search: { burst: 3 } } } }],
    ['min > max', { ...base, source: { stdio: { command: ['x'], instances: { min: 5, max: 2 } } } }],
    ['oauth without audience', { ...base, auth: { oauth: { issuer: 'https://idp/' } } }],
    ['replicas out of bounds', { ...base, replicas: 5000 }],
    ['ftp upstream', { ...base, source: { remote: { url: 'ftp://a/mcp' } } }],
  ];
  for (const [what, spec] of invalid) assert.equal(McpServerSpec.safeParse(spec).success, false, what);
  assert.equal(McpServerSpec.safeParse(base).success, true);
});

test('the converter refuses what it cannot express', () => {
  assert.throws(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'number' }] }), /anyOf/);
  assert.throws(() => toStructural({ description: 'x', minimum: 1 }), /needs a type/);
  assert.deepEqual(toStructural({ type: 'object', additionalProperties: {} }), { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  assert.deepEqual(toStructural({ type: 'string', const: 'a' }), { type: 'string', enum: ['a'] });
});
