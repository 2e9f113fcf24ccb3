/**
 * A `node --test --test-global-setup=<this file>` module: brings the cluster
 * up once before all test files (building the binaries if needed) and down
 * after them, so test processes share one cluster and nothing is left
 * running. A cluster that was already running (`npm run cluster -- up`) is
 * reused and left alone; one left behind by an interrupted run is adopted.
 */
import { ensureBinaries } from './build.ts';
import { clusterDir } from './config.ts';
import { type ClusterState, down, up, writeState } from './control-plane.ts';
import { log } from './log.ts';
import { pidAlive } from './proc.ts';

let startedHere = false;

export async function globalSetup(): Promise<void> {
  const bins = await ensureBinaries();
  let reused = false;
  const state: ClusterState = await up(bins, {
    owner: 'suite',
    whileLocked: (s, r) => {
      reused = r;
      if (r && s.owner === 'suite' && !pidAlive(s.ownerPid)) {
        s.ownerPid = process.pid; // left behind by an interrupted run: ours now
        writeState(s);
        reused = false;
      }
    },
  });
  startedHere = !reused;
  log.info({ kubeconfig: state.kubeconfig, reused }, reused ? 'Reused the running cluster for the test run' : 'Started the cluster for the test run');
}

export async function globalTeardown(): Promise<void> {
  if (startedHere) {
    await down(clusterDir());
    log.debug('Stopped the cluster after the test run');
  }
}
