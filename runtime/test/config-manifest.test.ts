import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveRedisUrl } from '../src/config/load.ts';
import { loadLocalRuntimeConfig, readManifestFile } from '../src/config/manifest.ts';
import { ConfigError } from '../src/config/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-manifest-'));
const path = join(dir, 'server.yaml');
writeFileSync(
  path,
  [
    'apiVersion: v1',
    'kind: Secret',
    'metadata: { name: ignored }',
    '---',
    'apiVersion: berth.dev/v1alpha1',
    'kind: McpServer',
    'metadata: { name: weather, namespace: team-a }',
    'spec:',
    '  source:',
    '    module: { path: ./server.mjs }',
    '  auth: { none: {} }',
    '',
  ].join('\n'),
);

test('a local run config: loopback and 8080 by default, paths under the manifest folder', () => {
  const config = loadLocalRuntimeConfig(path, { env: {} });
  assert.deepEqual(config.tenant, { namespace: 'team-a', name: 'weather' });
  assert.deepEqual(config.runtime.listen, { host: '127.0.0.1', port: 8080 });
  assert.equal(config.runtime.baseDir, dir);
  assert.equal(config.runtime.secretsDir, join(dir, 'secrets'));
  assert.equal(config.runtime.configMapsDir, join(dir, 'configmaps'));
  assert.equal(config.runtime.packagesDir, join(dir, '.berth', 'packages'));
  assert.equal(config.runtime.redis, undefined);
  assert.equal(config.runtime.logLevel, 'info');
  assert.equal(config.spec.endpoint.path, '/mcp');
});

test('flags beat the environment, which beats defaults', () => {
  const env = { PORT: '9001', HOST: '0.0.0.0', BERTH_REDIS_URL: 'redis://env:6379', BERTH_LOG_LEVEL: 'debug' };
  const fromEnv = loadLocalRuntimeConfig(path, { env });
  assert.deepEqual(fromEnv.runtime.listen, { host: '0.0.0.0', port: 9001 });
  assert.equal(fromEnv.runtime.redis?.url, 'redis://env:6379');
  assert.equal(fromEnv.runtime.logLevel, 'debug');
  const fromFlags = loadLocalRuntimeConfig(path, { env, host: '127.0.0.2', port: 0, redisUrl: 'redis://flag:6379', logLevel: 'warn', secretsDir: '/tmp/s' });
  assert.deepEqual(fromFlags.runtime.listen, { host: '127.0.0.2', port: 0 });
  assert.equal(fromFlags.runtime.redis?.url, 'redis://flag:6379');
  assert.equal(fromFlags.runtime.logLevel, 'warn');
  assert.equal(fromFlags.runtime.secretsDir, '/tmp/s');
});

test('a stream with two McpServers is refused', () => {
  const two = join(dir, 'two.yaml');
  writeFileSync(two, 'kind: McpServer\n---\nkind: McpServer\n---\nkind: Secret\n');
  assert.throws(() => readManifestFile(two), (e: unknown) => e instanceof ConfigError && /expected exactly one McpServer document, found 2 among 3/.test(e.message));
});

test('the Redis URL comes from url, urlEnv or urlFile', () => {
  const file = join(dir, 'redis-url');
  writeFileSync(file, 'redis://from-file:6379\n');
  assert.equal(resolveRedisUrl(undefined, {}), undefined);
  assert.equal(resolveRedisUrl({ url: 'redis://literal' }, {}), 'redis://literal');
  assert.equal(resolveRedisUrl({ urlEnv: 'R' }, { R: 'redis://from-env' }), 'redis://from-env');
  assert.equal(resolveRedisUrl({ urlFile: file }, {}), 'redis://from-file:6379');
  assert.throws(() => resolveRedisUrl({ urlFile: join(dir, 'nope') }, {}), /runtime\.redis\.urlFile: cannot read/);
});
