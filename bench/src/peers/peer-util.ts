// Shared bits of the benchmark's peer servers.
import type { Server } from 'node:http';

/** The `--port N` argument (0 = any free port). */
export function portArg(): number {
  const i = process.argv.indexOf('--port');
  return i >= 0 ? Number(process.argv[i + 1]) : 0;
}

/** Tells the harness the bound port on stdout. */
export function announce(server: Server): void {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
}
