/** Finds and imports the ES module a `module` source names, and picks its factory export. */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RuntimeSettings } from '../../config/runtime-config.ts';
import type { McpServerSpec } from '../../config/spec.ts';
import type { BerthServerFactory } from './context.ts';
import { resolvePackageEntry } from './package.ts';
import { installRuntimePackageFallback } from './sdk-fallback-resolve.ts';

export type ModuleSourceSpec = NonNullable<McpServerSpec['source']['module']>;

export interface ModuleLocation {
  /** Absolute file path to import. */
  file: string;
  /** How the module is named in errors and logs. */
  label: string;
  exportName: string;
}

/** A module that cannot be found, imported, or lacks a factory export. The CLI exits 2 when `config` is set. */
export class ModuleLoadError extends Error {
  override readonly name = 'ModuleLoadError';
  /** True for problems the config can fix (missing file, wrong export name). */
  readonly config: boolean;
  constructor(message: string, config: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.config = config;
  }
}

/** Resolves where the module lives (pure apart from the package manifest read). */
export function resolveModuleLocation(source: ModuleSourceSpec, runtime: Pick<RuntimeSettings, 'baseDir' | 'packagesDir' | 'configMapsDir'>): ModuleLocation {
  const exportName = source.export ?? 'default';
  if (source.path !== undefined) {
    const file = isAbsolute(source.path) ? source.path : resolve(runtime.baseDir, source.path);
    return { file, label: `spec.source.module.path ${source.path}`, exportName };
  }
  if (source.configMapRef !== undefined) {
    const { name, key } = source.configMapRef;
    return { file: join(resolve(runtime.configMapsDir), name, key), label: `spec.source.module.configMapRef ${name}/${key}`, exportName };
  }
  if (source.package !== undefined) {
    try {
      return { file: resolvePackageEntry(source.package, resolve(runtime.packagesDir)), label: `spec.source.module.package ${source.package}`, exportName };
    } catch (error) {
      throw new ModuleLoadError(`spec.source.module.package ${source.package}: ${(error as Error).message}`, true, error);
    }
  }
  throw new ModuleLoadError('spec.source.module: exactly one of package, configMapRef, path is required', true);
}

/** Imports the module and returns its factory export. */
export async function loadFactory(location: ModuleLocation): Promise<BerthServerFactory> {
  if (!existsSync(location.file)) {
    throw new ModuleLoadError(`${location.label}: file not found: ${location.file}`, true);
  }
  installRuntimePackageFallback();
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(location.file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ModuleLoadError(`${location.label}: cannot import ${location.file}: ${(error as Error)?.message ?? String(error)}`, false, error);
  }
  const factory = namespace[location.exportName];
  if (typeof factory !== 'function') {
    const available = Object.keys(namespace).filter((k) => typeof namespace[k] === 'function');
    throw new ModuleLoadError(
      `${location.label}: export "${location.exportName}" is ${factory === undefined ? 'missing' : `a ${typeof factory}`}, expected an MCP server factory function` +
        (available.length ? ` (function exports: ${available.join(', ')})` : ''),
      true,
    );
  }
  return factory as BerthServerFactory;
}
