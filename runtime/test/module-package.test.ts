import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveModuleLocation } from '../src/backend/module/loader.ts';
import { resolvePackageEntry } from '../src/backend/module/package.ts';

function fakePackage(dir: string, name: string, manifest: Record<string, unknown>): string {
  const root = join(dir, 'node_modules', ...name.split('/'));
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }));
  return root;
}

test('package entry points follow exports conditions, then module, then main', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-entry-'));
  const a = fakePackage(dir, '@acme/a', { exports: { '.': { require: './a.cjs', import: { types: './a.d.ts', default: './a.mjs' } }, './extra': './x.mjs' } });
  assert.equal(resolvePackageEntry('@acme/a@1.0.0', dir), join(a, 'a.mjs'));
  const b = fakePackage(dir, 'b', { exports: './b.js' });
  assert.equal(resolvePackageEntry('b@^1', dir), join(b, 'b.js'));
  const c = fakePackage(dir, 'c', { exports: { node: './c-node.mjs', default: './c.mjs' } });
  assert.equal(resolvePackageEntry('c', dir), join(c, 'c-node.mjs'));
  const d = fakePackage(dir, 'd', { module: './d.esm.js', main: './d.cjs' });
  assert.equal(resolvePackageEntry('d@1.0.0', dir), join(d, 'd.esm.js'));
  const e = fakePackage(dir, 'e', {});
  assert.equal(resolvePackageEntry('e', dir), join(e, 'index.js'));
  fakePackage(dir, 'f', { exports: { '.': { require: './f.cjs' } } });
  assert.throws(() => resolvePackageEntry('f', dir), /exports no ES module entry point/);
  assert.throws(() => resolvePackageEntry('@acme/missing@2.0.0', dir), /not installed under .* \(run: berth install-package @acme\/missing@2\.0\.0 --dir /);
});

test('module locations: path against baseDir, configMapRef under configMapsDir, package under packagesDir', () => {
  const runtime = { baseDir: '/srv/app', packagesDir: '/var/lib/berth/packages', configMapsDir: '/var/run/berth/configmaps' };
  assert.equal(resolveModuleLocation({ path: './server.mjs', export: 'default' }, runtime).file, '/srv/app/server.mjs');
  assert.equal(resolveModuleLocation({ path: '/opt/tenant/server.mjs', export: 'default' }, runtime).file, '/opt/tenant/server.mjs');
  const cm = resolveModuleLocation({ configMapRef: { name: 'weather-code', key: 'server.mjs' }, export: 'create' }, runtime);
  assert.deepEqual(cm, { file: '/var/run/berth/configmaps/weather-code/server.mjs', label: 'spec.source.module.configMapRef weather-code/server.mjs', exportName: 'create' });
  assert.throws(() => resolveModuleLocation({ package: '@acme/weather-mcp@1.4.2', export: 'default' }, runtime), /spec\.source\.module\.package @acme\/weather-mcp@1\.4\.2: package @acme\/weather-mcp is not installed/);
});
