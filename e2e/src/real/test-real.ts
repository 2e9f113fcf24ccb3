/**
 * Helpers for tests on the real node (e2e/test-real): the cluster, the Berth
 * chart installed with the locally built images, and addresses of Services
 * reachable from this host (ClusterIPs through kube-proxy's rules).
 */
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { e2eDir } from '../cluster/config.ts';
import { ClusterError } from '../cluster/errors.ts';
import { ensureCluster, type TestCluster, waitFor } from '../cluster/test-cluster.ts';
import { prepareRealEnv } from './cli-hook.ts';
import { NODE_NAME } from './config.ts';
import { TAGS } from './images.ts';
import { readRealState, type RealState, realRunning } from './node.ts';

/** The cluster dir of the real-node tests (git-ignored). */
export function realClusterDir(): string {
  return join(e2eDir, '.cluster-real');
}

export interface RealCluster extends TestCluster {
  real: RealState;
}

/** The running control plane with its real node (started by the global setup or `up --real`). */
export async function ensureRealCluster(): Promise<RealCluster> {
  process.env.BERTH_CLUSTER_DIR ??= realClusterDir();
  prepareRealEnv();
  const cluster = await ensureCluster();
  if (!realRunning(cluster.dir)) {
    throw new ClusterError('E2E_COMPONENT_UNHEALTHY', `no real node runs for ${cluster.dir}; run these tests with \`npm run test:real -w e2e\` or start it with \`npm run cluster -- up --real\``, { component: 'real node' });
  }
  return { ...cluster, real: readRealState(cluster.dir) as RealState };
}

export const RELEASE = 'berth';
export const RELEASE_NAMESPACE = 'berth-system';

/** Seconds of the runtime pods' preStop sleep (endpoint removal must land before the drain starts). */
export const PRE_STOP_SECONDS = 5;

/** Helm values that point the chart at the locally built images and its bundled Redis. */
export function chartValues(): string[] {
  const [opRepo, opTag] = TAGS.operator.split(/:(?=[^:]+$)/);
  const [rtRepo, rtTag] = TAGS.runtime.split(/:(?=[^:]+$)/);
  return [
    `image.repository=${opRepo}`,
    `image.tag=${opTag}`,
    'image.pullPolicy=Never',
    `runtime.image.repository=${rtRepo}`,
    `runtime.image.tag=${rtTag}`,
    'runtime.image.pullPolicy=Never',
    `runtime.preStopSleepSeconds=${PRE_STOP_SECONDS}`,
    'redis.bundled.enabled=true',
    `redis.bundled.image=${TAGS.redis}`,
    'replicaCount=1',
  ].flatMap((v) => ['--set', v]);
}

/**
 * Installs the chart from charts/berth (once per cluster; later callers reuse
 * the release) and waits for the operator and Redis to be Ready.
 */
export async function ensureBerthChart(cluster: TestCluster): Promise<{ installSeconds: number; reused: boolean }> {
  const status = await cluster.kubectlResult(['-n', RELEASE_NAMESPACE, 'get', 'deploy', 'berth-operator', '-o', 'name']);
  if (status.code === 0) {
    await cluster.kubectl(['-n', RELEASE_NAMESPACE, 'rollout', 'status', 'deploy', '--timeout=180s']);
    return { installSeconds: 0, reused: true };
  }
  const started = Date.now();
  const adopt = await adoptCrdFlags(cluster);
  await cluster.helm(['install', RELEASE, join(e2eDir, '..', 'charts', 'berth'), '-n', RELEASE_NAMESPACE, '--create-namespace', ...chartValues(), ...adopt, '--wait', '--timeout', '4m'], { timeoutMs: 300_000 });
  return { installSeconds: (Date.now() - started) / 1000, reused: false };
}

/**
 * Flags that let `helm install` take over an McpServer CRD that exists
 * already: the e2e suite applies it from crds/ (it shares this cluster), and
 * a release uninstalled with `crds.keep` leaves one behind.
 */
async function adoptCrdFlags(cluster: TestCluster): Promise<string[]> {
  const exists = (await cluster.kubectlResult(['get', 'crd', 'mcpservers.berth.dev', '-o', 'name'])).code === 0;
  return exists ? ['--take-ownership', '--force-conflicts'] : [];
}

/**
 * `http://<ClusterIP>:<port><path>` of a Service: reachable from this host
 * through kube-proxy's rules. Waits until a connection succeeds (kube-proxy
 * programs a Service's rules a moment after its endpoints turn ready).
 */
export async function serviceUrl(cluster: TestCluster, namespace: string, name: string, path = '/mcp'): Promise<string> {
  const out = await cluster.kubectl(['-n', namespace, 'get', 'service', name, '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].port}']);
  const [ip, port] = out.trim().split(' ');
  await waitFor(`a connection to ${namespace}/${name} at ${ip}:${port}`, () => canConnect(ip ?? '', Number(port)), { namespace, timeoutMs: 60_000 });
  return `http://${ip}:${port}${path}`;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolvePromise(false);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** The ready addresses in a Service's EndpointSlices. */
export async function readyEndpoints(cluster: TestCluster, namespace: string, service: string): Promise<string[]> {
  const out = await cluster.kubectl([
    '-n', namespace, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`,
    '-o', 'jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean).sort();
}

export interface PodInfo {
  name: string;
  ip: string;
  ready: boolean;
  phase: string;
  deleting: boolean;
}

/** Pods of an McpServer (label app.kubernetes.io/instance=<name>). */
export async function mcpPods(cluster: TestCluster, namespace: string, selector: string): Promise<PodInfo[]> {
  const json = JSON.parse(await cluster.kubectl(['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json'])) as {
    items: { metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] } }[];
  };
  return json.items.map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP ?? '',
    phase: p.status.phase ?? '',
    deleting: p.metadata.deletionTimestamp !== undefined,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** Waits for an McpServer's Ready condition; returns the seconds it took from `since`. */
export async function waitMcpReady(cluster: TestCluster, namespace: string, name: string, timeoutMs = 240_000): Promise<void> {
  await waitFor(
    `McpServer ${namespace}/${name} Ready`,
    async () => {
      const out = await cluster.kubectl(['-n', namespace, 'get', 'mcpserver', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return out.trim() === 'True';
    },
    { timeoutMs, intervalMs: 500, namespace },
  );
}

/** The fixtures (module server, stdio server, and a `version` key to reference) as a ConfigMap named `name`. */
export function fixtureConfigMap(name: string): string {
  const dir = join(e2eDir, 'test-real', 'fixtures');
  const indent = (s: string): string => s.split('\n').map((l) => `    ${l}`).join('\n');
  return `apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}}
data:
  version: "1"
  server.mjs: |
${indent(readFileSync(join(dir, 'module-server.mjs'), 'utf8'))}
  stdio-server.mjs: |
${indent(readFileSync(join(dir, 'stdio-server.mjs'), 'utf8'))}
`;
}

export { NODE_NAME };
