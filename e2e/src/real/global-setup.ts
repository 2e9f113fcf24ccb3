/**
 * `node --test --test-global-setup=<this file>` for e2e/test-real: brings up
 * the control plane and the real node once (building binaries and images
 * first), installs nothing else, and takes everything down after the run —
 * processes, mounts, cgroups, the bridge and every iptables rule. A cluster
 * started with `npm run cluster -- up --real` is reused and left running.
 *
 * Writes what it measured to `<cluster dir>/real-report.json`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinaries } from '../cluster/build.ts';
import { clusterDir } from '../cluster/config.ts';
import { down, up } from '../cluster/control-plane.ts';
import { log } from '../cluster/log.ts';
import { prepareRealEnv } from './cli-hook.ts';
import { leftoverRules } from './network.ts';
import { downReal, mountsUnder, realRunning, upReal } from './node.ts';
import { realClusterDir } from './test-real.ts';

let oursControlPlane = false;
let oursNode = false;

export async function globalSetup(): Promise<void> {
  process.env.BERTH_CLUSTER_DIR ??= realClusterDir();
  prepareRealEnv();
  const started = Date.now();
  const bins = await ensureBinaries();
  const state = await up(bins, { owner: 'suite', whileLocked: (_s, reused) => (oursControlPlane = !reused) });
  const controlPlaneSeconds = (Date.now() - started) / 1000;
  oursNode = !realRunning(state.dir);
  const r = await upReal(state, { productImages: true });
  const report = {
    at: new Date().toISOString(),
    controlPlaneSeconds,
    nodeStartSeconds: r.state.nodeStartSeconds,
    setupSeconds: (Date.now() - started) / 1000,
    images: r.state.images,
  };
  writeFileSync(join(state.dir, 'real-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log.info(report, 'Real node ready for the test run');
}

export async function globalTeardown(): Promise<void> {
  const dir = clusterDir();
  if (oursNode) await downReal(dir);
  if (oursControlPlane) await down(dir);
  if (oursNode) {
    const rules = await leftoverRules();
    const mounts = mountsUnder(dir);
    if (rules.length > 0 || mounts.length > 0) {
      log.error({ rules, mounts }, 'The real node left iptables rules or mounts behind');
      process.exitCode = 1;
    }
  }
}
