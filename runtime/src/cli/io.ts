/** What a CLI command gets to talk to the world, and how failures map to exit codes. */
import { ConfigError } from '../config/errors.ts';

export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** A command-line mistake (unknown flag, missing argument): exit 2 with a hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;

/** Errors a user fixes in the config or the command line: exit 2. */
export function isConfigProblem(error: unknown): boolean {
  if (error instanceof ConfigError || error instanceof UsageError) return true;
  const e = error as { name?: unknown; config?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'ModuleLoadError') return e.config === true;
  return e.name === 'RedisUrlError' || e.name === 'PackageResolveError';
}

/** Prints an error the way the CLI reports it and returns the exit code. */
export function reportError(error: unknown, io: CliIO, command: string): number {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) {
    io.stderr.write(`berth ${command}: ${message}\nRun "berth ${command === 'berth' ? '' : `${command} `}--help" for usage.\n`);
    return EXIT_CONFIG;
  }
  io.stderr.write(`berth ${command}: ${message}\n`);
  return isConfigProblem(error) ? EXIT_CONFIG : EXIT_FAILURE;
}
