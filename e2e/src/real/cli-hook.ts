/**
 * What `npm run cluster -- up --real | down | status` add for the real node
 * (called from e2e/src/cluster/cli.ts; loaded only when a real node is asked
 * for or exists, so the simulated cluster's commands don't pay for it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterState } from '../cluster/control-plane.ts';
import { ClusterError } from '../cluster/errors.ts';
import { run } from '../cluster/proc.ts';
import { NODE_IP, NODE_NAME, realPaths } from './config.ts';
import { downReal, realStatus, upReal } from './node.ts';

/** The apiserver must dial the kubelet by the node's IP (the node name resolves nowhere). */
export const APISERVER_REAL_ARGS = ['--kubelet-preferred-address-types=InternalIP'];

/** Adds the real node's flags to the control plane's environment, before `up`. */
export function prepareRealEnv(): void {
  const cur = process.env.BERTH_KUBE_APISERVER_ARGS ?? '';
  const missing = APISERVER_REAL_ARGS.filter((a) => !cur.includes(a));
  if (missing.length > 0) process.env.BERTH_KUBE_APISERVER_ARGS = [cur, ...missing].filter(Boolean).join(' ');
}

/** Starts (or reuses) the real node, installing missing Debian packages first; returns lines for the user. */
export async function realUp(state: ClusterState): Promise<string[]> {
  const deps = await run('bash', [join(import.meta.dirname, 'ensure-real-deps.sh')], { timeoutMs: 15 * 60_000 });
  if (deps.code !== 0) {
    throw new ClusterError('E2E_COMMAND_FAILED', `ensure-real-deps.sh exited with ${deps.code}: ${(deps.stderr || deps.stdout).trim()}`, { component: 'real node' });
  }
  const r = await upReal(state, { productImages: 'if-present' });
  const s = r.state;
  const lines = [
    r.reused ? `Real node ${NODE_NAME} already running` : `Real node ${NODE_NAME} Ready in ${s.nodeStartSeconds} s (node IP ${NODE_IP})`,
    `  kubelet/kube-proxy ${s.kubernetes}, CoreDNS ${s.coredns}, containerd ${realPaths(state.dir).containerdSocket}`,
  ];
  for (const i of s.images) lines.push(`  image ${i.ref.padEnd(48)} ${(i.archiveBytes / 1048576).toFixed(1).padStart(7)} MiB${i.cached ? ' (cached)' : ` built in ${i.seconds} s`}`);
  return lines;
}

/** Stops the real node of `dir` when there is one; returns a line for the user, or undefined. */
export async function realDown(dir: string): Promise<string | undefined> {
  if (!existsSync(realPaths(dir).root)) return undefined;
  return (await downReal(dir)) === 'stopped' ? 'Real node stopped (processes, mounts, cgroups, bridge and iptables rules removed)' : undefined;
}

/** Status lines of the real node's components, or [] when there is none. */
export function realStatusLines(dir: string): string[] {
  const s = realStatus(dir);
  if (!s) return [];
  return s.map((c) => `${c.name.padEnd(25)}${String(c.pid ?? '-').padEnd(9)}${c.running ? 'running' : 'STOPPED'}`);
}
