/**
 * Leader election between real operator processes: only the leader
 * reconciles; killing it hands over within the lease duration; a graceful
 * stop releases the lease so a standby takes over at once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import {
  clusterWithCrd,
  dropNamespace,
  freshNamespace,
  kubectlApply,
  kubectlJson,
  mcpManifest,
  nodeBin,
  operatorMain,
  repoRoot,
  waitFor,
  waitForCondition,
} from './helpers/cluster.ts';
import { moduleSpec } from './helpers/fixtures.ts';

interface Proc {
  name: string;
  child: ChildProcess;
  lines: Array<{ msg: string; time: number; [k: string]: unknown }>;
  port: Promise<number>;
}

let cluster: TestCluster;
let ns: string;
const procs: Proc[] = [];

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-leader');
});

after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  if (cluster && ns) await dropNamespace(cluster, ns);
});

function startProcess(name: string): Proc {
  const child = spawn(nodeBin, [operatorMain, '--namespace', ns, '--lease-namespace', ns, '--port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: cluster.kubeconfig, POD_NAME: name, BERTH_RUNTIME_IMAGE: 'berth-runtime:test', BERTH_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Proc['lines'] = [];
  let resolvePort!: (p: number) => void;
  const port = new Promise<number>((r) => (resolvePort = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const entry = JSON.parse(line);
      lines.push(entry);
      if (entry.msg === 'Started the operator') resolvePort(entry.port);
    } catch {
      // not a log line
    }
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
  const p = { name, child, lines, port };
  procs.push(p);
  return p;
}

const logged = (p: Proc, msg: string): { time: number } | undefined => p.lines.find((l) => l.msg === msg);

async function metric(p: Proc, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${await p.port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith(`${name}_`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function holder(): Promise<string> {
  const lease = await kubectlJson(cluster, ['-n', ns, 'get', 'lease', 'berth-operator']);
  return lease.spec.holderIdentity ?? '';
}

test('only the leader reconciles; the standby keeps warm caches', async () => {
  const a = startProcess('op-a');
  await waitFor('op-a leads', async () => logged(a, 'Became the leader'), { namespace: ns, timeoutMs: 30_000 });
  const b = startProcess('op-b');
  await waitFor('op-b synced', async () => (await fetch(`http://127.0.0.1:${await b.port}/readyz`)).status === 200, { timeoutMs: 30_000 });
  assert.equal(await holder(), 'op-a');
  await kubectlApply(cluster, [mcpManifest(ns, 'one', moduleSpec), mcpManifest(ns, 'two', { ...moduleSpec, replicas: 2 })]);
  await waitForCondition(cluster, ns, 'one', 'Ready');
  await waitForCondition(cluster, ns, 'two', 'Ready');
  assert.ok((await metric(a, 'berth_operator_reconcile_total')) > 0);
  assert.equal(await metric(b, 'berth_operator_reconcile_total'), 0, 'the standby did not reconcile');
  assert.equal(await metric(a, 'berth_operator_leader'), 1);
  assert.equal(await metric(b, 'berth_operator_leader'), 0);
  const text = await (await fetch(`http://127.0.0.1:${await a.port}/metrics`)).text();
  assert.match(text, /berth_operator_mcpservers\{ready="True"\} 2/);
  assert.match(text, /berth_operator_reconcile_duration_seconds_bucket/);
  assert.match(text, /berth_operator_workqueue_depth \d/);
  assert.equal(logged(b, 'Became the leader'), undefined);
});

test('killing the leader hands over within the lease duration', async () => {
  const [a, b] = procs as [Proc, Proc];
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  const took = await waitFor('op-b leads', async () => {
    const l = logged(b, 'Became the leader');
    return l ? l.time - killedAt : undefined;
  }, { namespace: ns, timeoutMs: 30_000 });
  process.stdout.write(`# takeover after SIGKILL: ${(took / 1000).toFixed(1)} s (lease 15 s, retry 2 s)\n`);
  assert.ok(took <= 15_000 + 2_400 + 1_500, `took ${took} ms`);
  assert.equal(await holder(), 'op-b');
  const lease = await kubectlJson(cluster, ['-n', ns, 'get', 'lease', 'berth-operator']);
  assert.equal(lease.spec.leaseTransitions, 1);
  // The new leader reconciles.
  await cluster.kubectl(['-n', ns, 'patch', 'mcps', 'one', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
  const mcp = await waitForCondition(cluster, ns, 'one', 'Ready');
  assert.equal(mcp.status.observedGeneration, 2);
  assert.equal(mcp.status.replicas, 3);
  assert.ok((await metric(b, 'berth_operator_reconcile_total')) > 0);
});

test('a graceful stop releases the lease: the standby takes over at once', async () => {
  const b = procs[1]!;
  const c = startProcess('op-c');
  await waitFor('op-c synced', async () => (await fetch(`http://127.0.0.1:${await c.port}/readyz`)).status === 200, { timeoutMs: 30_000 });
  const stoppedAt = Date.now();
  const exited = new Promise<number | null>((r) => b.child.once('exit', (code) => r(code)));
  b.child.kill('SIGTERM');
  assert.equal(await exited, 0, 'clean exit');
  assert.ok(logged(b, 'Released the leader lease'));
  const took = await waitFor('op-c leads', async () => {
    const l = logged(c, 'Became the leader');
    return l ? l.time - stoppedAt : undefined;
  }, { namespace: ns, timeoutMs: 30_000 });
  process.stdout.write(`# takeover after SIGTERM: ${(took / 1000).toFixed(1)} s\n`);
  assert.ok(took < 5_000, `took ${took} ms`);
  assert.equal(await holder(), 'op-c');
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
});
