/** The `berth` command: dispatches to subcommands and maps failures to exit codes. */
import { existsSync, readFileSync } from 'node:fs';
import { USAGE } from './help.ts';
import { EXIT_CONFIG, EXIT_OK, reportError, type CliIO } from './io.ts';

type Command = (argv: string[], io: CliIO) => Promise<number>;

/** Built-in subcommands, loaded on use so `berth validate` never loads the server. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.ts')).runCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
  validate: async () => (await import('./validate.ts')).validateCommand,
  'install-package': async () => (await import('./install-package.ts')).installPackageCommand,
  audit: async () => {
    const target = new URL('./audit.ts', import.meta.url);
    if (!existsSync(target)) throw new Error('the audit command is not available in this build');
    const mod = (await import(target.href)) as { auditCommand?: Command };
    if (typeof mod.auditCommand !== 'function') throw new Error('audit.ts does not export auditCommand(argv, io)');
    return mod.auditCommand;
  },
};

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The process's standard streams, environment and working directory. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** Runs `berth <argv>`; resolves with the exit status. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(USAGE);
    return name === undefined ? EXIT_CONFIG : EXIT_OK;
  }
  if (name === '-v' || name === '--version') {
    io.stdout.write(`berth ${version()}\n`);
    return EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`berth: unknown command "${name}"\n\n${USAGE}`);
    return EXIT_CONFIG;
  }
  try {
    const command = await load();
    return await command(rest, io);
  } catch (error) {
    return reportError(error, io, name);
  }
}
