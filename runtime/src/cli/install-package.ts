/** `berth install-package SPEC --dir DIR` (also the init container of packaged sources). */
import { resolve } from 'node:path';
import { installPackage } from '../backend/install-package.ts';
import { parseFlags, required } from './args.ts';
import { INSTALL_USAGE } from './help.ts';
import { EXIT_OK, UsageError, type CliIO } from './io.ts';

const SPEC = /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(@[\w.^~<>=*|+-]+)?$/i;

export async function installPackageCommand(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseFlags(argv, { dir: { type: 'string' } }, true);
  if (values.help) {
    io.stdout.write(INSTALL_USAGE);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`expected exactly one package spec, got ${positionals.length}`);
  const spec = positionals[0] as string;
  if (!SPEC.test(spec)) throw new UsageError(`"${spec}" is not an npm package spec like "@scope/name@1.2.3"`);
  const dir = resolve(io.cwd, required(values.dir, '--dir'));
  const installed = await installPackage(spec, dir, { onOutput: (line) => io.stderr.write(`npm: ${line}\n`) });
  io.stdout.write(`installed ${installed.name}@${installed.version} in ${installed.dir}\n`);
  return EXIT_OK;
}
