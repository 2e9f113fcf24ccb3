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
import { readFileSync } from 'node:fs';
import { ONE_CPU_NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS, allowedCpus, serverEnv, serverNodeFlags } from '../bin/node-flags.mjs';
import { repoRoot, runBerth, startBerth } from './cli-helpers.ts';

test('run and serve get the server heap flags; short commands get none', () => {
  assert.deepEqual(serverNodeFlags('run', [], '', 2), [...SERVER_NODE_FLAGS]);
  assert.deepEqual(serverNodeFlags('serve', [], '', 2), [...SERVER_NODE_FLAGS]);
  assert.ok(SERVER_NODE_FLAGS.includes('--max-semi-space-size=4'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-allocation-site-pretenuring'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-maglev-destroy-on-background'));
  assert.ok(SERVER_NODE_FLAGS.includes('--no-sparkplug'));
  for (const command of ['validate', 'audit', 'install-package', '--help', undefined]) assert.deepEqual(serverNodeFlags(command, [], '', 1), [], String(command));
});

test('on one allowed CPU the server also scavenges on its main thread; on more, or when unknown, it does not', () => {
  assert.deepEqual(ONE_CPU_NODE_FLAGS, ['--no-parallel-scavenge']);
  assert.deepEqual(serverNodeFlags('run', [], '', 1), [...SERVER_NODE_FLAGS, '--no-parallel-scavenge']);
  assert.deepEqual(serverNodeFlags('serve', [], '', 4), [...SERVER_NODE_FLAGS]);
  assert.deepEqual(serverNodeFlags('serve', [], '', undefined), [...SERVER_NODE_FLAGS]);
  assert.deepEqual(serverNodeFlags('run', ['--parallel_scavenge'], '', 1), [...SERVER_NODE_FLAGS], "the user's own setting wins");
  const status = (list: string) => `Name:\tnode\nCpus_allowed:\tff\nCpus_allowed_list:\t${list}\nMems_allowed_list:\t0\n`;
  assert.equal(allowedCpus(status('3')), 1);
  assert.equal(allowedCpus(status('0-1')), 2);
  assert.equal(allowedCpus(status('0-3,8,10-11')), 7);
  assert.equal(allowedCpus(status('0-x')), undefined);
  assert.equal(allowedCpus('Name:\tnode\n'), undefined);
});

test('berth run pinned to one CPU execs its server with --no-parallel-scavenge, unpinned without', async () => {
  const hello = join(repoRoot, 'examples', 'hello', 'mcpserver.yaml');
  const cmdlineOf = async (cpus: string | undefined) => {
    const berth = await startBerth(['run', '-f', hello, '--port', '0', '--host', '127.0.0.1'], cpus === undefined ? {} : { cpus });
    try {
      return readFileSync(`/proc/${berth.child.pid}/cmdline`, 'utf8').split('\0');
    } finally {
      assert.equal((await berth.stop()).code, 0, berth.lines.join('\n'));
    }
  };
  const pinned = await cmdlineOf('0');
  assert.ok(pinned.includes('--no-parallel-scavenge'), pinned.join(' '));
  assert.ok(pinned.includes('--no-sparkplug'), pinned.join(' '));
  const free = await cmdlineOf(undefined);
  assert.ok(free.includes('--no-sparkplug'), free.join(' '));
  assert.equal(free.includes('--no-parallel-scavenge'), (allowedCpus() ?? 0) === 1, free.join(' '));
});

test('a flag the user already set wins, in either spelling and from NODE_OPTIONS', () => {
  assert.deepEqual(serverNodeFlags('serve', ['--max_semi_space_size=16'], '', 2), SERVER_NODE_FLAGS.filter((f) => !f.startsWith('--max-semi')));
  const others = (flag: string) => SERVER_NODE_FLAGS.filter((f) => f !== flag);
  assert.deepEqual(serverNodeFlags('serve', ['--max-semi-space-size=16'], '', 2), others('--max-semi-space-size=4'));
  assert.deepEqual(serverNodeFlags('run', [], '--enable-source-maps  --max-semi-space-size=32', 2), others('--max-semi-space-size=4'));
  assert.deepEqual(serverNodeFlags('run', ['--allocation-site-pretenuring'], '', 2), others('--no-allocation-site-pretenuring'), 'the negation of a flag is the same setting');
  assert.deepEqual(serverNodeFlags('run', ['--allocation_site_pretenuring', '--max-semi-space-size=8', '--maglev_destroy_on_background', '--sparkplug'], '', 2), []);
  assert.deepEqual(serverNodeFlags('run', ['--expose-gc'], '--enable-source-maps', 2), [...SERVER_NODE_FLAGS]);
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
