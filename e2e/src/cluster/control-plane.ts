/**
 * Starts, inspects and stops the local control plane: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok, as detached processes on
 * 127.0.0.1, with their state in the cluster dir:
 *
 *   state.json        pids, ports, who started the cluster
 *   kubeconfig        the admin kubeconfig (what tests use)
 *   pki/              CA, serving and client certificates, service-account key
 *   etcd/             etcd's data (wiped at every `up`)
 *   logs/<name>.log   each component's output
 *   .lock             serialises up/down between processes
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { type Binaries, type Versions } from './build.ts';
import {
  clusterDir,
  COMPONENTS,
  type Component,
  NODE_NAMES,
  POD_CIDR,
  ports as portsFor,
  type Ports,
  SERVICE_CIDR,
  startTimeoutMs,
  ZONES,
} from './config.ts';
import { ClusterError } from './errors.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { withLock } from './lock.ts';
import { log } from './log.ts';
import { ensurePki, type Pki, pkiPaths } from './pki.ts';
import { pidAlive, pidRuns, shellLine, spawnDetached, stopPid, tailFile } from './proc.ts';

export interface ComponentState {
  pid: number;
  binary: string;
  log: string;
}

export interface ClusterState {
  dir: string;
  /**
   * Who started it, which decides who stops it:
   * `cli` — `npm run cluster -- up`; it stays up until `down`.
   * `suite` — a test run's global setup (`global-setup.ts`); its teardown stops it.
   * `helper` — `ensureCluster()`; the last process using it stops it at exit.
   */
  owner: 'cli' | 'suite' | 'helper';
  /** The process that started it (or adopted it). */
  ownerPid: number;
  ports: Ports;
  kubeconfig: string;
  server: string;
  versions: Versions;
  startedAt: string;
  upSeconds: number;
  components: Partial<Record<Component, ComponentState>>;
}

export interface ComponentStatus {
  name: Component;
  pid: number | undefined;
  running: boolean;
  healthy: boolean;
  rssMiB: number | undefined;
  log: string;
}

export interface ClusterStatus {
  dir: string;
  state: ClusterState | undefined;
  components: ComponentStatus[];
  /** Every component runs and answers its health check. */
  healthy: boolean;
  /** At least one component process of this cluster is alive. */
  anyRunning: boolean;
}

export const statePath = (dir: string): string => join(dir, 'state.json');
export const lockPath = (dir: string): string => join(dir, '.lock');
export const kubeconfigPath = (dir: string): string => join(dir, 'kubeconfig');
const logPath = (dir: string, c: Component): string => join(dir, 'logs', `${c}.log`);

export function readState(dir: string = clusterDir()): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function writeState(state: ClusterState): void {
  writeFileSync(statePath(state.dir), `${JSON.stringify(state, null, 2)}\n`);
}

// --- health checks ---------------------------------------------------------

interface ProbeResult {
  ok: boolean;
  detail: string;
}

