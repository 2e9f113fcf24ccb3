/**
 * Builds the Backend a runtime config names (`spec.source`: exactly one of
 * module | stdio | remote). Each kind lives in its own folder and exports a
 * factory `(config, logger) => Backend`; kinds load lazily, so a module
 * server never loads the stdio or remote code. Tests and embedders can
 * replace a kind with `registerBackendKind`.
 */
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import type { McpServerSpec } from '../config/spec.ts';
import type { Backend } from './types.ts';

export type SourceKind = Backend['kind'];

/** A backend factory for one source kind. */
export type BackendFactory = (config: RuntimeConfig, logger: Logger) => Backend | Promise<Backend>;

/** Where each kind's factory lives: module path and export name. */
const BUILTIN: Record<SourceKind, { path: string; exportName: string }> = {
  module: { path: './module/index.ts', exportName: 'createModuleBackendFromConfig' },
  stdio: { path: './stdio/index.ts', exportName: 'createStdioBackend' },
  remote: { path: './remote/index.ts', exportName: 'createRemoteBackend' },
};

const registry = new Map<SourceKind, BackendFactory>();

/** Overrides (or provides) the factory for a source kind. Returns a function restoring the previous one. */
export function registerBackendKind(kind: SourceKind, factory: BackendFactory): () => void {
  const previous = registry.get(kind);
  registry.set(kind, factory);
  return () => {
    if (previous) registry.set(kind, previous);
    else registry.delete(kind);
  };
}

/** The source kind of a spec (the schema guarantees exactly one). */
export function sourceKind(spec: Pick<McpServerSpec, 'source'>): SourceKind {
  const kinds = (['module', 'stdio', 'remote'] as const).filter((k) => spec.source[k] !== undefined);
  if (kinds.length !== 1 || kinds[0] === undefined) throw new Error(`spec.source: exactly one of module, stdio, remote is required (got ${kinds.join(', ') || 'none'})`);
  return kinds[0];
}

async function builtinFactory(kind: SourceKind): Promise<BackendFactory> {
  const { path, exportName } = BUILTIN[kind];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(path, import.meta.url).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(path.slice(2))) {
      throw new Error(`the ${kind} backend is not available in this build (${path} is missing)`);
    }
    throw error;
  }
  const factory = mod[exportName];
  if (typeof factory !== 'function') throw new Error(`the ${kind} backend module does not export ${exportName}()`);
  return factory as BackendFactory;
}

/** Creates (but does not start) the backend for `config.spec.source`. */
export async function createBackend(config: RuntimeConfig, logger: Logger): Promise<Backend> {
  const kind = sourceKind(config.spec);
  const factory = registry.get(kind) ?? (await builtinFactory(kind));
  return factory(config, logger);
}
