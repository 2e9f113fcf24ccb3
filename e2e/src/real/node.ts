/**
 * A real node for the local control plane: containerd (CRI), kubelet,
 * kube-proxy (iptables mode), CoreDNS and the bridge CNI, as detached host
 * processes whose state lives under `<cluster dir>/real/`:
 *
 *   state.json          pids, what `down` must undo
 *   pki/                client certificates signed by the cluster CA
 *   containerd/         config, socket, root, state (pod netns mounts too), runc state
 *   cni/                the bridge network's config and IP allocations
 *   kubelet/            the kubelet's root dir (pod volumes)
 *   ../logs/<name>.log  each component's output
 *
 * Chosen for this kind of machine (a VM with cgroup v1 hierarchies, no swap,
 * and no CAP_SYS_RESOURCE): cgroupfs driver with `failCgroupV1: false`,
 * `failSwapOn: false`, containerd's `restrict_oom_score_adj`; see
 * docs/real-cluster.md.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureKubectlSync } from '../cluster/build.ts';
import { type ClusterState, readState } from '../cluster/control-plane.ts';
import { ClusterError } from '../cluster/errors.ts';
import { writeKubeconfig } from '../cluster/kubeconfig.ts';
import { withLock } from '../cluster/lock.ts';
import { log } from '../cluster/log.ts';
import { pidAlive, pidRuns, run, shellLine, spawnDetached, stopPid, tailFile } from '../cluster/proc.ts';
import { ensureNodeBinaries, type NodeBinaries } from './build-node.ts';
import {
  BRIDGE,
  CGROUP_ROOT,
  CLUSTER_DOMAIN,
  DNS_SERVICE_IP,
  loopbackPorts,
  MACHINE_LOCK,
  MACHINE_OWNER_FILE,
  NODE_IP,
  NODE_NAME,
  NODE_PORTS,
  POD_SUBNET,
  REAL_COMPONENTS,
  type RealComponent,
  realPaths,
  type RealPaths,
  SIMULATED_TAINT,
} from './config.ts';
import { type BuiltImage, ensureImages, type ImageSet, importImages, pauseRef } from './images.ts';
import { bridgeExists, type NetworkState, setupNetwork, teardownNetwork } from './network.ts';

export interface RealComponentState {
  pid: number;
  binary: string;
  log: string;
}

export interface RealState {
  clusterDir: string;
  startedAt: string;
  /** Seconds from the first process started to the node Ready (images already built). */
  nodeStartSeconds: number;
  network: NetworkState;
  components: Partial<Record<RealComponent, RealComponentState>>;
  images: { name: string; ref: string; archiveBytes: number; seconds: number; cached: boolean }[];
  kubernetes: string;
  coredns: string;
}

const nodeScript = (name: string): string => resolve(import.meta.dirname, name);

export function readRealState(clusterDir: string): RealState | undefined {
  try {
    return JSON.parse(readFileSync(realPaths(clusterDir).state, 'utf8')) as RealState;
  } catch {
    return undefined;
  }
}

function writeRealState(p: RealPaths, s: RealState): void {
  writeFileSync(p.state, `${JSON.stringify(s, null, 2)}\n`);
}

// --- certificates ---------------------------------------------------------------

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  if (r.code !== 0) throw new ClusterError('E2E_COMMAND_FAILED', `openssl ${args[0]} failed: ${r.stderr}`, { component: 'openssl' });
}

