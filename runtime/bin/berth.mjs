#!/usr/bin/env node
// The `berth` command. Berth is TypeScript run directly by Node (type
// stripping), so it needs Node 24: the repository pins it as a dependency and
// npm scripts / npx put that Node first on PATH.
import { enableCompileCache, flushCompileCache } from 'node:module';
import { serverEnv, serverNodeFlags } from './node-flags.mjs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`berth needs Node.js 24 (this is ${process.versions.node}); run it through npm/npx in the repository, or install Node 24.\n`);
  process.exit(1);
}
// Reuse the sources' type-stripped text and V8 code across starts: the
// type-stripping compiler (about 17 MB resident) then never loads, and start-up
// is faster. NODE_COMPILE_CACHE picks the folder (the image ships a warm one);
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();
// A long-running server gets its heap flags and malloc setting: V8 and glibc
// read them only at start, so this process becomes `node <flags> <this
// script>` (same pid, same streams).
// It validates the config first and hands the result over (src/cli/resolved-config.ts),
// so the server never loads the schema library.
const flags = serverNodeFlags(process.argv[2], process.execArgv, process.env.NODE_OPTIONS);
if (flags.length > 0 && typeof process.execve === 'function') {
  const { launchHandOff } = await import('../src/cli/launch-handoff.ts');
  const { processIO } = await import('../src/cli/main.ts');
  const handOff = await launchHandOff(process.argv.slice(2), processIO());
  // execve skips exit handlers, where Node would write what this stage added to the compile cache.
  flushCompileCache();
  try {
    process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...serverEnv(process.argv[2], process.env), ...handOff });
  } catch (error) {
    // Not fatal: the server runs with V8's default heap sizing (and validates its config itself).
    process.stderr.write(`berth: could not apply ${flags.join(' ')} (${error.message}); continuing without\n`);
  }
}
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Long-running commands (run, serve) resolve only once the server stopped.
process.exitCode = code;
if (code !== 0) process.exit(code);
