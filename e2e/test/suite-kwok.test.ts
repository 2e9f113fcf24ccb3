/**
 * The cluster-agnostic e2e suite (e2e/suite) on the local control plane with
 * kwok nodes. Pods don't run there, so the run declares it: the operator runs
 * from this checkout as a local process (as the chart's ServiceAccount, with
 * a local redis-server), and the checks that need real pods are reported as
 * not run, by name and reason. Everything else — helm install, Ready status,
 * children, metrics, scale, rollout restart, delete with garbage collection,
 * Redis cleanup, uninstall — runs for real.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureCluster } from '../src/cluster/test-cluster.ts';
import { CHECKS } from '../suite/checks.ts';
import { planExamples, readExamples } from '../suite/examples.ts';
import { SuiteConfigError, capabilities, suiteOptions } from '../suite/options.ts';
import { runSuite } from '../suite/runner.ts';

test('the suite runs every check kwok can run, and names the ones it cannot', { timeout: 540_000 }, async (t) => {
  const cluster = await ensureCluster();
  const options = suiteOptions({
    KUBECONFIG: cluster.kubeconfig,
    BERTH_E2E_OPERATOR: 'local',
    // The control plane is shared with other tests: watch one namespace, leave the CRD to crds/.
    BERTH_E2E_SCOPE: 'namespace',
    BERTH_E2E_CHART_CRDS: '0',
  });
  const lines: string[] = [];
  const report = await runSuite(options, { out: (line) => lines.push(line) });
  const output = lines.join('\n');
  t.diagnostic(`suite: ${report.passed} passed, ${report.failed} failed, ${report.notRun} not run in ${report.seconds.toFixed(0)} s`);

  assert.equal(report.failed, 0, output);
  const status = Object.fromEntries(report.results.map((r) => [r.name, r.status]));
  const needsRealPods = CHECKS.filter((c) => c.needs.includes('real-pods')).map((c) => c.name);
  assert.deepEqual(needsRealPods.sort(), ['chart-test', 'tools-after-rollout', 'tools-audited', 'tools-through-service']);
  for (const name of needsRealPods) {
    assert.equal(status[name], 'not-run', name);
    assert.match(report.results.find((r) => r.name === name)!.reason!, /BERTH_E2E_REAL_PODS=1/);
  }
  for (const c of CHECKS.filter((x) => !needsRealPods.includes(x.name))) assert.equal(status[c.name], 'passed', `${c.name}\n${output}`);
  // The report says what ran and what did not.
  assert.match(output, /^11 passed, 0 failed, 4 skipped$/m);
  for (const name of needsRealPods) assert.match(output, new RegExp(`not run: ${name} — needs`));
  assert.match(output, /real pods\s+no/);
  assert.match(output, /7 McpServers Ready/);
  // Nothing left behind.
  const left = await cluster.kubectlResult(['get', 'namespace', report.tenant, '-o', 'jsonpath={.status.phase}']);
  assert.ok(left.code !== 0 || left.stdout === 'Terminating', `tenant namespace ${report.tenant} removed`);
});

test('a failing check stops the run, dumps operator logs, events and describe output, and still cleans up', { timeout: 300_000 }, async () => {
  const cluster = await ensureCluster();
  const options = suiteOptions({ KUBECONFIG: cluster.kubeconfig, BERTH_E2E_OPERATOR: 'local', BERTH_E2E_SCOPE: 'namespace', BERTH_E2E_CHART_CRDS: '0' });
  const byName = (n: string) => CHECKS.find((c) => c.name === n)!;
  const broken = { name: 'broken', title: 'a check that fails', needs: [], run: async () => assert.fail('the example is not what it should be') };
  const lines: string[] = [];
  const report = await runSuite(options, { out: (line) => lines.push(line) }, [byName('install'), byName('operator'), broken, byName('examples-ready'), byName('uninstall')]);
  const output = lines.join('\n');
  assert.deepEqual(report.results.map((r) => `${r.name}:${r.status}`), ['install:passed', 'operator:passed', 'broken:failed', 'examples-ready:not-run', 'uninstall:not-run']);
  assert.match(report.results[2]!.reason!, /the example is not what it should be/);
  assert.match(report.results[3]!.reason!, /after the failure of broken/);
  for (const section of ['===== operator log (local process', 'Became the leader', `===== events in ${report.tenant}`, `===== kubectl describe mcpservers -n ${report.tenant}`, '===== kubectl describe pods']) {
    assert.ok(report.diagnostics.includes(section), `diagnostics have ${section}`);
  }
  assert.match(output, /^FAIL  broken/m);
  assert.match(output, /^2 passed, 1 failed, 2 skipped$/m);
  // Cleanup ran although uninstall did not: the release is gone.
  const releases = await cluster.helm(['list', '-n', report.release.namespace, '-q']).catch(() => '');
  assert.equal(releases.trim(), '');
});

test('capabilities come only from what is declared; a wrong setting is named', () => {
  const base = { KUBECONFIG: '/tmp/kubeconfig' };
  assert.deepEqual([...capabilities(suiteOptions(base))].sort(), ['operator-in-cluster']);
  assert.deepEqual([...capabilities(suiteOptions({ ...base, BERTH_E2E_REAL_PODS: '1', BERTH_E2E_PACKAGE_EGRESS: '1' }))].sort(), [
    'operator-in-cluster',
    'operator-reachable',
    'package-egress',
    'real-pods',
  ]);
  assert.throws(() => suiteOptions({}), (e: Error) => e instanceof SuiteConfigError && /KUBECONFIG/.test(e.message));
  assert.throws(() => suiteOptions({ ...base, BERTH_E2E_OPERATOR: 'remote' }), /BERTH_E2E_OPERATOR=remote: expected one of in-cluster, local/);
  assert.throws(() => suiteOptions({ ...base, BERTH_E2E_PACKAGE_EGRESS: '1' }), /needs BERTH_E2E_REAL_PODS=1/);
  assert.throws(() => suiteOptions({ ...base, BERTH_E2E_RUNTIME_IMAGE: 'no-tag' }), /BERTH_E2E_RUNTIME_IMAGE=no-tag: expected repository:tag/);
});

test('with real pods, examples are deployed only where the declared capabilities let them run', () => {
  const o = suiteOptions({ KUBECONFIG: '/tmp/kubeconfig', BERTH_E2E_REAL_PODS: '1' });
  const bare = planExamples(readExamples(o.repoRoot, 'ns'), o);
  // Only the ConfigMap module runs without registry access; the remote example uses it as its upstream.
  assert.deepEqual(bare.deploy.map((e) => e.folder), ['configmap-module', 'remote']);
  assert.equal(bare.deploy[1]!.mcp.spec.source.remote.url, 'http://texttools:8080/mcp');
  assert.deepEqual(bare.skipped.map((s) => s.folder).sort(), ['conformance', 'everything', 'hello', 'oauth', 'rate-limited']);
  assert.match(bare.skipped.find((s) => s.folder === 'everything')!.reason, /BERTH_E2E_PACKAGE_EGRESS=1/);
  assert.match(bare.skipped.find((s) => s.folder === 'hello')!.reason, /BERTH_E2E_IMAGE_EXAMPLES/);

  const full = suiteOptions({ KUBECONFIG: '/tmp/kubeconfig', BERTH_E2E_REAL_PODS: '1', BERTH_E2E_PACKAGE_EGRESS: '1', BERTH_E2E_IMAGE_EXAMPLES: '/app/examples' });
  const plan = planExamples(readExamples(full.repoRoot, 'ns'), full);
  assert.deepEqual(plan.skipped, []);
  const byFolder = Object.fromEntries(plan.deploy.map((e) => [e.folder, e]));
  assert.equal(byFolder.hello!.mcp.spec.source.module.path, '/app/examples/hello/server.ts');
  assert.equal(byFolder.remote!.mcp.spec.source.remote.url, 'http://everything:8080/mcp');
  assert.deepEqual(byFolder.everything!.mcp.spec.networkPolicy.ingressFrom[0].podSelector.matchLabels['app.kubernetes.io/instance'], 'remote');

  const kwok = suiteOptions({ KUBECONFIG: '/tmp/kubeconfig' });
  assert.equal(planExamples(readExamples(kwok.repoRoot, 'ns'), kwok).deploy.length, 7, 'without real pods every example is deployed');
});
