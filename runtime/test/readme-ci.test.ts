/**
 * The CI definitions the docs describe: the GitHub Actions workflows parse,
 * the kind workflow runs e2e/kind/run.sh, that script is valid bash and runs
 * the suite with real pods, and the main workflow runs `npm test` with the
 * control-plane binaries cached.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { repoRoot } from './cli-helpers.ts';

type Workflow = { name: string; on: Record<string, unknown>; jobs: Record<string, { 'runs-on': string; 'timeout-minutes': number; steps: Array<{ uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }> }> };

function workflow(name: string): Workflow {
  const doc = parse(readFileSync(join(repoRoot, '.github', 'workflows', name), 'utf8'), { strict: true, uniqueKeys: true }) as Workflow;
  assert.equal(typeof doc.name, 'string', `${name} has a name`);
  assert.ok(doc.on && Object.keys(doc.on).length > 0, `${name} has triggers`);
  for (const [id, job] of Object.entries(doc.jobs)) {
    assert.ok(job['runs-on'], `${name} ${id} runs-on`);
    assert.ok(job['timeout-minutes'] > 0 && job['timeout-minutes'] <= 90, `${name} ${id} has a timeout`);
    for (const step of job.steps) {
      assert.ok(step.uses || step.run, `${name} ${id}: every step uses an action or runs a command`);
      if (step.uses) assert.match(step.uses, /^[\w.-]+\/[\w.-]+@v\d+$/, `${name} ${id}: ${step.uses} is pinned to a major version`);
    }
  }
  return doc;
}

test('the kind workflow runs e2e/kind/run.sh, which runs the suite with real pods', () => {
  const wf = workflow('e2e-kind.yml');
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
  assert.ok(steps.some((s) => s.run?.trim() === 'e2e/kind/run.sh'), 'a step runs e2e/kind/run.sh');
  assert.ok(steps.some((s) => s.uses?.startsWith('helm/kind-action@') && s.with?.install_only === true), 'kind is installed, the script creates the cluster');
  assert.ok(steps.some((s) => s.run?.includes('npm ci')), 'dependencies installed before the script');

  const script = join(repoRoot, 'e2e', 'kind', 'run.sh');
  accessSync(script, constants.X_OK);
  const syntax = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  const text = readFileSync(script, 'utf8');
  assert.match(text, /^set -euo pipefail$/m);
  for (const needed of ['kind create cluster', 'docker build', '-f runtime/Dockerfile', '-f operator/Dockerfile', 'kind load docker-image', 'export BERTH_E2E_REAL_PODS=1', 'npx node e2e/suite/run.ts']) {
    assert.ok(text.includes(needed), `run.sh: ${needed}`);
  }
  const cluster = parse(readFileSync(join(repoRoot, 'e2e', 'kind', 'cluster.yaml'), 'utf8')) as { kind: string; apiVersion: string };
  assert.deepEqual([cluster.kind, cluster.apiVersion], ['Cluster', 'kind.x-k8s.io/v1alpha4']);
});

test('the main workflow runs npm test with the system packages and cached control-plane binaries', () => {
  const wf = workflow('ci.yml');
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
  assert.ok(steps.some((s) => s.run?.trim() === 'npm test'));
  assert.ok(steps.some((s) => s.run?.includes('scripts/ensure-deps.sh')));
  const go = steps.find((s) => s.uses?.startsWith('actions/setup-go@'));
  assert.equal(go?.with?.['go-version-file'], 'e2e/tools/go.mod');
  const cache = steps.find((s) => s.uses?.startsWith('actions/cache@'));
  assert.match(String(cache?.with?.key), /e2e\/tools\/go\.sum/);
  assert.equal(cache?.with?.path, '~/.cache/berth/bin');
});