/** A client certificate signed by the control plane's CA. */
async function clientCert(p: RealPaths, caCert: string, caKey: string, stem: string, subject: string): Promise<{ cert: string; key: string }> {
  mkdirSync(p.pki, { recursive: true, mode: 0o700 });
  const key = join(p.pki, `${stem}.key`);
  const cert = join(p.pki, `${stem}.crt`);
  const csr = join(p.pki, `${stem}.csr`);
  const ext = join(p.pki, `${stem}.ext`);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  writeFileSync(ext, '[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  await openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x1${Date.now().toString(16)}${process.pid}`, '-days', '3650', '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', cert]);
  rmSync(csr);
  rmSync(ext);
  return { cert, key };
}

// --- configuration files ---------------------------------------------------------

function containerdConfig(p: RealPaths, sandboxImage: string): string {
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
[grpc]
  address = "${p.containerdSocket}"
[ttrpc]
  address = "${p.containerdSocket}.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${join(p.containerdDir, 'opt')}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${sandboxImage}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    # Pod network namespaces under the state dir, so teardown finds every one.
    netns_mounts_under_state_dir = true
    # This machine's root lacks CAP_SYS_RESOURCE: never ask for an oom_score_adj below containerd's own.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "${p.runcRoot}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${p.cniConfDir}"
      max_conf_num = 1
`;
}

function cniConfig(p: RealPaths): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'berth-real',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          // No masquerade: pod traffic never leaves this machine (network.ts drops it).
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: p.cniIpamDir,
            ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

function kubeletConfig(p: RealPaths, clusterDir: string): string {
  const lp = loopbackPorts(clusterDir);
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
port: ${NODE_PORTS.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${lp.kubeletHealthz}
# The apiserver of the local control plane presents no client certificate to
# kubelets; pods are kept off this port by an iptables rule (network.ts).
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
# This machine: cgroup v1 hierarchies, no systemd, no swap.
cgroupDriver: cgroupfs
cgroupRoot: ${CGROUP_ROOT}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
failCgroupV1: false
clusterDomain: ${CLUSTER_DOMAIN}
clusterDNS: [${DNS_SERVICE_IP}]
resolvConf: ""
containerRuntimeEndpoint: unix://${p.containerdSocket}
# No registry can give an image back: never garbage-collect one.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# A shared machine: evict only when truly short.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
registerNode: true
rotateCertificates: false
serializeImagePulls: false
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
maxPods: 110
`;
}

function kubeProxyConfig(kubeconfig: string, clusterDir: string): string {
  const lp = loopbackPorts(clusterDir);
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${kubeconfig}
hostnameOverride: ${NODE_NAME}
mode: iptables
clusterCIDR: ${POD_SUBNET}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:${lp.proxyHealthz}
metricsBindAddress: 127.0.0.1:${lp.proxyMetrics}
# NodePorts only on the node IP (the bridge), never on the machine's own interfaces.
nodePortAddresses: ["${NODE_IP}/32"]
iptables:
  localhostNodePorts: false
  masqueradeAll: false
  syncPeriod: 10s
  minSyncPeriod: 0s
# Leave the machine's conntrack settings as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

function corefile(kubeconfig: string): string {
  // Only the cluster domain is answered; nothing is forwarded off the machine.
  return `.:${NODE_PORTS.dns} {
    bind ${NODE_IP}
    errors
    health ${NODE_IP}:${NODE_PORTS.dnsHealth}
    ready ${NODE_IP}:${NODE_PORTS.dnsReady}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} berth-e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
`;
}

/** Objects the real node needs in the cluster: DNS and apiserver endpoints, CoreDNS's RBAC. */
function clusterObjects(): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "berth-e2e:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "berth-e2e:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "berth-e2e:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: berth-e2e-coredns}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: ${DNS_SERVICE_IP}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
# CoreDNS runs on the host at the node IP; this slice points kube-dns at it.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-berth-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: berth-e2e-real}
addressType: IPv4
endpoints:
- addresses: ["${NODE_IP}"]
  conditions: {ready: true}
  nodeName: ${NODE_NAME}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
---
# The apiserver listens on loopback; pods reach it through tcp-forward.ts on the node IP.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-berth-node
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: berth-e2e-real}
addressType: IPv4
endpoints:
- addresses: ["${NODE_IP}"]
  conditions: {ready: true}
ports:
- {name: https, port: ${NODE_PORTS.apiserver}, protocol: TCP}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: kubernetes
  namespace: default
  labels: {endpointslice.kubernetes.io/skip-mirror: "true"}
subsets:
- addresses: [{ip: "${NODE_IP}"}]
  ports: [{name: https, port: ${NODE_PORTS.apiserver}, protocol: TCP}]
`;
}

// --- processes ------------------------------------------------------------------

async function waitUntil(what: string, component: string, logFile: string, pid: number | undefined, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pid !== undefined && !pidAlive(pid)) {
      await sleep(200);
      throw new ClusterError('E2E_COMPONENT_EXITED', `${component} exited before ${what}`, { component, logFile, logTail: tailFile(logFile, 40) });
    }
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  throw new ClusterError('E2E_COMPONENT_UNHEALTHY', `${what}: not within ${timeoutMs} ms`, { component, logFile, logTail: tailFile(logFile, 40) });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/** Processes in the pods' cgroups (every hierarchy lists the same ones; pids is enough). */
function podProcesses(): number[] {
  const out = new Set<number>();
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    try {
      for (const l of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) out.add(Number(l));
    } catch {
      // gone meanwhile
    }
    for (const e of entries) {
      const sub = join(dir, e);
      try {
        if (statSync(sub).isDirectory()) walk(sub);
      } catch {
        // gone meanwhile
      }
    }
  };
  for (const h of cgroupHierarchies()) walk(join(h, CGROUP_ROOT));
  return [...out];
}

/** Mounted cgroup hierarchies (v1 controllers, the named systemd one, and cgroup2). */
function cgroupHierarchies(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    const fsType = parts[sep + 1];
    if ((fsType === 'cgroup' || fsType === 'cgroup2') && parts[4]) out.push(unescapeMount(parts[4]));
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMount(mp);
    if (p === dir || p.startsWith(prefix)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Shims of this containerd (they outlive it by design), found by the socket they were given. */
function shimPids(socket: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(socket)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

function cgroupsExist(): boolean {
  return cgroupHierarchies().some((h) => existsSync(join(h, CGROUP_ROOT)));
}

// --- up ---------------------------------------------------------------------------

export interface RealUpResult {
  state: RealState;
  reused: boolean;
}

/** The node's Ready condition. */
async function nodeReady(kubectl: string, kubeconfig: string): Promise<boolean> {
  const r = await run(kubectl, ['--kubeconfig', kubeconfig, 'get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
  return r.code === 0 && r.stdout.trim() === 'True';
}

async function kubectlApply(kubectl: string, kubeconfig: string, yaml: string): Promise<void> {
  const r = await run(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '--field-manager=berth-e2e-real', '-f', '-'], { input: yaml, timeoutMs: 60_000 });
  if (r.code !== 0) throw new ClusterError('E2E_COMMAND_FAILED', `kubectl apply of the real node's objects failed: ${r.stderr}`, { component: 'kubectl' });
}