function probe(url: string, tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecure?: boolean }): Promise<ProbeResult> {
  return new Promise((resolvePromise) => {
    const isHttps = url.startsWith('https:');
    const opts = {
      timeout: 3000,
      ...(isHttps ? { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: !tls?.insecure } : {}),
    };
    const req = (isHttps ? httpsRequest : httpRequest)(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => resolvePromise({ ok: res.statusCode === 200, detail: `HTTP ${res.statusCode}: ${body.trim().slice(0, 500)}` }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 3 s')));
    req.on('error', (err) => resolvePromise({ ok: false, detail: err.message }));
    req.end();
  });
}

function prober(c: Component, p: Ports, pki: Pki): () => Promise<ProbeResult> {
  switch (c) {
    case 'etcd':
      return async () => {
        const r = await probe(`http://127.0.0.1:${p.etcd}/health`);
        return { ok: r.ok && r.detail.includes('"health":"true"'), detail: r.detail };
      };
    case 'kube-apiserver': {
      const admin = pki.client('admin');
      const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
      return () => probe(`https://127.0.0.1:${p.apiserver}/readyz`, tls);
    }
    // Their serving certificates are self-signed in memory; /healthz is open to anyone.
    case 'kube-controller-manager':
      return () => probe(`https://127.0.0.1:${p.controllerManager}/healthz`, { insecure: true });
    case 'kube-scheduler':
      return () => probe(`https://127.0.0.1:${p.scheduler}/healthz`, { insecure: true });
    case 'kwok':
      return () => probe(`http://127.0.0.1:${p.kwok}/healthz`);
  }
}

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

/** What runs in the cluster dir, and whether each component answers. */
export async function status(dir: string = clusterDir()): Promise<ClusterStatus> {
  const state = readState(dir);
  const pki = pkiPaths(join(dir, 'pki'));
  const components: ComponentStatus[] = [];
  for (const name of COMPONENTS) {
    const cs = state?.components[name];
    const running = cs ? pidRuns(cs.pid, cs.binary) : false;
    let healthy = false;
    if (running && state) {
      try {
        healthy = (await prober(name, state.ports, pki)()).ok;
      } catch {
        healthy = false;
      }
    }
    components.push({
      name,
      pid: cs?.pid,
      running,
      healthy,
      rssMiB: running && cs ? rssMiB(cs.pid) : undefined,
      log: cs?.log ?? logPath(dir, name),
    });
  }
  return {
    dir,
    state,
    components,
    healthy: state !== undefined && components.every((c) => c.healthy),
    anyRunning: components.some((c) => c.running),
  };
}

// --- start -----------------------------------------------------------------

function tryListen(port: number): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolvePromise(err.code ?? err.message));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePromise(undefined)));
  });
}

/** Fails loudly when a port is taken; waits a little first, for a process killed just before. */
async function checkPortFree(port: number, component: string): Promise<void> {
  let err: string | undefined;
  for (let i = 0; i < 20; i++) {
    err = await tryListen(port);
    if (err === undefined) return;
    await sleep(250);
  }
  throw new ClusterError(
    'E2E_PORT_IN_USE',
    `127.0.0.1:${port} is taken (${err}); stop what listens there (\`ss -ltnp 'sport = :${port}'\`) or pick other ports with BERTH_CLUSTER_PORT_BASE=<n> (uses n..n+5)`,
    { component },
  );
}

