/** `berth run -f FILE`: serve an McpServer manifest locally. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isPackageInstalled, installPackage } from '../backend/install-package.ts';
import type { LocalRunOptions } from '../config/manifest.ts';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import { parseFlags, required } from './args.ts';
import { RUN_USAGE } from './help.ts';
import { EXIT_OK, UsageError, type CliIO } from './io.ts';
import { takeResolvedConfig } from './resolved-config.ts';
import { serveUntilStopped } from './serve.ts';

export const RUN_FLAGS = {
  file: { type: 'string', short: 'f' },
  host: { type: 'string' },
  port: { type: 'string' },
  redis: { type: 'string' },
  'secrets-dir': { type: 'string' },
  'configmaps-dir': { type: 'string' },
  'packages-dir': { type: 'string' },
  'log-level': { type: 'string' },
  stdio: { type: 'boolean' },
} as const;

type RunValues = ReturnType<typeof parseFlags<typeof RUN_FLAGS>>['values'];

export async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, RUN_FLAGS);
  if (values.help) {
    io.stdout.write(RUN_USAGE);
    return EXIT_OK;
  }
  const config = takeResolvedConfig(io.env, ['run', ...argv]) ?? (await runConfig(values, io));
  await ensureModulePackage(config, io);
  if (values.stdio) return serveOverStdio(config, io);
  return serveUntilStopped(config, io);
}

/** The validated config `berth run` serves: the manifest and the flags. Loads the schemas. */
export async function runConfig(values: RunValues, io: CliIO): Promise<RuntimeConfig> {
  const { loadLocalRuntimeConfig, parsePort } = await import('../config/manifest.ts');
  const file = resolve(io.cwd, required(values.file, '-f/--file'));
  const fromCwd = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(io.cwd, p));
  const opts: Omit<LocalRunOptions, 'manifestDir'> = { env: io.env };
  if (values.host !== undefined) opts.host = values.host;
  if (values.port !== undefined) opts.port = parsePort(values.port, '--port');
  if (values.redis !== undefined) opts.redisUrl = values.redis;
  if (values['log-level'] !== undefined) opts.logLevel = values['log-level'];
  const secretsDir = fromCwd(values['secrets-dir']);
  if (secretsDir) opts.secretsDir = secretsDir;
  const configMapsDir = fromCwd(values['configmaps-dir']);
  if (configMapsDir) opts.configMapsDir = configMapsDir;
  const packagesDir = fromCwd(values['packages-dir']);
  if (packagesDir) opts.packagesDir = packagesDir;
  return loadLocalRuntimeConfig(file, opts);
}

/** Installs `spec.source.module.package` under the packages folder once (stdio sources install their own). */
async function ensureModulePackage(config: RuntimeConfig, io: CliIO): Promise<void> {
  const spec = config.spec.source.module?.package;
  if (!spec || isPackageInstalled(spec, config.runtime.packagesDir)) return;
  io.stderr.write(`berth run: installing ${spec} into ${config.runtime.packagesDir}\n`);
  await installPackage(spec, config.runtime.packagesDir, { onOutput: (line) => io.stderr.write(`npm: ${line}\n`) });
}

/** `--stdio`: one client over stdin/stdout, served by ./serve-stdio.ts when this build has it. */
async function serveOverStdio(config: RuntimeConfig, io: CliIO): Promise<number> {
  const target = new URL('./serve-stdio.ts', import.meta.url);
  if (!existsSync(target)) throw new UsageError('--stdio: serving over stdio is not available in this build');
  const mod = (await import(target.href)) as { runStdio?: (config: RuntimeConfig, io: CliIO) => Promise<number> };
  if (typeof mod.runStdio !== 'function') throw new Error('serve-stdio.ts does not export runStdio(config, io)');
  return mod.runStdio(config, io);
}
