/**
 * The `module` backend: an ES module whose export is an MCP server factory,
 * served in-process from a pool of instances.
 */
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../../config/runtime-config.ts';
import type { Backend } from '../types.ts';
import { createModuleBackend, type ModuleBackendOptions } from './backend.ts';
import { loadFactory, resolveModuleLocation } from './loader.ts';

export { createModuleBackend, bindingKey, defaultInitialize, type ModuleBackendOptions } from './backend.ts';
export { ModuleLoadError, loadFactory, resolveModuleLocation, type ModuleLocation } from './loader.ts';
export { resolvePackageEntry, PackageResolveError } from './package.ts';
export type { BerthFactoryContext, BerthModuleContext, BerthNotify, BerthServerFactory, CurrentExchange } from './context.ts';
export { DEFAULT_POOL, type PoolOptions } from './pool.ts';

/** Builds the module backend a runtime config describes (`spec.source.module`). */
export function createModuleBackendFromConfig(config: RuntimeConfig, logger: Logger, pool?: ModuleBackendOptions['pool']): Backend {
  const source = config.spec.source.module;
  if (!source) throw new TypeError('spec.source.module is not set');
  const location = resolveModuleLocation(source, config.runtime);
  const opts: ModuleBackendOptions = {
    tenant: `${config.tenant.namespace}/${config.tenant.name}`,
    logger,
    label: location.label,
    load: () => loadFactory(location),
  };
  if (pool) opts.pool = pool;
  return createModuleBackend(opts);
}