function componentArgs(c: Component, dir: string, p: Ports, pki: Pki, bins: Binaries): string[] {
  const kc = (name: string): string => join(dir, `${name}.kubeconfig`);
  switch (c) {
    case 'etcd':
      return [
        '--name=berth-e2e',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${p.etcd}`,
        `--advertise-client-urls=http://127.0.0.1:${p.etcd}`,
        `--listen-peer-urls=http://127.0.0.1:${p.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p.etcdPeer}`,
        `--initial-cluster=berth-e2e=http://127.0.0.1:${p.etcdPeer}`,
        '--initial-cluster-state=new',
        // A test cluster: its data is thrown away, durability buys nothing.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ];
    case 'kube-apiserver':
      return [
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${p.apiserver}`,
        `--etcd-servers=http://127.0.0.1:${p.etcd}`,
        `--tls-cert-file=${pki.apiserverCert}`,
        `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--requestheader-client-ca-file=${pki.caCert}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.client('front-proxy-client').cert}`,
        `--proxy-client-key-file=${pki.client('front-proxy-client').key}`,
        // The "kubernetes" Service would point at 127.0.0.1, which Endpoints reject.
        '--endpoint-reconciler-type=none',
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        '--profiling=false',
        '--v=1',
      ];
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${kc('kube-controller-manager')}`,
        `--authentication-kubeconfig=${kc('kube-controller-manager')}`,
        `--authorization-kubeconfig=${kc('kube-controller-manager')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.controllerManager}`,
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--cluster-cidr=${POD_CIDR}`,
        '--allocate-node-cidrs=false',
        '--cluster-name=berth-e2e',
        '--controllers=*',
        '--profiling=false',
        '--v=1',
      ];
    case 'kube-scheduler':
      return [
        `--kubeconfig=${kc('kube-scheduler')}`,
        `--authentication-kubeconfig=${kc('kube-scheduler')}`,
        `--authorization-kubeconfig=${kc('kube-scheduler')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.scheduler}`,
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ];
    case 'kwok':
      return [
        `--kubeconfig=${kc('kwok')}`,
        `--config=${bins.kwokStages}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--cidr=${POD_CIDR.replace('.0/', '.1/')}`,
        // Nodes advertise loopback: anything that dials a "kubelet" stays on this machine.
        '--node-ip=127.0.0.1',
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${p.kwok}`,
      ];
  }
}

/**
 * Extra flags for one component from the environment, e.g.
 * `BERTH_KUBE_APISERVER_ARGS="--feature-gates=Foo=true"` (split on spaces).
 */
export function extraArgs(c: Component): string[] {
  const v = process.env[`BERTH_${c.toUpperCase().replaceAll('-', '_')}_ARGS`];
  return v ? v.split(/\s+/).filter(Boolean) : [];
}

async function waitHealthy(c: Component, pid: number, logFile: string, check: () => Promise<ProbeResult>): Promise<void> {
  const timeout = startTimeoutMs();
  const started = Date.now();
  let last: ProbeResult = { ok: false, detail: 'not probed yet' };
  while (Date.now() - started < timeout) {
    if (!pidAlive(pid)) {
      await sleep(200); // let the last log lines land
      throw new ClusterError('E2E_COMPONENT_EXITED', `pid ${pid} exited before it became healthy`, {
        component: c,
        logFile,
        logTail: tailFile(logFile, 40),
      });
    }
    last = await check();
    if (last.ok) {
      log.info({ component: c, pid, seconds: (Date.now() - started) / 1000 }, `Started ${c}`);
      return;
    }
    await sleep(200);
  }
  throw new ClusterError('E2E_COMPONENT_UNHEALTHY', `no healthy answer within ${timeout} ms; last check: ${last.detail}`, {
    component: c,
    logFile,
    logTail: tailFile(logFile, 40),
  });
}

/** A simulated node (kwok manages its status): 16 CPU, 64 GiB, 110 pods. */
export function kwokNode(name: string, zone: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'node-role.kubernetes.io/agent': '',
        'topology.kubernetes.io/zone': zone,
        type: 'kwok',
      },
    },
    // No taint: every node here is simulated, so workloads need no toleration.
    spec: {},
    status: {
      allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
      capacity: { cpu: '16', memory: '64Gi', pods: '110' },
    },
  };
}

function isReady(n: V1Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function waitFor(what: string, timeoutMs: number, fn: () => Promise<boolean>, fail: (last: string) => ClusterError): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  log.warn({ what, last }, 'Gave up waiting');
  throw fail(last);
}

async function createNodes(dir: string, kubeconfig: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  for (const [i, name] of NODE_NAMES.entries()) {
    await core.createNode({ body: kwokNode(name, ZONES[i % ZONES.length] ?? 'zone-a') });
  }
  const kwokLog = logPath(dir, 'kwok');
  await waitFor(
    'kwok nodes Ready',
    startTimeoutMs(),
    async () => {
      const nodes = await core.listNode();
      return NODE_NAMES.every((n) => nodes.items.some((x) => x.metadata?.name === n && isReady(x)));
    },
    (last) =>
      new ClusterError('E2E_NODES_NOT_READY', `${NODE_NAMES.join(', ')} not all Ready${last ? `; last error: ${last}` : ''}`, {
        component: 'kwok',
        logFile: kwokLog,
        logTail: tailFile(kwokLog, 40),
      }),
  );
  log.info({ nodes: NODE_NAMES.length }, 'Found the kwok nodes Ready');
  // Pods are rejected until the ServiceAccount controller has made "default".
  const kcmLog = logPath(dir, 'kube-controller-manager');
  await waitFor(
    'default ServiceAccount',
    startTimeoutMs(),
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    },
    (last) =>
      new ClusterError('E2E_COMPONENT_UNHEALTHY', `the default ServiceAccount never appeared: ${last}`, {
        component: 'kube-controller-manager',
        logFile: kcmLog,
        logTail: tailFile(kcmLog, 40),
      }),
  );
}

async function stopComponents(state: ClusterState): Promise<void> {
  const stopOne = async (c: Component): Promise<void> => {
    const cs = state.components[c];
    if (!cs || !pidRuns(cs.pid, cs.binary)) return;
    const how = await stopPid(cs.pid);
    log.debug({ component: c, pid: cs.pid, how }, `Stopped ${c}`);
  };
  await Promise.all((['kwok', 'kube-scheduler', 'kube-controller-manager'] as const).map(stopOne));
  await stopOne('kube-apiserver');
  await stopOne('etcd');
}

async function startUnlocked(dir: string, bins: Binaries, owner: ClusterState['owner']): Promise<ClusterState> {
  const started = Date.now();
  const p = portsFor(dir);
  const portOf: Record<Component, number[]> = {
    etcd: [p.etcd, p.etcdPeer],
    'kube-apiserver': [p.apiserver],
    'kube-controller-manager': [p.controllerManager],
    'kube-scheduler': [p.scheduler],
    kwok: [p.kwok],
  };
  for (const c of COMPONENTS) for (const port of portOf[c]) await checkPortFree(port, c);

  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'etcd'), { recursive: true, force: true });
  rmSync(join(dir, 'logs'), { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const pki = await ensurePki(join(dir, 'pki'));
  const server = `https://127.0.0.1:${p.apiserver}`;
  const kubeconfig = kubeconfigPath(dir);
  writeKubeconfig(kubeconfig, { server, caCert: pki.caCert, ...pki.client('admin'), user: 'berth-e2e-admin' });
  for (const name of ['kube-controller-manager', 'kube-scheduler', 'kwok']) {
    writeKubeconfig(join(dir, `${name}.kubeconfig`), { server, caCert: pki.caCert, ...pki.client(name), user: name });
  }

  const state: ClusterState = {
    dir,
    owner,
    ownerPid: process.pid,
    ports: p,
    kubeconfig,
    server,
    versions: bins.versions,
    startedAt: new Date().toISOString(),
    upSeconds: 0,
    components: {},
  };
  const launch = (c: Component): Promise<void> => {
    const logFile = logPath(dir, c);
    const args = [...componentArgs(c, dir, p, pki, bins), ...extraArgs(c)];
    writeFileSync(logFile, `$ ${shellLine(bins[c], args)}\n`);
    const pid = spawnDetached(bins[c], args, logFile, dir);
    state.components[c] = { pid, binary: bins[c], log: logFile };
    writeState(state);
    return waitHealthy(c, pid, logFile, prober(c, p, pki));
  };

  try {
    await launch('etcd');
    await launch('kube-apiserver');
    await Promise.all((['kube-controller-manager', 'kube-scheduler', 'kwok'] as const).map(launch));
    await createNodes(dir, kubeconfig);
  } catch (err) {
    await stopComponents(state);
    rmSync(statePath(dir), { force: true });
    log.error({ code: (err as ClusterError).code, component: (err as ClusterError).component }, 'Stopped the partly started control plane');
    throw err;
  }
  state.upSeconds = Math.round((Date.now() - started) / 100) / 10;
  writeState(state);
  log.info({ seconds: state.upSeconds, kubeconfig, server }, 'Started the control plane');
  return state;
}

export interface UpOptions {
  dir?: string;
  owner?: ClusterState['owner'];
  /** Runs while the cluster lock is still held, before `up` returns. */
  whileLocked?: (state: ClusterState, reused: boolean) => void;
}

/**
 * Starts the control plane, or reuses it when it already runs healthy in the
 * same dir. Leftovers of a dead or half-started cluster are stopped first.
 */
export async function up(bins: Binaries, opts: UpOptions = {}): Promise<ClusterState> {
  const dir = opts.dir ?? clusterDir();
  mkdirSync(dir, { recursive: true });
  return withLock(lockPath(dir), 'starting the cluster', 10 * 60_000, async () => {
    const s = await status(dir);
    if (s.healthy && s.state) {
      const running = s.state.versions;
      if (running.kubernetes !== bins.versions.kubernetes || running.etcd !== bins.versions.etcd || running.kwok !== bins.versions.kwok) {
        log.warn({ running, pinned: bins.versions }, 'Reused a running cluster of other versions than pinned; `down` and `up` to switch');
      }
      if (opts.owner === 'cli' && s.state.owner !== 'cli') {
        // Someone asked for it explicitly: it now stays up until `down`.
        s.state.owner = 'cli';
        s.state.ownerPid = process.pid;
        writeState(s.state);
      }
      opts.whileLocked?.(s.state, true);
      return s.state;
    }
    if (s.state) {
      if (s.anyRunning) log.warn({ dir }, 'Stopped an unhealthy cluster before starting again');
      await stopComponents(s.state);
      rmSync(statePath(dir), { force: true });
    }
    const state = await startUnlocked(dir, bins, opts.owner ?? 'cli');
    opts.whileLocked?.(state, false);
    return state;
  });
}

// --- users: test processes that called ensureCluster() --------------------

const usersDir = (dir: string): string => join(dir, 'users');

export function registerUser(dir: string): void {
  mkdirSync(usersDir(dir), { recursive: true });
  writeFileSync(join(usersDir(dir), String(process.pid)), '');
}

export function unregisterUser(dir: string): void {
  rmSync(join(usersDir(dir), String(process.pid)), { force: true });
}

/** Live processes, other than this one, that use the cluster (dead entries are removed). */
export function liveOtherUsers(dir: string): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(usersDir(dir));
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const n of names) {
    const pid = Number.parseInt(n, 10);
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && pidAlive(pid)) live.push(pid);
    else rmSync(join(usersDir(dir), n), { force: true });
  }
  return live;
}

