/**
 * `npm run cluster -- <command>`: the local Kubernetes control plane.
 *
 *   up       build (or reuse) the binaries, start the cluster (or reuse a
 *            running one); the last line printed is the kubeconfig path
 *   up --real  also a real node (containerd, kubelet, kube-proxy, CoreDNS;
 *            e2e/src/real, docs/real-cluster.md)
 *   down     stop everything `up` started
 *   status   what runs, health, memory (exit 0 healthy, 1 degraded, 3 stopped)
 *   build    only build (or reuse) the binaries
 *   env      print `export KUBECONFIG=...`
 *   logs [component] [lines]   the tail of a component's log
 */
import { ensureBinaries } from './build.ts';
import { COMPONENTS, clusterDir, type Component } from './config.ts';
import { down, kubeconfigPath, status, up } from './control-plane.ts';
import { ClusterError } from './errors.ts';
import { tailFile } from './proc.ts';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const USAGE = `usage: npm run cluster -- <up [--real]|down|status|build|env|logs [component] [lines]>
  state dir: ${clusterDir()} (BERTH_CLUSTER_DIR)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const real = rest.includes('--real');
      if (real) (await import('../real/cli-hook.ts')).prepareRealEnv();
      const bins = await ensureBinaries();
      let reused = false;
      const state = await up(bins, { owner: 'cli', whileLocked: (_s, r) => (reused = r) });
      out(reused ? `Cluster already running in ${state.dir}` : `Cluster started in ${state.upSeconds} s in ${state.dir}`);
      out(`  kubernetes ${state.versions.kubernetes}, etcd ${state.versions.etcd}, kwok ${state.versions.kwok}`);
      out(`  apiserver  ${state.server}`);
      out(`  kubectl    ${bins.kubectl} --kubeconfig ${state.kubeconfig}`);
      if (real) for (const line of await (await import('../real/cli-hook.ts')).realUp(state)) out(line);
      out(state.kubeconfig);
      return 0;
    }
    case 'down': {
      const realLine = await (await import('../real/cli-hook.ts')).realDown(clusterDir());
      if (realLine) out(realLine);
      out((await down()) === 'stopped' ? 'Cluster stopped' : 'No cluster was running');
      return 0;
    }
    case 'status': {
      const s = await status();
      if (!s.state) {
        out(`No cluster in ${s.dir}`);
        return 3;
      }
      out(`Cluster in ${s.dir} (started ${s.state.startedAt} by ${s.state.owner}, ${s.state.server})`);
      out(`${'component'.padEnd(25)}${'pid'.padEnd(9)}${'state'.padEnd(11)}rss`);
      for (const c of s.components) {
        const st = c.healthy ? 'healthy' : c.running ? 'UNHEALTHY' : 'STOPPED';
        out(`${c.name.padEnd(25)}${String(c.pid ?? '-').padEnd(9)}${st.padEnd(11)}${c.rssMiB === undefined ? '-' : `${c.rssMiB} MiB`}`);
      }
      for (const line of (await import('../real/cli-hook.ts')).realStatusLines(s.dir)) out(line);
      const total = s.components.reduce((a, c) => a + (c.rssMiB ?? 0), 0);
      out(`${'total'.padEnd(45)}${Math.round(total)} MiB`);
      out(s.state.kubeconfig);
      return s.healthy ? 0 : s.anyRunning ? 1 : 3;
    }
    case 'build': {
      const bins = await ensureBinaries();
      out(`kubernetes ${bins.versions.kubernetes}, etcd ${bins.versions.etcd}, kwok ${bins.versions.kwok}`);
      out(bins.dir);
      return 0;
    }
    case 'env': {
      out(`export KUBECONFIG=${kubeconfigPath(clusterDir())}`);
      return 0;
    }
    case 'logs': {
      const names = rest[0] ? [rest[0]] : [...COMPONENTS];
      const lines = Number.parseInt(rest[1] ?? '40', 10);
      for (const name of names) {
        if (!(COMPONENTS as readonly string[]).includes(name)) {
          process.stderr.write(`unknown component ${name}; one of ${COMPONENTS.join(', ')}\n`);
          return 2;
        }
        const s = await status();
        const c = s.components.find((x) => x.name === (name as Component));
        out(`==> ${c?.log} <==`);
        out(tailFile(c?.log ?? '', lines));
      }
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof ClusterError) {
    process.stderr.write(`\n${err.message}\n`);
  } else {
    process.stderr.write(`\n${(err as Error).stack ?? String(err)}\n`);
  }
  process.exitCode = 1;
}
