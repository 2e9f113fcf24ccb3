/**
 * A validated runtime config handed from the launcher to the server it
 * becomes. The launcher re-executes itself with the server's Node flags
 * (bin/berth.mjs); it validates the config first and passes the result in
 * the environment, so the long-running process never loads the schema
 * library (zod) or the YAML parser: about 7 MB resident in every pod.
 *
 * The hand-off is accepted only by the process that made it (the pid
 * survives execve) and for the same command line; anything else is ignored
 * and the server validates the config itself, as it does when the launcher
 * could not re-execute.
 */
import type { RuntimeConfig } from '../config/runtime-config.ts';

const VARIABLE = 'BERTH_RESOLVED_CONFIG';
/** Linux caps one environment string at 128 KiB; a larger config is validated by the server instead. */
const MAX_BYTES = 100_000;

interface HandOff {
  pid: number;
  argv: string[];
  config: RuntimeConfig;
}

/** The environment entry carrying `config` for the server this process execs into (empty when too large). */
export function resolvedConfigEnv(config: RuntimeConfig, argv: readonly string[], pid = process.pid): Record<string, string> {
  const text = JSON.stringify({ pid, argv: [...argv], config } satisfies HandOff);
  return Buffer.byteLength(text) <= MAX_BYTES ? { [VARIABLE]: text } : {};
}

/**
 * The config the launcher validated for this process and command line, or
 * undefined. Removes the entry from `env` either way, so no child inherits it.
 */
export function takeResolvedConfig(env: NodeJS.ProcessEnv, argv: readonly string[], pid = process.pid): RuntimeConfig | undefined {
  const text = env[VARIABLE];
  if (text === undefined) return undefined;
  delete env[VARIABLE];
  let handOff: Partial<HandOff>;
  try {
    handOff = JSON.parse(text) as Partial<HandOff>;
  } catch {
    return undefined;
  }
  const sameArgv = Array.isArray(handOff.argv) && handOff.argv.length === argv.length && handOff.argv.every((a, i) => a === argv[i]);
  if (handOff.pid !== pid || !sameArgv || typeof handOff.config !== 'object' || handOff.config === null) return undefined;
  return handOff.config;
}