// --- stop ------------------------------------------------------------------

export interface DownOptions {
  /**
   * When test processes still use the cluster, don't stop it: hand it to them
   * (owner `helper`: the last of them stops it at exit).
   */
  unlessUsed?: boolean;
}

/** Stops every component of the cluster in `dir`. */
export async function down(dir: string = clusterDir(), opts: DownOptions = {}): Promise<'stopped' | 'not-running' | 'handed-over'> {
  if (!existsSync(dir)) return 'not-running';
  return withLock(lockPath(dir), 'stopping the cluster', 2 * 60_000, async () => {
    const state = readState(dir);
    if (!state) return 'not-running';
    if (opts.unlessUsed) {
      const users = liveOtherUsers(dir);
      if (users.length > 0) {
        state.owner = 'helper';
        writeState(state);
        log.info({ users }, 'Left the cluster running for the test processes that still use it');
        return 'handed-over';
      }
    }
    await stopComponents(state);
    rmSync(statePath(dir), { force: true });
    rmSync(join(dir, 'etcd'), { recursive: true, force: true });
    return 'stopped';
  });
}

/**
 * For a process 'exit' handler, which cannot wait: SIGKILL every component.
 * Nothing of a test cluster is worth a graceful stop (etcd's data is wiped
 * at the next `up`), and SIGTERM is not enough here: an apiserver whose etcd
 * stopped at the same moment hangs in its shutdown.
 */
export function killSync(state: ClusterState): void {
  for (const c of [...COMPONENTS].reverse()) {
    const cs = state.components[c];
    if (cs && pidRuns(cs.pid, cs.binary)) {
      try {
        process.kill(cs.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  rmSync(statePath(state.dir), { force: true });
}
