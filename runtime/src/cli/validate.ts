/** `berth validate -f FILE`. */
import { resolve } from 'node:path';
import { loadManifest } from '../config/manifest.ts';
import { parseFlags, required } from './args.ts';
import { VALIDATE_USAGE } from './help.ts';
import { EXIT_OK, type CliIO } from './io.ts';

export async function validateCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, { file: { type: 'string', short: 'f' } });
  if (values.help) {
    io.stdout.write(VALIDATE_USAGE);
    return EXIT_OK;
  }
  const file = resolve(io.cwd, required(values.file, '-f/--file'));
  const manifest = loadManifest(file);
  const source = (['module', 'stdio', 'remote'] as const).find((k) => manifest.spec.source[k] !== undefined);
  io.stdout.write(`OK ${file}: McpServer ${manifest.metadata.namespace}/${manifest.metadata.name} (${source} source)\n`);
  return EXIT_OK;
}
