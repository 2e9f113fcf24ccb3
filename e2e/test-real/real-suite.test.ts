/**
 * The cluster-agnostic e2e suite (e2e/suite, the same code e2e/kind/run.sh
 * runs) on the real node, with real pods: the operator runs from the chart's
 * Deployment with its bundled Redis, `helm test` runs, the runtime's audit
 * fills `status.tools`, and tools are called through the Services. Every
 * check must pass; on a failure the whole run is printed in the test's
 * output, with the suite's dumps (operator logs, events, describe, runtime
 * logs).
 *
 * The suite installs a release of its own, the way a platform team does. Two
 * operators watching the same namespace would fight over its McpServers, so
 * the shared release the other real-node tests use is uninstalled first
 * (after its finalizers have run); a later test reinstalls it
 * (ensureBerthChart). The CRD outlives both: the suite applies it from
 * crds/ (BERTH_E2E_CHART_CRDS=0) and watches only its tenant namespace.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { waitFor } from '../src/cluster/test-cluster.ts';
import { TAGS } from '../src/real/images.ts';
import { ensureRealCluster, type RealCluster, RELEASE, RELEASE_NAMESPACE } from '../src/real/test-real.ts';
import { CHECKS } from '../suite/checks.ts';
import { suiteOptions } from '../suite/options.ts';
import { runSuite } from '../suite/runner.ts';

let cluster: RealCluster;

/** McpServers being deleted anywhere (their operator must finalize them before it goes). */
async function finalizing(c: RealCluster): Promise<string[]> {
  const out = await c.kubectl(['get', 'mcpservers.berth.dev', '-A', '-o', 'jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}']);
  return out.split('\n').filter(Boolean);
}

before(async () => {
  cluster = await ensureRealCluster();
  const shared = await cluster.helm(['list', '-n', RELEASE_NAMESPACE, '-q', '--filter', `^${RELEASE}$`]);
  if (shared.trim() === RELEASE) {
    await waitFor('McpServers of earlier tests finalized by the shared operator', async () => (await finalizing(cluster)).length === 0, { timeoutMs: 120_000 });
    await cluster.helm(['uninstall', RELEASE, '-n', RELEASE_NAMESPACE, '--wait', '--timeout', '120s'], { timeoutMs: 150_000 });
  }
});

test('the e2e suite passes every check on the real node, real-pod checks included', { timeout: 600_000 }, async (t) => {
  const options = suiteOptions({
    KUBECONFIG: cluster.kubeconfig,
    BERTH_E2E_REAL_PODS: '1',
    BERTH_E2E_OPERATOR: 'in-cluster',
    // The CRD is shared with the other tests' release: the suite leaves it to crds/ and watches its tenant only.
    BERTH_E2E_SCOPE: 'namespace',
    BERTH_E2E_CHART_CRDS: '0',
    BERTH_E2E_OPERATOR_IMAGE: TAGS.operator,
    BERTH_E2E_RUNTIME_IMAGE: TAGS.runtime,
    BERTH_E2E_REDIS_IMAGE: TAGS.redis,
    BERTH_E2E_PULL_POLICY: 'Never',
    BERTH_E2E_TIMEOUT_S: '120',
  });
  const lines: string[] = [];
  const report = await runSuite(options, { out: (line) => lines.push(line) });
  const output = lines.join('\n');
  const summary = `suite: ${report.passed} passed, ${report.failed} failed, ${report.notRun} not run in ${report.seconds.toFixed(0)} s`;
  t.diagnostic(summary);
  for (const r of report.results) t.diagnostic(`${r.status.padEnd(7)} ${r.name.padEnd(22)} ${(r.ms / 1000).toFixed(1)} s`);
  try {
    const failed = report.results.find((r) => r.status === 'failed');
    assert.ok(!failed, `${failed?.name} failed: ${failed?.reason}`);
    const status = Object.fromEntries(report.results.map((r) => [r.name, r.status]));
    // Only the check that inspects a local operator's Redis does not apply to the chart's operator.
    const expected = Object.fromEntries(CHECKS.map((c) => [c.name, c.name === 'tenant-redis-cleanup' ? 'not-run' : 'passed']));
    assert.deepEqual(status, expected);
    assert.match(output, /real pods\s+yes/);
    assert.match(output, /2 McpServers Ready/, 'the ConfigMap module and the remote example in front of it');
    assert.match(output, /^14 passed, 0 failed, 1 skipped$/m);
  } catch (err) {
    // The whole run, the suite's dumps included (operator logs, events, describe, runtime logs).
    process.stdout.write(`${output.split('\n').map((l) => `# ${l}`).join('\n')}\n`);
    throw err;
  }
  // Nothing left behind: the release and both namespaces go.
  assert.equal((await cluster.helm(['list', '-n', report.release.namespace, '-q'])).trim(), '');
  const left = await cluster.kubectlResult(['get', 'namespace', report.tenant, '-o', 'jsonpath={.status.phase}']);
  assert.ok(left.code !== 0 || left.stdout === 'Terminating', `tenant namespace ${report.tenant} removed`);
});
