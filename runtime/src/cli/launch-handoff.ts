/** What the launcher validates before it re-executes into the server (see resolved-config.ts). */
import { parseFlags } from './args.ts';
import type { CliIO } from './io.ts';
import { resolvedConfigEnv } from './resolved-config.ts';
import { RUN_FLAGS, runConfig } from './run.ts';
import { SERVE_FLAGS } from './serve.ts';
import { loadServeConfig } from '../config/load.ts';

/**
 * The environment entries handing the validated config of `berth <argv>` to
 * the exec'd server. Empty for other commands, `--help`, and any failure:
 * the server then validates again and reports the failure itself, so the
 * user sees one error from one place.
 */
export async function launchHandOff(argv: readonly string[], io: CliIO): Promise<Record<string, string>> {
  const [command, ...rest] = argv;
  try {
    if (command === 'run') {
      const { values } = parseFlags(rest, RUN_FLAGS);
      if (!values.help) return resolvedConfigEnv(await runConfig(values, io), argv);
    } else if (command === 'serve') {
      const { values } = parseFlags(rest, SERVE_FLAGS);
      if (!values.help) return resolvedConfigEnv(await loadServeConfig(values.config, io.env), argv);
    }
  } catch {
    // Reported by the server stage.
  }
  return {};
}
