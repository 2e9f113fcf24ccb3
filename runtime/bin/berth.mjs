#!/usr/bin/env node
// The `berth` command. Berth is TypeScript run directly by Node (type
// stripping), so it needs Node 24: the repository pins it as a dependency and
// npm scripts / npx put that Node first on PATH.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`berth needs Node.js 24 (this is ${process.versions.node}); run it through npm/npx in the repository, or install Node 24.\n`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Long-running commands (run, serve) resolve only once the server stopped.
process.exitCode = code;
if (code !== 0) process.exit(code);
