import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runBerth } from './cli-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
const helloServer = join(repoRoot, 'examples', 'hello', 'server.ts');

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const header = 'apiVersion: berth.dev/v1alpha1\nkind: McpServer\nmetadata: { name: demo }\n';
const manifest = (spec: string) => `${header}spec:\n${spec}`;
const moduleSource = `  source:\n    module: { path: ${JSON.stringify(helloServer)} }\n`;

/** Each case: a manifest (or argv) that must exit 2 with stderr naming the field. */
const manifestCases: Array<{ name: string; text: string; expect: RegExp }> = [
  { name: 'no source', text: manifest('  auth: { none: {} }\n'), expect: /spec\.source: .*(required|expected object)/ },
  {
    name: 'two sources',
    text: manifest(`${moduleSource}    stdio: { command: ["x"] }\n  auth: { none: {} }\n`),
    expect: /spec\.source: exactly one of module, stdio, remote is required \(got module, stdio\)/,
  },
  {
    name: 'module with two forms',
    text: manifest(`  source:\n    module: { path: ./a.mjs, package: "a@1.0.0" }\n  auth: { none: {} }\n`),
    expect: /spec\.source\.module: exactly one of package, configMapRef, path is required/,
  },
  { name: 'no auth mode', text: manifest(`${moduleSource}  auth: {}\n`), expect: /spec\.auth: exactly one of oauth, apiKeys, none is required \(got none\)/ },
  { name: 'unknown spec field', text: manifest(`${moduleSource}  auth: { none: {} }\n  replica: 2\n`), expect: /spec: Unrecognized key.*"replica"/ },
  { name: 'bad metadata.name', text: manifest(`${moduleSource}  auth: { none: {} }\n`).replace('name: demo', 'name: Demo_Server'), expect: /metadata\.name: must be a DNS-1123 label/ },
  { name: 'wrong apiVersion', text: manifest(`${moduleSource}  auth: { none: {} }\n`).replace('berth.dev/v1alpha1', 'berth.dev/v9'), expect: /apiVersion: .*berth\.dev\/v1alpha1/ },
  {
    name: 'rate limit with both rates',
    text: manifest(`${moduleSource}  auth: { none: {} }\n  rateLimits: { global: { requestsPerSecond: 5, requestsPerMinute: 60 } }\n`),
    expect: /spec\.rateLimits\.global: exactly one of requestsPerSecond, requestsPerMinute is required/,
  },
  { name: 'wrong type', text: manifest(`${moduleSource}  auth: { none: {} }\n  drain: { gracePeriodSeconds: soon }\n`), expect: /spec\.drain\.gracePeriodSeconds: .*expected number/ },
  { name: 'not YAML', text: 'spec: [unclosed\n', expect: /\(file\): not valid YAML/ },
  { name: 'empty file', text: '', expect: /\(root\): the file holds no document/ },
];

