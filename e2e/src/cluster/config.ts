/**
 * Where things live and which ports the local control plane uses.
 *
 * Environment:
 * - `BERTH_CACHE_DIR`   built binaries (default `~/.cache/berth`), shared by
 *                       every checkout on the machine (CI clones elsewhere).
 * - `BERTH_CLUSTER_DIR` state of one cluster: pids, logs, certificates, etcd
 *                       data, kubeconfig (default `e2e/.cluster`).
 * - `BERTH_CLUSTER_PORT_BASE` first of six consecutive loopback ports
 *                       (default: derived from the cluster dir, 24000–24990).
 * - `BERTH_CLUSTER_START_TIMEOUT_MS` how long each component may take to
 *                       become healthy (default 120000; the machine is shared).
 */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const e2eDir = resolve(import.meta.dirname, '..', '..');
export const toolsDir = join(e2eDir, 'tools');
/** Git-ignored folder of links to the cached binaries, for people. */
export const localBinDir = join(e2eDir, '.bin');

export function cacheDir(): string {
  return resolve(process.env.BERTH_CACHE_DIR ?? join(homedir(), '.cache', 'berth'));
}

export function clusterDir(): string {
  return resolve(process.env.BERTH_CLUSTER_DIR ?? join(e2eDir, '.cluster'));
}

/** Components in start order; stopped in reverse. */
export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface Ports {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

/**
 * Ports below Linux's ephemeral range (32768+) so outgoing connections never
 * take them, away from Kubernetes' defaults (2379, 6443, 10257, 10259), and
 * distinct per cluster dir so two checkouts on one machine don't collide.
 */
export function ports(dir: string = clusterDir()): Ports {
  const fromEnv = process.env.BERTH_CLUSTER_PORT_BASE;
  let base: number;
  if (fromEnv) {
    base = Number.parseInt(fromEnv, 10);
    if (!Number.isInteger(base) || base < 1024 || base > 65529) {
      throw new Error(`BERTH_CLUSTER_PORT_BASE must be an integer in 1024..65529, got ${JSON.stringify(fromEnv)}`);
    }
  } else {
    const slot = createHash('sha256').update(dir).digest().readUInt16BE(0) % 100;
    base = 24000 + slot * 10;
  }
  return {
    etcd: base,
    etcdPeer: base + 1,
    apiserver: base + 2,
    controllerManager: base + 3,
    scheduler: base + 4,
    kwok: base + 5,
  };
}

export function startTimeoutMs(): number {
  const v = Number.parseInt(process.env.BERTH_CLUSTER_START_TIMEOUT_MS ?? '', 10);
  return Number.isInteger(v) && v > 0 ? v : 120_000;
}

/** Cluster-internal address ranges. Nothing routes them: never dial them. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const SERVICE_IP = '10.96.0.1';
export const POD_CIDR = '10.244.0.0/16';
export const NODE_NAMES = ['kwok-node-0', 'kwok-node-1', 'kwok-node-2'] as const;
export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;
