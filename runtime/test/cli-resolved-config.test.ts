/**
 * The validated config the launcher hands to the server it execs into:
 * accepted only by the same process for the same command line, removed from
 * the environment once read, and a faithful copy of what validation produced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadLocalRuntimeConfig } from '../src/config/manifest.ts';
import { resolvedConfigEnv, takeResolvedConfig } from '../src/cli/resolved-config.ts';
import { repoRoot } from './cli-helpers.ts';

const examples = readdirSync(join(repoRoot, 'examples'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => join(repoRoot, 'examples', e.name, 'mcpserver.yaml'));
const config = loadLocalRuntimeConfig(join(repoRoot, 'bench', 'fixtures', 'everything-stdio.yaml'), { env: {} });
const argv = ['run', '-f', 'server.yaml', '--port', '8080'];

test('the server takes back exactly the config the launcher validated, and the entry leaves the environment', () => {
  const env: NodeJS.ProcessEnv = { PATH: '/bin', ...resolvedConfigEnv(config, argv, 4242) };
  assert.equal(Object.keys(env).length, 2);
  assert.deepEqual(takeResolvedConfig(env, argv, 4242), config);
  assert.deepEqual(env, { PATH: '/bin' }, 'no child inherits the hand-off');
  assert.equal(takeResolvedConfig(env, argv, 4242), undefined, 'read once');
});

test('a hand-off from another process or for another command line is ignored (and still removed)', () => {
  for (const [pid, args, why] of [
    [4243, argv, 'another pid: set in a parent environment, not by this launcher'],
    [4242, [...argv, '--redis', 'redis://x'], 'another command line'],
    [4242, argv.slice(0, -1), 'a shorter command line'],
  ] as const) {
    const env: NodeJS.ProcessEnv = resolvedConfigEnv(config, argv, 4242);
    assert.equal(takeResolvedConfig(env, args, pid), undefined, why);
    assert.deepEqual(env, {}, why);
  }
  const garbled: NodeJS.ProcessEnv = { BERTH_RESOLVED_CONFIG: '{"pid": 4242, "argv": ' };
  assert.equal(takeResolvedConfig(garbled, argv, 4242), undefined);
  assert.deepEqual(garbled, {});
  const noConfig: NodeJS.ProcessEnv = { BERTH_RESOLVED_CONFIG: JSON.stringify({ pid: 4242, argv, config: null }) };
  assert.equal(takeResolvedConfig(noConfig, argv, 4242), undefined);
});

test('a config too large for one environment string is not handed over (the server validates it itself)', () => {
  const big = structuredClone(config);
  big.spec.tools.allow = Array.from({ length: 5000 }, (_, i) => `a-rather-long-tool-name-${i}`);
  assert.deepEqual(resolvedConfigEnv(big, argv, 1), {});
  const wide = structuredClone(config);
  wide.spec.tools.allow = ['€'.repeat(40_000)];
  assert.deepEqual(resolvedConfigEnv(wide, argv, 1), {}, 'the cap counts bytes: 40,000 characters of three bytes each');
  assert.equal(Object.keys(resolvedConfigEnv(config, argv, 1)).length, 1);
});

test('every example config survives the JSON hand-off unchanged', () => {
  assert.ok(examples.length >= 5, examples.join(', '));
  for (const file of examples) {
    const c = loadLocalRuntimeConfig(file, { env: {} });
    assert.deepEqual(takeResolvedConfig(resolvedConfigEnv(c, argv, 7), argv, 7), c, file);
  }
});
