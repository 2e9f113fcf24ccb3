// `node bench/src/operator-scale.ts [--counts 100,1000]`: the operator at
// scale on the simulated (kwok) control plane. For each count: apply N
// McpServers at once, time until every one reports Ready, and read the
// operator's own metrics for reconciles/s, API requests per reconcile,
// writes in a steady window afterwards, and its RSS. Writes
// bench/results/operator-scale.{json,md}.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCluster, freshNamespace } from '../../e2e/src/cluster/test-cluster.ts';
import { kwokNode } from '../../e2e/src/cluster/control-plane.ts';
import { machineFacts } from './machine.ts';
import { freePort, rssBytes } from './proc.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const args = process.argv.slice(2);
const countsArg = args[args.indexOf('--counts') + 1];
const counts = args.includes('--counts') && countsArg ? countsArg.split(',').map(Number) : [100, 1000];
const steadySeconds = Number(args[args.indexOf('--steady') + 1]) || 30;

function progress(text: string): void {
  process.stdout.write(`[operator-scale] ${text}\n`);
}

/** Sums a counter family (optionally filtered by a label matcher) from Prometheus text. */
function metricSum(text: string, name: string, labelFilter?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !labelFilter.test(rest)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function manifests(namespace: string, n: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(
      JSON.stringify({
        apiVersion: 'berth.dev/v1alpha1',
        kind: 'McpServer',
        metadata: { name: `s${i}`, namespace },
        spec: { source: { module: { configMapRef: { name: 'bench-code', key: 'server.mjs' } } }, replicas: 1, auth: { none: {} } },
      }),
    );
  }
  return docs.join('\n---\n');
}

interface ScaleResult {
  count: number;
  applySeconds: number;
  readySeconds: number;
  reconciles: number;
  reconcilesPerSecond: number;
  apiRequests: number;
  apiRequestsPerReconcile: number;
  writes: number;
  /** Seconds after all-Ready until no write for 10 s. */
  settleSeconds: number;
  steadyWindowSeconds: number;
  steadyReconciles: number;
  steadyWrites: number;
  operatorRssMB: number;
}

const cluster = await ensureCluster();
await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds', 'mcpservers.berth.dev.yaml')]);
await cluster.kubectl(['wait', '--for=condition=Established', 'crd/mcpservers.berth.dev', '--timeout=60s']);

// The test cluster has 3 kwok nodes of 110 pods: without more, a large
// count is bound by node capacity rather than by the operator. Extra nodes
// are added for the run and removed at the end.
const PODS_PER_NODE = 110;
const extraNodes: string[] = [];
async function ensurePodCapacity(pods: number): Promise<void> {
  const nodes = JSON.parse(await cluster.kubectl(['get', 'nodes', '-o', 'json'])) as { items: unknown[] };
  const used = JSON.parse(await cluster.kubectl(['get', 'pods', '-A', '-o', 'json'], { timeoutMs: 120_000 })) as { items: unknown[] };
  const need = Math.ceil((pods + used.items.length) / PODS_PER_NODE) + 1 - nodes.items.length;
  for (let i = 0; i < need; i++) {
    const name = `kwok-bench-${extraNodes.length}`;
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(kwokNode(name, 'zone-bench')) });
    extraNodes.push(name);
  }
  if (need <= 0) return;
  progress(`added ${need} kwok nodes for ${pods} pods; waiting for them to be Ready`);
  await cluster.kubectl(['wait', '--for=condition=Ready', ...extraNodes.map((n) => `node/${n}`), '--timeout=120s'], { timeoutMs: 150_000 });
}