/** True when every real component of the cluster in `clusterDir` runs. */
export function realRunning(clusterDir: string): boolean {
  const s = readRealState(clusterDir);
  if (!s) return false;
  return REAL_COMPONENTS.every((c) => {
    const cs = s.components[c];
    return cs !== undefined && pidRuns(cs.pid, cs.binary);
  });
}

/**
 * Adds the real node to the running control plane in `cluster.dir` (or
 * reuses it when it already runs). Builds binaries and images first.
 */
export async function upReal(cluster: ClusterState, opts: { productImages?: boolean | 'if-present' } = {}): Promise<RealUpResult> {
  const bins = await ensureNodeBinaries();
  const images = await ensureImages(bins, { product: opts.productImages ?? true });
  return withLock(MACHINE_LOCK, 'starting the real node', 10 * 60_000, async () => {
    const owner = existsSync(MACHINE_OWNER_FILE) ? readFileSync(MACHINE_OWNER_FILE, 'utf8').trim() : undefined;
    if (owner && owner !== cluster.dir && readRealState(owner) && realRunning(owner)) {
      throw new ClusterError('E2E_PORT_IN_USE', `a real node already runs for the cluster in ${owner} (one per machine); stop it with BERTH_CLUSTER_DIR=${owner} npm run cluster -- down`, { component: 'real node' });
    }
    if (owner && owner !== cluster.dir) await teardownReal(owner);
    if (realRunning(cluster.dir)) {
      const state = readRealState(cluster.dir) as RealState;
      await importImages(realPaths(cluster.dir).containerdSocket, images.product);
      return { state, reused: true };
    }
    await teardownReal(cluster.dir); // leftovers of an interrupted run
    writeFileSync(MACHINE_OWNER_FILE, cluster.dir);
    try {
      return { state: await startReal(cluster, bins, images), reused: false };
    } catch (err) {
      log.error({ err: (err as Error).message }, 'The real node failed to start; tearing it down');
      await teardownReal(cluster.dir);
      throw err;
    }
  });
}

