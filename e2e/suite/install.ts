/**
 * Installing Berth the way a platform team does — `helm install` of
 * charts/berth with values — and, for control planes whose pods don't run,
 * the operator from this checkout as a local process that uses the chart's
 * own ServiceAccount (so the chart's RBAC is what it gets) and a local
 * redis-server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { exec, until, type Kube } from './kube.ts';
import { splitImage, type SuiteOptions } from './options.ts';
import { freePort } from '../../runtime/test/helpers/free-port.ts';

/** Ports for child servers: see free-port.ts for why they come from below the ephemeral range. */
export { freePort };

export interface Release {
  name: string;
  namespace: string;
  /** The operator's Deployment, ServiceAccount, Service and ConfigMap name. */
  fullname: string;
}

/** The chart values the suite installs with. */
export function chartValues(o: SuiteOptions, release: Release, tenantNamespace: string): Record<string, unknown> {
  const op = splitImage(o.operatorImage);
  const rt = splitImage(o.runtimeImage);
  const inCluster = o.operator === 'in-cluster';
  return {
    image: { repository: op.repository, tag: op.tag, pullPolicy: o.pullPolicy },
    // A local operator replaces the Deployment's pods.
    replicaCount: inCluster ? 2 : 0,
    scope: o.scope,
    ...(o.scope === 'namespace' ? { watchNamespace: tenantNamespace } : {}),
    crds: { enabled: o.chartCrds, keep: true },
    runtime: { image: { repository: rt.repository, tag: rt.tag, pullPolicy: o.pullPolicy } },
    redis: { bundled: { enabled: inCluster, ...(o.redisImage ? { image: o.redisImage } : {}) } },
    // A local operator cannot dial Service DNS names for the tool audit.
    audit: { enabled: inCluster },
    dashboards: { enabled: true },
  };
}

/** `helm install` with the suite's values; `--wait` for the operator (and bundled Redis) to be ready. */
export async function helmInstall(k: Kube, o: SuiteOptions, release: Release, tenantNamespace: string, workDir: string): Promise<string> {
  const valuesFile = join(workDir, 'values.yaml');
  writeFileSync(valuesFile, stringify(chartValues(o, release, tenantNamespace)));
  const timeoutS = Math.ceil(o.timeoutMs / 1000);
  return k.helm(
    ['install', release.name, join(o.repoRoot, 'charts', 'berth'), '--namespace', release.namespace, '--create-namespace', '--values', valuesFile, '--wait', '--timeout', `${timeoutS}s`],
    { timeoutMs: o.timeoutMs + 60_000 },
  );
}

export interface LocalRedis {
  url: string;
  /** Runs redis-cli against it; returns stdout. */
  cli(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A redis-server with an admin password on a free loopback port. */
export async function startLocalRedis(workDir: string): Promise<LocalRedis> {
  const port = await freePort();
  const password = `suite-${Math.random().toString(36).slice(2)}`;
  const dir = join(workDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', password], { stdio: 'ignore' });
  const spawnError = new Promise<Error>((r) => proc.once('error', r));
  const cli = async (args: readonly string[]): Promise<string> => {
    const r = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '-a', password, ...args], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  await Promise.race([
    until('the local redis-server', 10_000, async () => (await cli(['ping'])).trim() === 'PONG', 100),
    spawnError.then((e) => Promise.reject(new Error(`cannot start redis-server (install it: apt-get install redis-server): ${e.message}`))),
  ]);
  return {
    url: `redis://default:${password}@127.0.0.1:${port}/0`,
    cli,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface LocalOperator {
  /** http://127.0.0.1:<port> of /healthz, /readyz, /metrics. */
  base: string;
  identity: string;
  logFile: string;
  stop(): Promise<void>;
}

/** A kubeconfig for the chart's ServiceAccount: same server and CA as `k`'s, a fresh token. */
async function serviceAccountKubeconfig(k: Kube, release: Release, file: string): Promise<void> {
  const view = await k.json<{ clusters: Array<{ cluster: Record<string, unknown> }> }>(['config', 'view', '--raw', '--minify', '--flatten']);
  const cluster = view.clusters[0]?.cluster;
  if (!cluster) throw new Error('the kubeconfig names no cluster');
  const token = (await k.kubectl(['-n', release.namespace, 'create', 'token', release.fullname, '--duration=2h'])).trim();
  const user = `system:serviceaccount:${release.namespace}:${release.fullname}`;
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'suite', cluster }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: 'suite', context: { cluster: 'suite', user } }],
      'current-context': 'suite',
    }),
    { mode: 0o600 },
  );
}

/**
 * Starts `node operator/src/main.ts` with the settings the chart rendered
 * into its ConfigMap, as the chart's ServiceAccount, against `redisUrl`.
 */
export async function startLocalOperator(k: Kube, o: SuiteOptions, release: Release, redisUrl: string, workDir: string): Promise<LocalOperator> {
  const configFile = join(workDir, 'operator-config.json');
  const rendered = await k.kubectl(['-n', release.namespace, 'get', 'configmap', release.fullname, '-o', 'jsonpath={.data.config\\.json}']);
  writeFileSync(configFile, rendered);
  const kubeconfig = join(workDir, 'operator-kubeconfig.yaml');
  await serviceAccountKubeconfig(k, release, kubeconfig);
  const port = await freePort();
  const identity = `suite-${hostname()}-${process.pid}`;
  const logFile = join(workDir, 'operator.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [join(o.repoRoot, 'operator', 'src', 'main.ts'), '--config', configFile, '--port', String(port)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfig, BERTH_REDIS_ADMIN_URL: redisUrl, POD_NAME: identity, BERTH_LOG_LEVEL: 'debug' },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = until('the local operator /readyz', 60_000, async () => (await fetch(`${base}/readyz`)).status === 200, 250);
  const outcome = await Promise.race([ready.then(() => 'ready' as const), exited.then((code) => code)]);
  if (outcome !== 'ready') {
    throw new Error(`the local operator exited with ${outcome} before it was ready:\n${tail(logFile, 30)}`);
  }
  return {
    base,
    identity,
    logFile,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(20_000, undefined, { ref: false }).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** The last `lines` lines of a file ('' when unreadable). */
export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
