/**
 * The real node's network, all on this machine:
 *
 * - a Linux bridge holding the pods' /24 and the node IP (its gateway);
 * - a route for the service range onto the bridge, so a ClusterIP that
 *   kube-proxy has not programmed yet goes nowhere instead of out of the
 *   machine's default route;
 * - filter rules: pods may talk to each other and to this host, never past
 *   it (no masquerade, forwarding off the bridge dropped), and may not reach
 *   the kubelet's port;
 * - net.ipv4.ip_forward=1 (pod → ClusterIP → pod is routed through the host),
 *   restored at teardown.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ClusterError } from '../cluster/errors.ts';
import { run } from '../cluster/proc.ts';
import { BRIDGE, CHAIN_FORWARD, CHAIN_INPUT, NODE_IP, NODE_PORTS, POD_SUBNET, SERVICE_CIDR } from './config.ts';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

async function cmd(file: string, args: string[]): Promise<void> {
  const r = await run(file, args);
  if (r.code !== 0) {
    throw new ClusterError('E2E_COMMAND_FAILED', `${file} ${args.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim()}`, { component: 'network' });
  }
}

/** Runs and ignores failure (teardown of what may not exist). */
async function quiet(file: string, args: string[]): Promise<boolean> {
  return (await run(file, args)).code === 0;
}

export async function bridgeExists(): Promise<boolean> {
  return quiet('ip', ['link', 'show', 'dev', BRIDGE]);
}

export interface NetworkState {
  /** ip_forward before setup, restored at teardown. */
  previousIpForward: string;
}

/** Creates the bridge, the service route, the filter chains; enables forwarding. */
export async function setupNetwork(): Promise<NetworkState> {
  await cmd('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await cmd('ip', ['addr', 'add', `${NODE_IP}/${POD_SUBNET.split('/')[1]}`, 'dev', BRIDGE]);
  await cmd('ip', ['link', 'set', BRIDGE, 'up']);
  await cmd('ip', ['route', 'add', SERVICE_CIDR, 'dev', BRIDGE, 'src', NODE_IP]);

  await cmd('iptables', ['-w', '-N', CHAIN_FORWARD]);
  await cmd('iptables', ['-w', '-A', CHAIN_FORWARD, '-i', BRIDGE, '-o', BRIDGE, '-j', 'ACCEPT']);
  await cmd('iptables', ['-w', '-A', CHAIN_FORWARD, '-i', BRIDGE, '-j', 'DROP']);
  await cmd('iptables', ['-w', '-A', CHAIN_FORWARD, '-o', BRIDGE, '-j', 'DROP']);
  await cmd('iptables', ['-w', '-I', 'FORWARD', '1', '-j', CHAIN_FORWARD]);
  await cmd('iptables', ['-w', '-N', CHAIN_INPUT]);
  await cmd('iptables', ['-w', '-A', CHAIN_INPUT, '-i', BRIDGE, '-p', 'tcp', '--dport', String(NODE_PORTS.kubelet), '-j', 'REJECT']);
  await cmd('iptables', ['-w', '-I', 'INPUT', '1', '-j', CHAIN_INPUT]);

  const previousIpForward = readFileSync(IP_FORWARD, 'utf8').trim();
  writeFileSync(IP_FORWARD, '1');
  return { previousIpForward };
}

/** Removes everything setupNetwork made (whatever of it exists). */
export async function teardownNetwork(state: NetworkState | undefined): Promise<void> {
  for (const [parent, chain] of [['FORWARD', CHAIN_FORWARD], ['INPUT', CHAIN_INPUT]] as const) {
    while (await quiet('iptables', ['-w', '-D', parent, '-j', chain])) {
      // a chain may have been jumped to twice by an interrupted setup
    }
    await quiet('iptables', ['-w', '-F', chain]);
    await quiet('iptables', ['-w', '-X', chain]);
  }
  await removeKubeletChains();
  if (await bridgeExists()) await quiet('ip', ['link', 'del', BRIDGE]);
  if (state && state.previousIpForward !== '1') writeFileSync(IP_FORWARD, state.previousIpForward);
}

/** iptables and ip6tables rules and chains (all tables) that belong to the real node, for leak checks. */
export async function leftoverRules(): Promise<string[]> {
  const out: string[] = [];
  for (const bin of ['iptables-save', 'ip6tables-save']) {
    const r = await run(bin, []);
    for (const line of r.stdout.split('\n')) {
      if (/BERTH-REAL|KUBE-|berth-br0|10\.244\.0\./.test(line)) out.push(`${bin}: ${line}`);
    }
  }
  return out;
}

/**
 * The kubelet's own chains (KUBE-FIREWALL, its canaries, kube-proxy's hint),
 * which `kube-proxy --cleanup` leaves, in both address families.
 */
async function removeKubeletChains(): Promise<void> {
  for (const bin of ['iptables', 'ip6tables']) {
    for (const parent of ['INPUT', 'OUTPUT']) {
      while (await quiet(bin, ['-w', '-t', 'filter', '-D', parent, '-j', 'KUBE-FIREWALL'])) {
        // remove every jump
      }
    }
    for (const [table, chain] of [
      ['filter', 'KUBE-FIREWALL'],
      ['filter', 'KUBE-KUBELET-CANARY'],
      ['nat', 'KUBE-KUBELET-CANARY'],
      ['mangle', 'KUBE-KUBELET-CANARY'],
      ['mangle', 'KUBE-IPTABLES-HINT'],
    ] as const) {
      if (await quiet(bin, ['-w', '-t', table, '-F', chain])) await quiet(bin, ['-w', '-t', table, '-X', chain]);
    }
  }
}
