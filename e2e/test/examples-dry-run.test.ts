/**
 * Every manifest under examples/ is accepted by a real API server with the
 * McpServer CRD installed (`kubectl apply --dry-run=server`): the schema, the
 * CEL rules and Pod Security admission of the namespace all see it, nothing
 * is stored. A manifest that breaks a rule is refused the same way, so the
 * check can fail.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ensureCluster, freshNamespace, waitFor, type TestCluster } from '../src/cluster/test-cluster.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const examplesDir = join(repoRoot, 'examples');

let cluster: TestCluster;
let ns: string;

before(async () => {
  cluster = await ensureCluster();
  const crd = readFileSync(join(repoRoot, 'crds', 'mcpservers.berth.dev.yaml'), 'utf8');
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=berth-tests', '-f', '-'], { input: crd });
  await cluster.kubectl(['wait', '--for=condition=Established', 'crd/mcpservers.berth.dev', '--timeout=60s']);
  await waitFor('the mcpservers resource in discovery', async () => (await cluster.kubectlResult(['get', 'mcps', '-A'])).code === 0);
  ns = await freshNamespace('examples', { podSecurity: 'restricted' });
});

after(async () => {
  if (ns) await cluster.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
});

/** Every document of every examples/<name>/mcpserver.yaml, moved into `namespace`. */
function exampleDocuments(namespace: string): Array<{ example: string; docs: Array<Record<string, any>> }> {
  const out: Array<{ example: string; docs: Array<Record<string, any>> }> = [];
  for (const example of readdirSync(examplesDir).sort()) {
    const file = join(examplesDir, example, 'mcpserver.yaml');
    if (!statSync(join(examplesDir, example)).isDirectory()) continue;
    const docs = parseAllDocuments(readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as Record<string, any> | null)
      .filter((d): d is Record<string, any> => d !== null)
      .map((d) => ({ ...d, metadata: { ...d.metadata, namespace } }));
    out.push({ example, docs });
  }
  return out;
}

const toInput = (docs: ReadonlyArray<Record<string, any>>): string => docs.map((d) => JSON.stringify(d)).join('\n---\n');

test('every example passes kubectl apply --dry-run=server', async () => {
  const examples = exampleDocuments(ns);
  assert.ok(examples.length >= 6, `found ${examples.map((e) => e.example).join(', ')}`);
  for (const { example, docs } of examples) {
    assert.equal(docs.filter((d) => d.kind === 'McpServer').length, 1, `examples/${example} holds one McpServer`);
    const r = await cluster.kubectlResult(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], { input: toInput(docs) });
    assert.equal(r.code, 0, `examples/${example}: ${r.stderr}`);
    const applied = r.stdout.trim().split('\n');
    for (const d of docs) {
      const expected = `${d.kind === 'McpServer' ? 'mcpserver.berth.dev' : d.kind.toLowerCase()}/${d.metadata.name}`;
      assert.ok(applied.includes(expected), `examples/${example}: ${expected} in ${applied.join(', ')}`);
    }
  }
  // Dry run: nothing was stored.
  assert.equal((await cluster.kubectl(['-n', ns, 'get', 'mcps', '-o', 'name'])).trim(), '');
});

test('a manifest that breaks a rule is refused by the same dry run, naming the field', async () => {
  const everything = exampleDocuments(ns).find((e) => e.example === 'everything')!;
  const mcp = structuredClone(everything.docs.find((d) => d.kind === 'McpServer')!);
  mcp.spec.source.remote = { url: 'https://tools.example.com/mcp' };
  const twoSources = await cluster.kubectlResult(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(mcp) });
  assert.notEqual(twoSources.code, 0);
  assert.match(twoSources.stderr, /spec\.source/);
  const badReplicas = structuredClone(everything.docs.find((d) => d.kind === 'McpServer')!);
  badReplicas.spec.replicas = -1;
  const negative = await cluster.kubectlResult(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(badReplicas) });
  assert.notEqual(negative.code, 0);
  assert.match(negative.stderr, /spec\.replicas/);
});
