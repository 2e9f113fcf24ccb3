/**
 * Installs an npm package (a pinned spec from `source.*.package`) into a
 * tenant folder once: `npm install --prefix <dir> <spec>`. Later calls with
 * the same spec are no-ops, so runtimes start without touching the registry
 * once the folder is populated (for example by `berth install-package` in an
 * init step). Install scripts are not run and npm sees only a minimal
 * environment (PATH, HOME, npm settings, proxies, TLS trust): the runtime's
 * own secrets never reach it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface InstalledPackage {
  /** Package name without the version (`@scope/name`). */
  name: string;
  /** Installed version. */
  version: string;
  /** The prefix directory. */
  dir: string;
  /** `<dir>/node_modules/<name>`. */
  packageDir: string;
  /** `<dir>/node_modules/.bin`, where the package's commands are linked. */
  binDir: string;
}

export interface InstallOptions {
  /** Give up after this long (default 5 minutes). */
  timeoutMs?: number;
  /** Receives npm's output lines (stderr and stdout). */
  onOutput?: (line: string) => void;
  /** Environment of the npm process (default: PATH, HOME and npm_config_* / proxy variables of this process). */
  env?: NodeJS.ProcessEnv;
}

/** Splits `@scope/name@range` into name and range (range may be empty). */
export function parsePackageSpec(spec: string): { name: string; range: string } {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  return at < 0 ? { name: spec, range: '' } : { name: spec.slice(0, at), range: spec.slice(at + 1) };
}

const MARKER = '.berth-packages.json';
const inProgress = new Map<string, Promise<InstalledPackage>>();

function readMarker(dir: string): Record<string, string> {
  try {
    const v = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function installedVersion(dir: string, name: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

function result(dir: string, name: string, version: string): InstalledPackage {
  return { name, version, dir, packageDir: join(dir, 'node_modules', name), binDir: join(dir, 'node_modules', '.bin') };
}

function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // npm must run on the same Node as the runtime (the machine's default node may be older).
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].filter(Boolean).join(':');
  if (process.env.HOME) env.HOME = process.env.HOME;
  for (const [k, v] of Object.entries(process.env)) {
    // npm's own settings, proxies and TLS trust: configuration, not credentials of the runtime.
    if (/^(npm_config_|NPM_CONFIG_)/.test(k) || /^(HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/.test(k)) env[k] = v;
  }
  return env;
}

/**
 * Installs `spec` into `dir` unless that exact spec is already installed
 * there. Concurrent calls for the same folder are serialized.
 */
export function installPackage(spec: string, dir: string, opts: InstallOptions = {}): Promise<InstalledPackage> {
  const key = dir;
  const prev = inProgress.get(key) ?? Promise.resolve(undefined as unknown as InstalledPackage);
  const next = prev.catch(() => undefined).then(() => installNow(spec, dir, opts));
  inProgress.set(key, next);
  next.finally(() => {
    if (inProgress.get(key) === next) inProgress.delete(key);
  }).catch(() => undefined);
  return next;
}

async function installNow(spec: string, dir: string, opts: InstallOptions): Promise<InstalledPackage> {
  const { name, range } = parsePackageSpec(spec);
  const have = installedVersion(dir, name);
  if (have !== undefined && (readMarker(dir)[spec] === have || range === have || range === '')) return result(dir, name, have);
  mkdirSync(dir, { recursive: true });
  const args = ['install', '--prefix', dir, '--no-audit', '--no-fund', '--ignore-scripts', '--omit=dev', '--loglevel=warn', spec];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('npm', args, { env: opts.env ?? npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onOutput?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run npm to install ${spec}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npm install ${spec} failed (${signal ? `signal ${signal}` : `exit code ${code}`}): ${tail.slice(-5).join(' | ')}`));
    });
  });
  const version = installedVersion(dir, name);
  if (version === undefined) throw new Error(`npm install ${spec} finished but ${name} is not in ${join(dir, 'node_modules')}`);
  const marker = readMarker(dir);
  marker[spec] = version;
  writeFileSync(join(dir, MARKER), JSON.stringify(marker, null, 2) + '\n');
  return result(dir, name, version);
}

/** Whether `dir` already holds `spec` (no registry access). */
export function isPackageInstalled(spec: string, dir: string): boolean {
  const { name, range } = parsePackageSpec(spec);
  const have = installedVersion(dir, name);
  return have !== undefined && existsSync(join(dir, 'node_modules', name)) && (readMarker(dir)[spec] === have || range === have || range === '');
}
