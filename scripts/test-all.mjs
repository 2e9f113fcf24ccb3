#!/usr/bin/env node
// Runs every test of the repository: system deps, typecheck, then each
// workspace's suite in turn (sequential: the suites start real servers and a
// control plane, and the machine has two cores). Ends with one summary line.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
// [workspace, npm script]: e2e's real-node suite (containerd, kubelet, real
// pods) is its own step because it installs and tears down a node.
const steps = [
  ['runtime', 'test'],
  ['operator', 'test'],
  ['e2e', 'test'],
  ['e2e', 'test:real'],
  ['bench', 'test'],
].filter(([w, s]) => only.length === 0 || only.includes(w) || only.includes(`${w}:${s}`));

/** Runs a command, mirroring its output; resolves with exit code and captured text. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let text = '';
    child.stdout.on('data', (d) => { text += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { text += d; process.stderr.write(d); });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), text }));
  });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
const failureDetails = [];

/**
 * The spec reporter's "failing tests" section of a step without stack frames,
 * repeated at the very end so that a log cut to its last lines still says why.
 */
function failingSummary(name, text) {
  const at = text.lastIndexOf('✖ failing tests:');
  if (at < 0) return [];
  const lines = text.slice(at).split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !/^test at /.test(l));
  const seen = new Set();
  const kept = lines.filter((l) => (seen.has(l) ? false : (seen.add(l), true)));
  const cap = 80;
  return [`--- ${name} ---`, ...kept.slice(0, cap), ...(kept.length > cap ? [`… ${kept.length - cap} more lines in the ${name} output above`] : [])];
}

const started = Date.now();

if (process.env.BERTH_SKIP_DEPS !== '1') {
  const deps = await run('bash', ['scripts/ensure-deps.sh']);
  if (deps.code !== 0) failures.push('ensure-deps');
}

const tsc = await run('npx', ['tsc', '-p', 'tsconfig.json']);
if (tsc.code !== 0) { failures.push('typecheck'); totals.failed += 1; } else totals.passed += 1;

for (const [ws, script] of steps) {
  const pkgPath = join(root, ws, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (!pkg.scripts?.[script]) continue;
  const name = script === 'test' ? ws : `${ws} ${script}`;
  process.stdout.write(`\n=== ${name}: npm run ${script} ===\n`);
  const t0 = Date.now();
  const res = await run('npm', ['run', script, '-w', ws]);
  const count = (re) => [...res.text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  const pass = count(/^[ℹ#] pass (\d+)$/gm);
  const fail = count(/^[ℹ#] fail (\d+)$/gm);
  const skip = count(/^[ℹ#] skipped (\d+)$/gm);
  totals.passed += pass; totals.failed += fail; totals.skipped += skip;
  if (res.code !== 0) {
    failures.push(name);
    failureDetails.push(...failingSummary(name, res.text));
    if (fail === 0) totals.failed += 1; // a crash outside a test still counts
  }
  process.stdout.write(`=== ${name}: ${pass} passed, ${fail} failed (${((Date.now() - t0) / 1000).toFixed(0)} s) ===\n`);
}

if (failureDetails.length) process.stdout.write(`\nwhy the failing tests failed:\n${failureDetails.join('\n')}\n`);
process.stdout.write(`\ntotal time ${((Date.now() - started) / 1000).toFixed(0)} s${failures.length ? `; failed: ${failures.join(', ')}` : ''}\n`);
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(failures.length ? 1 : 0);
