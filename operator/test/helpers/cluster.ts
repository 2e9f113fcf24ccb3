/**
 * Integration rig: the local control plane (e2e/src/cluster), the CRD, a real
 * redis-server with an admin password, and operators run in this process (or
 * as child processes) against a fresh namespace each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { ensureCluster, freshNamespace, waitFor, type TestCluster } from '../../../e2e/src/cluster/test-cluster.ts';
import { operatorConfig, type OperatorConfigInput } from '../../src/config.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { startOperator, type OperatorHandle, type StartOptions } from '../../src/main.ts';
import { freePort } from '../../../runtime/test/helpers/free-port.ts';

/** Ports for child servers: see free-port.ts for why they come from below the ephemeral range. */
export { freePort };

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
export { freshNamespace, waitFor };

let crdReady: Promise<TestCluster> | undefined;

/** The cluster with the McpServer CRD applied (server-side, idempotent) and established. */
export function clusterWithCrd(): Promise<TestCluster> {
  crdReady ??= (async () => {
    const cluster = await ensureCluster();
    const crd = readFileSync(join(repoRoot, 'crds/mcpservers.berth.dev.yaml'), 'utf8');
    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=berth-tests', '-f', '-'], { input: crd });
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/mcpservers.berth.dev', '--timeout=60s']);
    // Discovery can lag behind Established for a moment.
    await waitFor('the mcpservers resource in discovery', async () => (await cluster.kubectlResult(['get', 'mcps', '-A'])).code === 0);
    return cluster;
  })();
  return crdReady;
}

/** A client for the test cluster. */
export function kubeClient(cluster: TestCluster): KubeClient {
  const kc: KubeConfig = cluster.kubeConfig();
  return new KubeClient(kc);
}

export interface RedisServer {
  port: number;
  adminUrl: string;
  admin: Redis;
  stop(): Promise<void>;
  /** Kills the server (data and ACL users are lost: no persistence). */
  down(): Promise<void>;
  /** Starts it again on the same port (after `down`, or kills it first). */
  restart(): Promise<void>;
}

/** A real redis-server with a `default` user password, on a free loopback port. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-op-redis-'));
  const port = await freePort();
  const password = 'admin-secret';
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', password], {
      stdio: 'ignore',
    });
    const probe = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch {
        await sleep(50);
      }
    }
    probe.disconnect();
  };
  await launch();
  const admin = new Redis({ port, host: '127.0.0.1', password, maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  const kill = async (): Promise<void> => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    adminUrl: `redis://default:${password}@127.0.0.1:${port}/0`,
    admin,
    down: kill,
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      admin.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A logger that only prints problems (set BERTH_TEST_LOG=info to see everything). */
export function testLogger(name: string): Logger {
  return pino({ name, level: process.env.BERTH_TEST_LOG ?? 'warn' });
}

export interface TestOperator extends OperatorHandle {
  client: KubeClient;
}

/** An operator in this process, scoped to `namespace` (its Lease lives there too). */
export async function runOperator(cluster: TestCluster, namespace: string, config: OperatorConfigInput = {}, opts: StartOptions = {}): Promise<TestOperator> {
  const client = kubeClient(cluster);
  const cfg = operatorConfig({
    namespace,
    runtime: { image: 'berth-runtime:test', imagePullPolicy: 'Never' },
    leaderElection: { namespace, leaseName: 'berth-operator', ...config.leaderElection },
    http: { host: '127.0.0.1', port: 0 },
    audit: { enabled: false },
    ...config,
  });
  const handle = await startOperator(cfg, { client, log: testLogger('operator'), defaultMetrics: false, ...opts });
  return { ...handle, client };
}

/** Runs kubectl and parses its JSON output. */
export async function kubectlJson<T = any>(cluster: TestCluster, args: readonly string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json'])) as T;
}

/** Applies objects (JSON is YAML) with kubectl. */
export async function kubectlApply(cluster: TestCluster, objects: unknown[] | unknown, extra: readonly string[] = []): Promise<string> {
  const list = Array.isArray(objects) ? objects : [objects];
  return cluster.kubectl(['apply', ...extra, '-f', '-'], { input: list.map((o) => JSON.stringify(o)).join('\n---\n') });
}

/** Waits until the McpServer has condition `type` = `status`; returns the McpServer. */
export async function waitForCondition(cluster: TestCluster, namespace: string, name: string, type: string, status = 'True', timeoutMs = 60_000): Promise<any> {
  return waitFor(
    `McpServer ${namespace}/${name} ${type}=${status}`,
    async () => {
      const mcp = await kubectlJson(cluster, ['-n', namespace, 'get', 'mcps', name]);
      const cond = mcp.status?.conditions?.find((c: { type: string }) => c.type === type);
      return cond?.status === status && mcp.status.observedGeneration === mcp.metadata.generation ? mcp : undefined;
    },
    { timeoutMs, namespace, intervalMs: 200 },
  );
}

/** An McpServer manifest. */
export function mcpManifest(namespace: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'berth.dev/v1alpha1', kind: 'McpServer', metadata: { name, namespace, ...metadata }, spec };
}

/** Deletes a namespace without waiting (cleanup at the end of a test file), finalizers removed first. */
export async function dropNamespace(cluster: TestCluster, namespace: string): Promise<void> {
  // No operator will process the cleanup finalizer any more: drop it, or the namespace never goes.
  const names = (await cluster.kubectlResult(['-n', namespace, 'get', 'mcps', '-o', 'name'])).stdout.split('\n').filter(Boolean);
  for (const n of names) await cluster.kubectlResult(['-n', namespace, 'patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  await cluster.kubectlResult(['delete', 'namespace', namespace, '--wait=false']);
}

export const operatorMain = join(repoRoot, 'operator', 'src', 'main.ts');
export const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node');
