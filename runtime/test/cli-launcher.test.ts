/**
 * The `berth` launcher: heap flags for the long-running commands (never
 * overriding the user's own), the validated config handed to the server it
 * execs into, and Node's compile cache for the TypeScript sources (so a
 * started runtime need not load the type-stripping compiler).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_ENV, SERVER_NODE_FLAGS, serverEnv, serverNodeFlags } from '../bin/node-flags.mjs';
import { repoRoot, runBerth } from './cli-helpers.ts';

test('run and serve get the server heap flags; short commands get none', () => {
  assert.deepEqual(serverNodeFlags('run'), [...SERVER_NODE_FLAGS]);
  assert.deepEqual(serverNodeFlags('serve', [], ''), [...SERVER_NODE_FLAGS]);
  assert.ok(SERVER_NODE_FLAGS.includes('--max-semi-space-size=4'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-allocation-site-pretenuring'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-maglev-destroy-on-background'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-sparkplug'));
  for (const command of ['validate', 'audit', 'install-package', '--help', undefined]) assert.deepEqual(serverNodeFlags(command), [], String(command));
});

test('a flag the user already set wins, in either spelling and from NODE_OPTIONS', () => {
  assert.deepEqual(serverNodeFlags('serve', ['--max_semi_space_size=16']), SERVER_NODE_FLAGS.filter((f) => !f.startsWith('--max-semi')));
  const others = (flag: string) => SERVER_NODE_FLAGS.filter((f) => f !== flag);
  assert.deepEqual(serverNodeFlags('serve', ['--max-semi-space-size=16']), others('--max-semi-space-size=4'));
  assert.deepEqual(serverNodeFlags('run', [], '--enable-source-maps  --max-semi-space-size=32'), others('--max-semi-space-size=4'));
  assert.deepEqual(serverNodeFlags('run', ['--allocation-site-pretenuring']), others('--no-allocation-site-pretenuring'), 'the negation of a flag is the same setting');
  assert.deepEqual(serverNodeFlags('run', ['--allocation_site_pretenuring', '--max-semi-space-size=8', '--maglev_destroy_on_background', '--sparkplug']), []);
  assert.deepEqual(serverNodeFlags('run', ['--expose-gc'], '--enable-source-maps'), [...SERVER_NODE_FLAGS]);
});

test('run and serve get MALLOC_ARENA_MAX=2 unless the environment sets it; short commands get nothing', () => {
  assert.deepEqual(SERVER_ENV, { MALLOC_ARENA_MAX: '2' });
  assert.deepEqual(serverEnv('run', {}), { MALLOC_ARENA_MAX: '2' });
  assert.deepEqual(serverEnv('serve', { PATH: '/bin' }), { MALLOC_ARENA_MAX: '2' });
  assert.deepEqual(serverEnv('run', { MALLOC_ARENA_MAX: '8' }), {}, "the user's own setting wins");
  for (const command of ['validate', 'audit', 'install-package', '--help', undefined]) assert.deepEqual(serverEnv(command, {}), {}, String(command));
});

test('a config hand-off planted in the environment is ignored: the server validates its config itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-handoff-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: berth.dev/v1alpha1\nkind: McpServer\nmetadata: { name: demo }\nspec:\n  auth: { none: {} }\n');
    const argv = ['run', '-f', bad, '--port', '0'];
    const good = { apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeConfig', metadata: { name: 'forged', namespace: 'x' }, spec: {}, runtime: {} };
    // Any pid but the server's: a variable set by whoever started the launcher.
    const planted = JSON.stringify({ pid: process.pid, argv, config: good });
    const out = await runBerth(argv, { env: { BERTH_RESOLVED_CONFIG: planted } });
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, /spec\.source: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every file below `dir`. */
const filesIn = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);

test('the launcher keeps a compile cache (in the temp folder by default), unless NODE_DISABLE_COMPILE_CACHE is set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compile-cache-'));
  try {
    const manifest = join(repoRoot, 'bench', 'fixtures', 'everything-stdio.yaml');
    const off = await runBerth(['validate', '-f', manifest], { env: { TMPDIR: dir, NODE_DISABLE_COMPILE_CACHE: '1' } });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(readdirSync(dir), []);
    const first = await runBerth(['validate', '-f', manifest], { env: { TMPDIR: dir } });
    assert.equal(first.code, 0, first.stderr);
    const cached = filesIn(join(dir, 'node-compile-cache'));
    assert.ok(cached.length > 10, `cache entries: ${cached.length}`);
    const second = await runBerth(['validate', '-f', manifest], { env: { TMPDIR: dir } });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
