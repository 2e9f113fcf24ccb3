/**
 * A `node --test --test-global-setup=<this file>` module: brings the cluster
 * up once before all test files (building the binaries if needed) and down
 * after them, so the test processes share one cluster and nothing is left
 * running.
 *
 * - A cluster started with `npm run cluster -- up`, or by another test run
 *   that is still going, is reused and left alone.
 * - One started by `ensureCluster()` in other test processes, or left behind
 *   by an interrupted run, is adopted: this run stops it at the end, unless
 *   test processes of others still use it — then they stop it when they exit.
 */
import { ensureBinaries } from './build.ts';
import { clusterDir } from './config.ts';
import { down, up, writeState } from './control-plane.ts';
import { log } from './log.ts';
import { pidAlive } from './proc.ts';

let ours = false;

export async function globalSetup(): Promise<void> {
  const bins = await ensureBinaries();
  const state = await up(bins, {
    owner: 'suite',
    whileLocked: (s, reused) => {
      ours = !reused;
      if (reused && (s.owner === 'helper' || (s.owner === 'suite' && !pidAlive(s.ownerPid)))) {
        s.owner = 'suite';
        s.ownerPid = process.pid;
        writeState(s);
        ours = true;
      }
    },
  });
  log.info({ kubeconfig: state.kubeconfig, owner: state.owner, ours }, ours ? 'Cluster ready for the test run' : 'Reused a cluster that others own');
}

export async function globalTeardown(): Promise<void> {
  if (ours) await down(clusterDir(), { unlessUsed: true });
}
