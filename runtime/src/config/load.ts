/** Loading helpers for `berth serve`: which config file, and the Redis URL from its indirections. */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.ts';
import type { RuntimeConfig, RuntimeSettings } from './runtime-config.ts';

/** The config file `berth serve` loads: `--config FILE`, else BERTH_CONFIG. */
export function serveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const path = flag ?? (env.BERTH_CONFIG || undefined);
  if (!path) throw new ConfigError('command line', ['--config: required (or set BERTH_CONFIG to the runtime config file)']);
  return path;
}

/** Loads and validates the runtime config `berth serve` runs (env overrides applied). */
export async function loadServeConfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeConfig> {
  const path = serveConfigPath(flag, env);
  // The schemas load here, not with this module, which the server imports (serve.ts, resolveRedisUrl).
  const { loadRuntimeConfigFile } = await import('./runtime-config.ts');
  return loadRuntimeConfigFile(path, env);
}

/**
 * The Redis URL of `runtime.redis`: a literal `url`, or the variable named by
 * `urlEnv`, or the file named by `urlFile` (a mounted Secret key). Undefined
 * when no Redis is configured (in-memory stores).
 */
export function resolveRedisUrl(redis: RuntimeSettings['redis'], env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!redis) return undefined;
  if (redis.url) return redis.url;
  if (redis.urlEnv) {
    const value = env[redis.urlEnv];
    if (!value) throw new ConfigError('runtime.redis', [`runtime.redis.urlEnv: environment variable ${redis.urlEnv} is not set`]);
    return value.trim();
  }
  if (redis.urlFile) {
    try {
      const value = readFileSync(redis.urlFile, 'utf8').trim();
      if (!value) throw new Error('the file is empty');
      return value;
    } catch (error) {
      throw new ConfigError('runtime.redis', [`runtime.redis.urlFile: cannot read ${redis.urlFile}: ${(error as Error).message}`]);
    }
  }
  return undefined;
}
