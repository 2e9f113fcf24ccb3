/**
 * Where the real node lives and which addresses it uses.
 *
 * One real node per machine: it owns a Linux bridge, a private /24 on it and
 * a few iptables chains, so a machine-wide lock guards it. Every address is
 * on this machine: loopback, or the bridge and the pods' network namespaces
 * behind it. Nothing is routed off the machine (see network.ts).
 */
import { join } from 'node:path';
import { ports as clusterPorts } from '../cluster/config.ts';

export const NODE_NAME = 'berth-node';
export const BRIDGE = 'berth-br0';
/** The pods' /24 on the bridge; the bridge holds the gateway, which is also the node's IP. */
export const POD_SUBNET = '10.244.0.0/24';
export const NODE_IP = '10.244.0.1';
/** kube-dns's ClusterIP (inside the control plane's service range 10.96.0.0/16). */
export const DNS_SERVICE_IP = '10.96.0.10';
export const SERVICE_CIDR = '10.96.0.0/16';
export const CLUSTER_DOMAIN = 'cluster.local';
/** Taint put on the simulated kwok nodes while a real node runs, so pods land on the real one. */
export const SIMULATED_TAINT = { key: 'berth.dev/simulated', value: 'true', effect: 'NoSchedule' } as const;

/** Ports on the node IP (the bridge): reachable from pods and from this host, nowhere else. */
export const NODE_PORTS = {
  kubelet: 10250,
  /** Pods reach the apiserver here (the `kubernetes` Service's endpoint); forwarded to its loopback port. */
  apiserver: 443,
  dns: 53,
  dnsHealth: 8080,
  dnsReady: 8181,
} as const;

/** Loopback ports, after the six the control plane uses (same 10-port slot). */
export function loopbackPorts(dir: string): { kubeletHealthz: number; proxyHealthz: number; proxyMetrics: number } {
  const p = clusterPorts(dir);
  return { kubeletHealthz: p.etcd + 6, proxyHealthz: p.etcd + 7, proxyMetrics: p.etcd + 8 };
}

/** Machine-wide: the bridge and iptables chains exist once. */
export const MACHINE_LOCK = '/run/berth-real-node.lock';
/** Which cluster dir holds the real node now (machine-wide, next to the lock). */
export const MACHINE_OWNER_FILE = '/run/berth-real-node.owner';

/** iptables chains of the real node (filter table), jumped to from INPUT and FORWARD. */
export const CHAIN_FORWARD = 'BERTH-REAL-FORWARD';
export const CHAIN_INPUT = 'BERTH-REAL-INPUT';

/** The cgroup parent of every pod (under each mounted hierarchy). */
export const CGROUP_ROOT = '/berth-real';

export interface RealPaths {
  root: string;
  state: string;
  logs: string;
  pki: string;
  containerdDir: string;
  containerdConfig: string;
  containerdSocket: string;
  containerdRoot: string;
  containerdState: string;
  runcRoot: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletDir: string;
  kubeletCertDir: string;
  kubeletConfig: string;
  kubeProxyConfig: string;
  corefile: string;
}

/** Every path of the real node, under `<cluster dir>/real/`. */
export function realPaths(clusterDir: string): RealPaths {
  const root = join(clusterDir, 'real');
  const containerdDir = join(root, 'containerd');
  return {
    root,
    state: join(root, 'state.json'),
    logs: join(clusterDir, 'logs'),
    pki: join(root, 'pki'),
    containerdDir,
    containerdConfig: join(containerdDir, 'config.toml'),
    containerdSocket: join(containerdDir, 'containerd.sock'),
    containerdRoot: join(containerdDir, 'root'),
    containerdState: join(containerdDir, 'state'),
    runcRoot: join(containerdDir, 'runc'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniIpamDir: join(root, 'cni', 'ipam'),
    kubeletDir: join(root, 'kubelet'),
    kubeletCertDir: join(root, 'kubelet-pki'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    kubeProxyConfig: join(root, 'kube-proxy.yaml'),
    corefile: join(root, 'Corefile'),
  };
}

export const REAL_COMPONENTS = ['containerd', 'apiserver-forward', 'coredns', 'kube-proxy', 'kubelet'] as const;
export type RealComponent = (typeof REAL_COMPONENTS)[number];
