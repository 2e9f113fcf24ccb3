/**
 * Entry-point resolution for npm packages named by `source.module.package`.
 * Installing them is shared with the stdio backend (../install-package.ts):
 * `berth run` installs on demand, a cluster's init container runs
 * `berth install-package` with the same code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePackageSpec } from '../install-package.ts';

export class PackageResolveError extends Error {
  override readonly name = 'PackageResolveError';
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
  const root = join(dir, 'node_modules', ...name.split('/'));
  const manifestPath = join(root, 'package.json');
  if (!existsSync(manifestPath)) {
    throw new PackageResolveError(`package ${name} is not installed under ${dir} (run: berth install-package ${spec} --dir ${dir})`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: ExportsField; module?: string; main?: string };
  let target: string | undefined;
  if (manifest.exports !== undefined) {
    const exp = manifest.exports;
    const dot = typeof exp === 'object' && exp !== null && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.')) ? exp['.'] : exp;
    target = dot === undefined ? undefined : pickTarget(dot);
    if (!target) throw new PackageResolveError(`package ${name} exports no ES module entry point (package.json "exports" has no import/default target for ".")`);
  } else {
    target = manifest.module ?? manifest.main ?? 'index.js';
  }
  return join(root, target);
}
