#!/usr/bin/env node
// Fills Node's compile cache (NODE_COMPILE_CACHE) with every runtime source
// and the packages they load, so a container started from the image neither
// strips types nor compiles those modules again. The image build runs it.
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serverNodeFlags } from './node-flags.mjs';

// Node keys the cache by V8 flags: fill it under the flags a server runs with.
const flags = serverNodeFlags('serve', process.execArgv, process.env.NODE_OPTIONS);
if (flags.length > 0) {
  // The launcher validates the config before it takes those flags (bin/berth.mjs): its modules, without them.
  for (const m of ['../src/cli/launch-handoff.ts', '../src/cli/main.ts', '../src/config/manifest.ts', '../src/config/load.ts', 'yaml']) await import(m);
  flushCompileCache();
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

if (!getCompileCacheDir()) {
  process.stderr.write('warm-compile-cache: set NODE_COMPILE_CACHE to the cache folder\n');
  process.exit(2);
}
const src = join(import.meta.dirname, '..', 'src');
const files = readdirSync(src, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
  .map((e) => join(e.parentPath, e.name))
  .sort();
for (const file of files) await import(pathToFileURL(file).href);
flushCompileCache();
process.stdout.write(`warm-compile-cache: ${files.length} sources in ${getCompileCacheDir()}\n`);
process.exit(0);