for (const c of manifestCases) {
  test(`berth run and validate exit 2 naming the field: ${c.name}`, async () => {
    const path = file(`${c.name.replace(/\W+/g, '-')}.yaml`, c.text);
    for (const command of ['validate', 'run']) {
      const out = await runBerth([command, '-f', path, '--port', '0'].slice(0, command === 'validate' ? 3 : 5));
      assert.equal(out.code, 2, `${command}: ${out.stderr}`);
      assert.match(out.stderr, c.expect, command);
      assert.equal(out.stderr.match(/invalid config/g)?.length, 1, `reported once, by one stage of the launcher: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`^berth ${command}: invalid config \\(${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    }
  });
}

test('a missing manifest file exits 2', async () => {
  const out = await runBerth(['run', '-f', join(dir, 'absent.yaml')]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /\(file\): cannot read/);
});

test('bad --port, PORT and --log-level exit 2 naming them', async () => {
  const ok = file('ok.yaml', manifest(`${moduleSource}  auth: { none: {} }\n`));
  const flag = await runBerth(['run', '-f', ok, '--port', 'eighty']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--port: expected a port number 0-65535, got "eighty"/);
  const env = await runBerth(['run', '-f', ok], { env: { PORT: '99999' } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /PORT: expected a port number 0-65535, got "99999"/);
  const level = await runBerth(['run', '-f', ok, '--port', '0', '--log-level', 'loud']);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /runtime\.logLevel: .*(fatal|info)/);
});

test('usage mistakes exit 2 with a hint', async () => {
  const unknownFlag = await runBerth(['run', '--fil', 'x.yaml']);
  assert.equal(unknownFlag.code, 2);
  assert.match(unknownFlag.stderr, /Unknown option '--fil'[\s\S]*berth run --help/);
  const noFile = await runBerth(['validate']);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /-f\/--file is required/);
  const unknownCommand = await runBerth(['launch']);
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /unknown command "launch"/);
  const badSpec = await runBerth(['install-package', 'not a spec', '--dir', dir]);
  assert.equal(badSpec.code, 2);
  assert.match(badSpec.stderr, /not an npm package spec/);
});

test('module problems: missing file or export exit 2 naming spec.source.module; a broken module exits 1', async () => {
  const missing = file('missing-module.yaml', manifest(`  source:\n    module: { path: ./nowhere.mjs }\n  auth: { none: {} }\n`));
  const a = await runBerth(['run', '-f', missing, '--port', '0']);
  assert.equal(a.code, 2, a.stderr);
  assert.match(a.stderr, /spec\.source\.module\.path \.\/nowhere\.mjs: file not found/);

  file('no-default.mjs', 'export function other() {}\n');
  const noExport = file('no-export.yaml', manifest(`  source:\n    module: { path: ./no-default.mjs }\n  auth: { none: {} }\n`));
  const b = await runBerth(['run', '-f', noExport, '--port', '0']);
  assert.equal(b.code, 2, b.stderr);
  assert.match(b.stderr, /export "default" is missing, expected an MCP server factory function \(function exports: other\)/);

  file('syntax.mjs', 'export default function ( {\n');
  const broken = file('broken.yaml', manifest(`  source:\n    module: { path: ./syntax.mjs }\n  auth: { none: {} }\n`));
  const c = await runBerth(['run', '-f', broken, '--port', '0']);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /spec\.source\.module\.path \.\/syntax\.mjs: cannot import .*syntax\.mjs/);
});

test('berth serve: missing --config, invalid documents and env overrides exit 2 naming the field', async () => {
  const none = await runBerth(['serve']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--config: required \(or set BERTH_CONFIG/);

  const doc = (runtime: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      apiVersion: 'berth.dev/v1alpha1',
      kind: 'RuntimeConfig',
      tenant: { namespace: 'team-a', name: 'demo' },
      spec: { source: { module: { path: helloServer } }, auth: { none: {} } },
      runtime,
      ...extra,
    });
  const noTenant = file('no-tenant.json', doc({}, { tenant: undefined }));
  const a = await runBerth(['serve', '--config', noTenant]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /tenant: .*expected object/);

  const badPort = file('bad-port.json', doc({ listen: { host: '127.0.0.1', port: 70000 } }));
  const b = await runBerth(['serve', '--config', badPort]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /runtime\.listen\.port: .*65535/);

  const good = file('good.json', doc({ listen: { host: '127.0.0.1', port: 0 } }));
  const c = await runBerth(['serve'], { env: { BERTH_CONFIG: good, BERTH_LOG_LEVEL: 'chatty' } });
  assert.equal(c.code, 2);
  assert.match(c.stderr, /runtime\.logLevel: /);

  const d = await runBerth(['serve', '--config', good], { env: { PORT: 'abc' } });
  assert.equal(d.code, 2);
  assert.match(d.stderr, /runtime\.listen\.port: /);

  const noRedisEnv = file('redis-env.json', doc({ listen: { host: '127.0.0.1', port: 0 }, redis: { urlEnv: 'BERTH_TEST_UNSET_REDIS' } }));
  const e = await runBerth(['serve', '--config', noRedisEnv]);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /runtime\.redis\.urlEnv: environment variable BERTH_TEST_UNSET_REDIS is not set/);
});
