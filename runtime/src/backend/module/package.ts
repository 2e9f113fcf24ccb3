/**
 * npm packages named by `source.*.package`: installed once under a packages
 * directory (`berth run` does it on demand; in a cluster an init container
 * runs `berth install-package` with the same code) and resolved from there.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Splits `@scope/name@1.2.3` into name and version range. */
export function parsePackageSpec(spec: string): { name: string; range: string | undefined } {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  if (at < 0) return { name: spec, range: undefined };
  return { name: spec.slice(0, at), range: spec.slice(at + 1) || undefined };
}

/** Directory of an installed package under `dir`. */
export function packageDir(dir: string, name: string): string {
  return join(dir, 'node_modules', ...name.split('/'));
}

const EXACT_VERSION = /^\d+\.\d+\.\d+(?:[-+][\w.+-]*)?$/;

/** Whether `spec` is installed under `dir` (an exact version must match; a range accepts what is there). */
export function isPackageInstalled(spec: string, dir: string): boolean {
  const { name, range } = parsePackageSpec(spec);
  const manifest = join(packageDir(dir, name), 'package.json');
  if (!existsSync(manifest)) return false;
  if (range === undefined || !EXACT_VERSION.test(range)) return true;
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version === range;
  } catch {
    return false;
  }
}

export interface InstallOptions {
  /** Run the package's install scripts (off by default: tenant code should not run at install time). */
  allowScripts?: boolean;
  /** npm executable (default `npm` from PATH). */
  npm?: string;
  /** Receives npm's output lines. */
  onOutput?: (line: string) => void;
  signal?: AbortSignal;
}

export class PackageInstallError extends Error {
  override readonly name = 'PackageInstallError';
}

/** Runs `npm install --prefix <dir> <spec>`; resolves when the package is in place. */
export async function installPackage(spec: string, dir: string, options: InstallOptions = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const args = ['install', '--prefix', dir, '--no-audit', '--no-fund', '--omit=dev', '--no-package-lock', '--loglevel=error'];
  if (!options.allowScripts) args.push('--ignore-scripts');
  args.push(spec);
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(options.npm ?? 'npm', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        output.push(line);
        options.onOutput?.(line);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((error: Error) => {
    throw new PackageInstallError(`cannot run npm to install ${spec}: ${error.message}`);
  });
  if (code !== 0) {
    throw new PackageInstallError(`npm install ${spec} failed (exit ${code})${output.length ? `:\n${output.slice(-20).join('\n')}` : ''}`);
  }
  if (!isPackageInstalled(spec, dir)) throw new PackageInstallError(`npm install ${spec} finished but ${parsePackageSpec(spec).name} is not under ${dir}`);
}

type ExportsField = string | null | ExportsField[] | { [key: string]: ExportsField };

const CONDITIONS = ['import', 'node', 'default'];

function pickTarget(value: ExportsField): string | undefined {
  if (typeof value === 'string') return value;
  if (value === null) return undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const hit = pickTarget(item);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (CONDITIONS.includes(key)) {
      const hit = pickTarget(inner);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** The ES module entry point of an installed package (its `exports["."]`, `module` or `main`). */
export function resolvePackageEntry(spec: string, dir: string): string {
  const { name } = parsePackageSpec(spec);
  const root = packageDir(dir, name);
  const manifestPath = join(root, 'package.json');
  if (!existsSync(manifestPath)) {
    throw new PackageInstallError(`package ${name} is not installed under ${dir} (run: berth install-package ${spec} --dir ${dir})`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: ExportsField; module?: string; main?: string };
  let target: string | undefined;
  if (manifest.exports !== undefined) {
    const exp = manifest.exports;
    const dot = typeof exp === 'object' && exp !== null && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.')) ? exp['.'] : exp;
    target = dot === undefined ? undefined : pickTarget(dot);
    if (!target) throw new PackageInstallError(`package ${name} exports no ES module entry point (package.json "exports" has no import/default target for ".")`);
  } else {
    target = manifest.module ?? manifest.main ?? 'index.js';
  }
  return join(root, target);
}
