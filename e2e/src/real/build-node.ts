/**
 * Builds (or reuses) the real node's binaries: kubelet and kube-proxy from the
 * same pinned `k8s.io/kubernetes` as the control plane (e2e/tools/go.mod),
 * CoreDNS from its Go module (e2e/tools/coredns, a module of its own so its
 * dependency graph leaves the control plane's alone), and the pause program
 * (e2e/images/pause). Cached in `$BERTH_CACHE_DIR/bin/real-<hash of inputs>/`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { findGo, pinnedVersions } from '../cluster/build.ts';
import { cacheDir, e2eDir, toolsDir } from '../cluster/config.ts';
import { ClusterError } from '../cluster/errors.ts';
import { withLock } from '../cluster/lock.ts';
import { log } from '../cluster/log.ts';
import { run, shellLine, tailFile } from '../cluster/proc.ts';

const RECIPE = 'berth-real-node-build-1';

export const imagesDir = resolve(e2eDir, 'images');
const corednsDir = join(toolsDir, 'coredns');
const pauseDir = join(imagesDir, 'pause');

interface Target {
  name: 'kubelet' | 'kube-proxy' | 'coredns' | 'pause';
  pkg: string;
  cwd: string;
  versioned: boolean;
}

const TARGETS: readonly Target[] = [
  { name: 'kubelet', pkg: 'k8s.io/kubernetes/cmd/kubelet', cwd: toolsDir, versioned: true },
  { name: 'kube-proxy', pkg: 'k8s.io/kubernetes/cmd/kube-proxy', cwd: toolsDir, versioned: true },
  { name: 'coredns', pkg: '.', cwd: corednsDir, versioned: false },
  { name: 'pause', pkg: '.', cwd: pauseDir, versioned: false },
];

const INPUTS = [
  join(toolsDir, 'go.mod'),
  join(toolsDir, 'go.sum'),
  join(corednsDir, 'go.mod'),
  join(corednsDir, 'go.sum'),
  join(corednsDir, 'main.go'),
  join(pauseDir, 'go.mod'),
  join(pauseDir, 'main.go'),
];

export interface NodeBinaries {
  dir: string;
  kubernetes: string;
  coredns: string;
  kubelet: string;
  'kube-proxy': string;
  corednsBin: string;
  pause: string;
  buildSeconds: Record<string, number>;
}

function key(): string {
  const h = createHash('sha256').update(RECIPE);
  for (const f of INPUTS) h.update('\0').update(readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

function corednsVersion(): string {
  const m = /github\.com\/coredns\/coredns\s+(v\S+)/.exec(readFileSync(join(corednsDir, 'go.mod'), 'utf8'));
  return m?.[1] ?? 'unknown';
}

function ldflags(t: Target, kubernetes: string): string {
  const flags = ['-s', '-w'];
  if (t.versioned) {
    const m = /^v(\d+)\.(\d+)\./.exec(kubernetes);
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      flags.push(`-X ${pkg}.gitVersion=${kubernetes}`, `-X ${pkg}.gitMajor=${m?.[1] ?? '1'}`, `-X ${pkg}.gitMinor=${m?.[2] ?? '0'}`, `-X ${pkg}.gitTreeState=clean`);
    }
  }
  return flags.join(' ');
}

function paths(dir: string, buildSeconds: Record<string, number>): NodeBinaries {
  return {
    dir,
    kubernetes: pinnedVersions().kubernetes,
    coredns: corednsVersion(),
    kubelet: join(dir, 'kubelet'),
    'kube-proxy': join(dir, 'kube-proxy'),
    corednsBin: join(dir, 'coredns'),
    pause: join(dir, 'pause'),
    buildSeconds,
  };
}

async function buildAll(dir: string): Promise<Record<string, number>> {
  const go = findGo();
  const kubernetes = pinnedVersions().kubernetes;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const logDir = join(cacheDir(), 'bin', 'logs');
  mkdirSync(logDir, { recursive: true });
  const env = { ...process.env, HOME: process.env.HOME ?? homedir(), CGO_ENABLED: '0', GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim() };
  const buildSeconds: Record<string, number> = {};
  log.info({ dir }, 'Building kubelet, kube-proxy, CoreDNS and pause (cold: several minutes on 2 cores)');
  for (const t of TARGETS) {
    const started = Date.now();
    const args = ['build', '-trimpath', '-ldflags', ldflags(t, kubernetes), '-o', join(partial, t.name), t.pkg];
    const r = await run(go, args, { cwd: t.cwd, env });
    const logFile = join(logDir, `real-${t.name}.log`);
    writeFileSync(logFile, `$ (cd ${t.cwd} && ${shellLine(go, args)})\n${r.stdout}${r.stderr}exit ${r.code}\n`);
    if (r.code !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new ClusterError('E2E_BUILD_FAILED', `go build ${t.pkg} (in ${t.cwd}) exited with ${r.code}`, { component: t.name, logFile, logTail: tailFile(logFile, 30) });
    }
    buildSeconds[t.name] = Math.round((Date.now() - started) / 100) / 10;
    log.info({ component: t.name, seconds: buildSeconds[t.name] }, `Built ${t.name}`);
  }
  writeFileSync(join(partial, 'manifest.json'), `${JSON.stringify({ recipe: RECIPE, kubernetes, coredns: corednsVersion(), buildSeconds, builtAt: new Date().toISOString() }, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return buildSeconds;
}

/** The real node's binaries, built first when the cache has none for the current inputs. */
export async function ensureNodeBinaries(): Promise<NodeBinaries> {
  const dir = join(cacheDir(), 'bin', `real-${key()}`);
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) {
    await withLock(`${dir}.lock`, 'building the real node binaries', 60 * 60_000, async () => {
      if (!existsSync(manifest)) await buildAll(dir);
    });
  }
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { buildSeconds: Record<string, number> };
  return paths(dir, m.buildSeconds);
}