const results: ScaleResult[] = [];
await ensurePodCapacity(Math.max(...counts));
try {
  for (const count of counts) {
    const namespace = await freshNamespace(`scale-${count}`);
    await cluster.kubectl(['-n', namespace, 'create', 'configmap', 'bench-code', '--from-literal=server.mjs=export default () => null;']);
    const port = await freePort();
    const operator = spawn(process.execPath, [join(repo, 'operator', 'src', 'main.ts'), '--no-leader-elect', '--namespace', namespace, '--port', String(port)], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig, BERTH_LOG_LEVEL: 'warn', BERTH_RUNTIME_IMAGE: 'localhost/berth-runtime:bench' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    operator.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    try {
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
        } catch {
          // not listening yet
        }
        if (operator.exitCode !== null || i > 600) throw new Error(`operator did not become ready:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const m0 = await metrics();
      progress(`${count}: applying`);
      const t0 = performance.now();
      await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: manifests(namespace, count), timeoutMs: 600_000 });
      const applied = performance.now();
      progress(`${count}: applied in ${((applied - t0) / 1000).toFixed(1)} s; waiting for Ready`);
      for (;;) {
        const list = JSON.parse(await cluster.kubectl(['-n', namespace, 'get', 'mcps', '-o', 'json'], { timeoutMs: 120_000 })) as {
          items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
        };
        const ready = list.items.filter((it) => it.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
        if (ready === count) break;
        if (performance.now() - t0 > 1_200_000) throw new Error(`only ${ready}/${count} Ready after 20 minutes`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const readyAt = performance.now();
      const m1 = await metrics();
      const reconciles = metricSum(m1, 'berth_operator_reconcile_total') - metricSum(m0, 'berth_operator_reconcile_total');
      const apiRequests = metricSum(m1, 'berth_operator_kube_requests_total') - metricSum(m0, 'berth_operator_kube_requests_total');
      const writes = metricSum(m1, 'berth_operator_kube_writes_total') - metricSum(m0, 'berth_operator_kube_writes_total');
      progress(`${count}: all Ready in ${((readyAt - t0) / 1000).toFixed(1)} s; settling`);
      // Ready is reported before the last Deployments' status settles; the
      // steady window starts once no write has happened for 10 s (at most 3 min).
      let lastWrites = metricSum(m1, 'berth_operator_kube_writes_total');
      let quietSince = performance.now();
      while (performance.now() - quietSince < 10_000 && performance.now() - readyAt < 180_000) {
        await new Promise((r) => setTimeout(r, 1000));
        const w = metricSum(await metrics(), 'berth_operator_kube_writes_total');
        if (w !== lastWrites) (lastWrites = w), (quietSince = performance.now());
      }
      const settleSeconds = Number(((performance.now() - readyAt) / 1000).toFixed(1));
      progress(`${count}: settled after ${settleSeconds} s; steady window ${steadySeconds} s`);
      const mSteady = await metrics();
      await new Promise((r) => setTimeout(r, steadySeconds * 1000));
      const m2 = await metrics();
      const result: ScaleResult = {
        count,
        applySeconds: Number(((applied - t0) / 1000).toFixed(1)),
        readySeconds: Number(((readyAt - t0) / 1000).toFixed(1)),
        reconciles,
        reconcilesPerSecond: Number((reconciles / ((readyAt - t0) / 1000)).toFixed(1)),
        apiRequests,
        apiRequestsPerReconcile: Number((apiRequests / Math.max(1, reconciles)).toFixed(2)),
        writes,
        settleSeconds,
        steadyWindowSeconds: steadySeconds,
        steadyReconciles: metricSum(m2, 'berth_operator_reconcile_total') - metricSum(mSteady, 'berth_operator_reconcile_total'),
        steadyWrites: metricSum(m2, 'berth_operator_kube_writes_total') - metricSum(mSteady, 'berth_operator_kube_writes_total'),
        operatorRssMB: Math.round(rssBytes(operator.pid!) / 2 ** 20),
      };
      results.push(result);
      progress(JSON.stringify(result));
    } finally {
      operator.kill('SIGTERM');
      await cluster.kubectlResult(['delete', 'namespace', namespace, '--wait=false']);
    }
  }

} finally {
  if (extraNodes.length) await cluster.kubectlResult(['delete', 'node', ...extraNodes, '--wait=false']);
}

const outDir = join(here, '..', 'results');
mkdirSync(outDir, { recursive: true });
const report = { generatedAt: new Date().toISOString(), machine: machineFacts(), loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), results };
writeFileSync(join(outDir, 'operator-scale.json'), JSON.stringify(report, null, 2) + '\n');
const md = [
  '# The operator at scale (simulated cluster)',
  '',
  `${report.generatedAt} · ${report.machine.cpuModel} · ${report.machine.cores} cores · Node ${report.machine.node} · control plane, kwok and operator on the same machine.`,
  'Each count: N McpServers applied at once into a fresh namespace watched by one operator process (leader election off); "Ready" is every McpServer\'s Ready condition True (pods Ready on kwok nodes). Kwok nodes are added first so node capacity does not bound the run. "Settle" is the time after all-Ready until no write for 10 s; the steady window follows it.',
  '',
  '| McpServers | apply s | all Ready s | reconciles | reconciles/s | API requests/reconcile | writes | settle s | steady window s | steady reconciles | steady writes | operator RSS MB |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.count} | ${r.applySeconds} | ${r.readySeconds} | ${r.reconciles} | ${r.reconcilesPerSecond} | ${r.apiRequestsPerReconcile} | ${r.writes} | ${r.settleSeconds} | ${r.steadyWindowSeconds} | ${r.steadyReconciles} | ${r.steadyWrites} | ${r.operatorRssMB} |`,
  ),
  '',
].join('\n');
writeFileSync(join(outDir, 'operator-scale.md'), md);
progress(`wrote ${join(outDir, 'operator-scale.md')}`);
process.exit(0);