async function startReal(cluster: ClusterState, bins: NodeBinaries, images: ImageSet): Promise<RealState> {
  const dir = cluster.dir;
  const p = realPaths(dir);
  const { kubectl } = ensureKubectlSync();
  const pki = join(dir, 'pki');
  const ca = { cert: join(pki, 'ca.crt'), key: join(pki, 'ca.key') };
  if (await bridgeExists()) {
    throw new ClusterError('E2E_PORT_IN_USE', `network interface ${BRIDGE} already exists and no real node owns it; remove it with \`ip link del ${BRIDGE}\``, { component: 'network' });
  }
  for (const d of [p.root, p.logs, p.cniConfDir, p.cniIpamDir, p.kubeletDir, p.kubeletCertDir, p.containerdDir]) mkdirSync(d, { recursive: true });

  const started = Date.now();
  const state: RealState = {
    clusterDir: dir,
    startedAt: new Date().toISOString(),
    nodeStartSeconds: 0,
    network: { previousIpForward: '0' },
    components: {},
    images: images.all.map((i: BuiltImage) => ({ name: i.name, ref: i.ref, archiveBytes: i.archiveBytes, seconds: i.seconds, cached: i.cached })),
    kubernetes: bins.kubernetes,
    coredns: bins.coredns,
  };
  state.network = await setupNetwork();
  writeRealState(p, state);

  const kc = async (stem: string, subject: string, user: string): Promise<string> => {
    const c = await clientCert(p, ca.cert, ca.key, stem, subject);
    const file = join(p.root, `${stem}.kubeconfig`);
    writeKubeconfig(file, { server: cluster.server, caCert: ca.cert, cert: c.cert, key: c.key, user });
    return file;
  };
  const kubeletKc = await kc('kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`, `system:node:${NODE_NAME}`);
  const proxyKc = await kc('kube-proxy', '/CN=system:kube-proxy', 'system:kube-proxy');
  const dnsKc = await kc('coredns', '/CN=berth-e2e-coredns', 'berth-e2e-coredns');

  for (const h of cgroupHierarchies()) {
    if (!h.endsWith('/unified')) mkdirSync(join(h, CGROUP_ROOT), { recursive: true });
  }
  writeFileSync(p.containerdConfig, containerdConfig(p, pauseRef(bins)));
  writeFileSync(join(p.cniConfDir, '10-berth-real.conflist'), cniConfig(p));
  writeFileSync(p.kubeletConfig, kubeletConfig(p, dir));
  writeFileSync(p.kubeProxyConfig, kubeProxyConfig(proxyKc, dir));
  writeFileSync(p.corefile, corefile(dnsKc));

  const launch = (c: RealComponent, binary: string, args: string[]): number => {
    const logFile = join(p.logs, `${c}.log`);
    writeFileSync(logFile, `$ ${shellLine(binary, args)}\n`);
    const pid = spawnDetached(binary, args, logFile, p.root);
    state.components[c] = { pid, binary, log: logFile };
    writeRealState(p, state);
    return pid;
  };
  const logOf = (c: RealComponent): string => join(p.logs, `${c}.log`);

  const ctrd = launch('containerd', '/usr/bin/containerd', ['--config', p.containerdConfig]);
  await waitUntil('containerd answers', 'containerd', logOf('containerd'), ctrd, 60_000, async () => (await run('ctr', ['--address', p.containerdSocket, 'version'])).code === 0);
  const importStart = Date.now();
  // debian and node are only build bases; pods run the others.
  const runnable = images.all.filter((i) => i.name !== 'debian' && i.name !== 'node');
  await importImages(p.containerdSocket, runnable);
  log.info({ seconds: (Date.now() - importStart) / 1000, images: runnable.length }, 'Imported images into containerd');

  await kubectlApply(kubectl, cluster.kubeconfig, clusterObjects());
  const nodes = await run(kubectl, ['--kubeconfig', cluster.kubeconfig, 'get', 'nodes', '-l', 'type=kwok', '-o', 'name']);
  for (const n of nodes.stdout.split('\n').filter(Boolean)) {
    await run(kubectl, ['--kubeconfig', cluster.kubeconfig, 'taint', 'node', n.replace('node/', ''), `${SIMULATED_TAINT.key}=${SIMULATED_TAINT.value}:${SIMULATED_TAINT.effect}`, '--overwrite']);
  }

  const node = process.execPath;
  const apiPort = new URL(cluster.server).port;
  const fwd = launch('apiserver-forward', node, [nodeScript('tcp-forward.ts'), NODE_IP, String(NODE_PORTS.apiserver), '127.0.0.1', apiPort]);
  const dns = launch('coredns', bins.corednsBin, ['-conf', p.corefile]);
  const proxy = launch('kube-proxy', bins['kube-proxy'], ['--config', p.kubeProxyConfig, '--v=1']);
  const kubelet = launch('kubelet', bins.kubelet, [
    '--config', p.kubeletConfig,
    '--kubeconfig', kubeletKc,
    '--root-dir', p.kubeletDir,
    '--cert-dir', p.kubeletCertDir,
    '--hostname-override', NODE_NAME,
    '--node-ip', NODE_IP,
    '--node-labels', 'berth.dev/real-node=true',
    '--v=1',
  ]);
  const lp = loopbackPorts(dir);
  await waitUntil('the apiserver forwarder listens', 'apiserver-forward', logOf('apiserver-forward'), fwd, 30_000, async () => readFileSync(logOf('apiserver-forward'), 'utf8').includes('forwarding'));
  await waitUntil('CoreDNS ready', 'coredns', logOf('coredns'), dns, 60_000, () => httpOk(`http://${NODE_IP}:${NODE_PORTS.dnsReady}/ready`));
  await waitUntil('kube-proxy healthy', 'kube-proxy', logOf('kube-proxy'), proxy, 60_000, () => httpOk(`http://127.0.0.1:${lp.proxyHealthz}/healthz`));
  await waitUntil('kubelet healthy', 'kubelet', logOf('kubelet'), kubelet, 60_000, () => httpOk(`http://127.0.0.1:${lp.kubeletHealthz}/healthz`));
  await waitUntil(`node ${NODE_NAME} Ready`, 'kubelet', logOf('kubelet'), kubelet, 120_000, () => nodeReady(kubectl, cluster.kubeconfig));
  state.nodeStartSeconds = Math.round((Date.now() - started) / 100) / 10;
  writeRealState(p, state);
  log.info({ seconds: state.nodeStartSeconds, node: NODE_NAME }, 'Started the real node');
  return state;
}

// --- down ---------------------------------------------------------------------------

/** Stops the real node of the cluster in `clusterDir` and removes everything it made. */
export async function downReal(clusterDir: string): Promise<'stopped' | 'not-running'> {
  if (!readRealState(clusterDir) && !existsSync(realPaths(clusterDir).root)) return 'not-running';
  return withLock<'stopped'>(MACHINE_LOCK, 'stopping the real node', 5 * 60_000, async () => {
    await teardownReal(clusterDir);
    return 'stopped';
  });
}

/**
 * Stops every real component, kills what runs in pods, unmounts, removes the
 * cgroups, the bridge and the iptables rules. Safe on partial state.
 */
export async function teardownReal(clusterDir: string): Promise<void> {
  const p = realPaths(clusterDir);
  const state = readRealState(clusterDir);
  // The bridge, the chains and the pod cgroups are machine-wide: leave them to
  // another cluster dir whose real node runs now (this one is then stale).
  const owner = existsSync(MACHINE_OWNER_FILE) ? readFileSync(MACHINE_OWNER_FILE, 'utf8').trim() : undefined;
  const machineWide = !owner || owner === clusterDir || !realRunning(owner);
  if (!state && !existsSync(p.root) && (!machineWide || (!(await bridgeExists()) && !cgroupsExist()))) return;
  const stop = async (c: RealComponent): Promise<void> => {
    const cs = state?.components[c];
    if (cs && pidRuns(cs.pid, cs.binary)) await stopPid(cs.pid, 10_000);
  };
  // The kubelet first, so nothing restarts what is killed next.
  await stop('kubelet');
  for (let i = 0; i < 50 && machineWide; i++) {
    const pids = podProcesses();
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(100);
  }
  await stop('kube-proxy');
  const proxyBinary = state?.components['kube-proxy']?.binary;
  if (machineWide && proxyBinary && existsSync(proxyBinary)) {
    // Removes every KUBE-* chain and rule kube-proxy made (iptables; nftables/ipvs where present).
    await run(proxyBinary, ['--cleanup', '--v=0'], { timeoutMs: 60_000 });
  }
  await stop('coredns');
  await stop('apiserver-forward');
  await stop('containerd');
  for (const pid of shimPids(p.containerdSocket)) await stopPid(pid, 2000);

  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(p.root);
    if (mounts.length === 0) break;
    for (const m of mounts) {
      if ((await run('umount', [m])).code !== 0) await run('umount', ['-l', m]);
    }
  }
  const left = mountsUnder(p.root);
  if (left.length > 0) log.warn({ mounts: left }, 'Mounts left under the real node dir');

  if (machineWide) {
    // containerd 1.6 puts shim sockets in /run/containerd/s whatever its config says; remove the dirs when empty.
    for (const d of ['/run/containerd/s', '/run/containerd']) {
      try {
        rmdirSync(d);
      } catch {
        // not empty (another containerd) or absent
      }
    }
    for (const h of cgroupHierarchies()) removeCgroupTree(join(h, CGROUP_ROOT));
    await teardownNetwork(state?.network);
  }
  if (left.length === 0) rmSync(p.root, { recursive: true, force: true });
  if (existsSync(MACHINE_OWNER_FILE) && readFileSync(MACHINE_OWNER_FILE, 'utf8').trim() === clusterDir) rmSync(MACHINE_OWNER_FILE, { force: true });
}

function removeCgroupTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const sub = join(dir, e);
    try {
      if (statSync(sub).isDirectory()) removeCgroupTree(sub);
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir);
  } catch (err) {
    log.warn({ cgroup: dir, err: (err as Error).message }, 'Could not remove a cgroup');
  }
}

// --- status ---------------------------------------------------------------------------

export interface RealComponentStatus {
  name: RealComponent;
  pid: number | undefined;
  running: boolean;
  log: string;
}

export function realStatus(clusterDir: string): RealComponentStatus[] | undefined {
  const s = readRealState(clusterDir);
  if (!s) return undefined;
  return REAL_COMPONENTS.map((name) => {
    const cs = s.components[name];
    return { name, pid: cs?.pid, running: cs ? pidRuns(cs.pid, cs.binary) : false, log: cs?.log ?? join(realPaths(clusterDir).logs, `${name}.log`) };
  });
}

/** The cluster state of `clusterDir` (the control plane must run). */
export function controlPlane(clusterDir: string): ClusterState {
  const s = readState(clusterDir);
  if (!s) throw new ClusterError('E2E_COMPONENT_UNHEALTHY', `no control plane runs in ${clusterDir}; start it first`, { component: 'real node' });
  return s;
}
