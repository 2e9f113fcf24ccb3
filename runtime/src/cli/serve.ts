/** `berth serve --config FILE`: the container entry point. */
import { loadServeConfig } from '../config/load.ts';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import { parseFlags } from './args.ts';
import { SERVE_USAGE } from './help.ts';
import { EXIT_OK, type CliIO } from './io.ts';
import { takeResolvedConfig } from './resolved-config.ts';

export const SERVE_FLAGS = { config: { type: 'string', short: 'c' } } as const;

export async function serveCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, SERVE_FLAGS);
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return EXIT_OK;
  }
  const config = takeResolvedConfig(io.env, ['serve', ...argv]) ?? (await loadServeConfig(values.config, io.env));
  return serveUntilStopped(config, io);
}

/** Starts the runtime and resolves with the exit status once it has stopped (signals drain it). */
export async function serveUntilStopped(config: RuntimeConfig, io: CliIO): Promise<number> {
  const { startRuntime } = await import('../main.ts');
  const runtime = await startRuntime(config, { env: io.env });
  return runtime.stopped;
}
