import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { repoRoot, runBerth, startBerth } from './cli-helpers.ts';
import { freePort } from './helpers/free-port.ts';

const hello = join(repoRoot, 'examples', 'hello', 'mcpserver.yaml');
const textOf = (r: { content?: unknown }): string => ((r.content as Array<{ text?: string }>)[0]?.text ?? '');

async function connect(url: string, modern = false): Promise<Client> {
  const client = new Client({ name: 'cli-test', version: '1.0.0' }, modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

test('berth run -f serves the hello example to legacy and modern SDK clients', async (t) => {
  const port = await freePort();
  const berth = await startBerth(['run', '-f', hello, '--port', String(port)]);
  t.after(() => berth.stop('SIGKILL'));
  assert.equal(berth.url, `http://127.0.0.1:${port}/mcp`);

  const legacy = await connect(berth.url);
  t.after(() => legacy.close());
  const { tools } = await legacy.listTools();
  assert.deepEqual(tools.map((x) => x.name).sort(), ['calculate', 'hash', 'json_query', 'text_stats', 'time_in_zone', 'uuid']);
  for (const tool of tools) {
    assert.ok(tool.description && tool.description.split(/\s+/).length < 50, `${tool.name} has a short description`);
    assert.equal(tool.annotations?.readOnlyHint, true);
  }
  assert.equal(textOf(await legacy.callTool({ name: 'calculate', arguments: { expression: '(2 + 3) * 4 ^ 2 - sqrt(16)' } })), '76');
  const badZone = await legacy.callTool({ name: 'time_in_zone', arguments: { timeZone: 'Mars/Olympus' } });
  assert.equal(badZone.isError, true);
  assert.match(textOf(badZone), /unknown time zone "Mars\/Olympus"[\s\S]*fix them before calling again/);
  const query = await legacy.callTool({ name: 'json_query', arguments: { json: '{"items":[{"name":"berth"}]}', path: 'items[0].name', indent: 0 } });
  assert.equal(textOf(query), '"berth"');
  const zones = await legacy.readResource({ uri: 'hello://time-zones' });
  assert.match(String((zones.contents[0] as { text: string }).text), /Europe\/Paris/);
  const prompt = await legacy.getPrompt({ name: 'explain_json', arguments: { json: '{"a":1}' } });
  assert.match(JSON.stringify(prompt.messages), /Explain the structure/);

  const modern = await connect(berth.url, true);
  t.after(() => modern.close());
  const digest = await modern.callTool({ name: 'hash', arguments: { text: 'abc' } });
  assert.equal(textOf(digest), createHash('sha256').update('abc').digest('hex'));
  const stats = await modern.callTool({ name: 'text_stats', arguments: { text: 'One two three. Four five!' } });
  assert.deepEqual({ words: (stats.structuredContent as { words: number }).words, sentences: (stats.structuredContent as { sentences: number }).sentences }, { words: 5, sentences: 2 });
});

test('PORT and HOST apply when no flag is given; SIGTERM drains and exits 0 within the grace period', async () => {
  const port = await freePort();
  const berth = await startBerth(['run', '-f', hello], { env: { PORT: String(port), HOST: '127.0.0.1' } });
  assert.equal(berth.url, `http://127.0.0.1:${port}/mcp`);
  const ready = await fetch(`http://127.0.0.1:${port}/ready`);
  assert.equal(ready.status, 200);
  const { code, ms } = await berth.stop('SIGTERM');
  assert.equal(code, 0);
  assert.ok(ms < 2500, `exited ${ms} ms after SIGTERM (grace 2 s + 0.5 s)`);
  assert.ok(berth.lines.some((l) => l.includes('"Stopped"')), 'the stop was logged');
});

test('a module from spec.source.module.package resolves under the packages folder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pkg-'));
  const pkg = join(dir, 'packages', 'node_modules', '@acme', 'hello-mcp');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@acme/hello-mcp', version: '1.0.0', type: 'module', exports: { '.': { import: './dist/server.mjs' } } }));
  // A package-shaped module reusing the hello server (it resolves the SDK from the repository).
  writeFileSync(join(pkg, 'dist', 'server.mjs'), `export { default as createServer } from ${JSON.stringify(join(repoRoot, 'examples', 'hello', 'server.ts'))};\n`);
  writeFileSync(
    join(dir, 'server.yaml'),
    'apiVersion: berth.dev/v1alpha1\nkind: McpServer\nmetadata: { name: packaged }\nspec:\n  source:\n    module: { package: "@acme/hello-mcp@1.0.0", export: createServer }\n  auth: { none: {} }\n',
  );
  const berth = await startBerth(['run', '-f', join(dir, 'server.yaml'), '--port', '0', '--packages-dir', join(dir, 'packages')]);
  t.after(() => berth.stop('SIGKILL'));
  const client = await connect(berth.url);
  t.after(() => client.close());
  assert.equal(textOf(await client.callTool({ name: 'calculate', arguments: { expression: '2^10' } })), '1024');
});

test('berth validate prints OK for the examples and exits 0', async () => {
  for (const file of ['examples/hello/mcpserver.yaml', 'examples/conformance/mcpserver.yaml']) {
    const out = await runBerth(['validate', '-f', file]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^OK .*McpServer default\/(hello|conformance) \(module source\)/);
  }
});

test('npx berth --help works from the repository root', async () => {
  const { spawnSync } = await import('node:child_process');
  const out = spawnSync('npx', ['--no-install', 'berth', '--help'], { cwd: repoRoot, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 60_000 });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /Usage: berth <command>/);
  assert.match(out.stdout, /run -f FILE/);
});

test('berth serve runs a runtime config document (named by --config or BERTH_CONFIG)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-serve-'));
  mkdirSync(join(dir, 'configmaps', 'hello-code'), { recursive: true });
  // As the operator mounts it: the module comes from a ConfigMap key.
  writeFileSync(join(dir, 'configmaps', 'hello-code', 'server.mjs'), `export { default } from ${JSON.stringify(join(repoRoot, 'examples', 'hello', 'server.ts'))};\n`);
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'berth.dev/v1alpha1',
      kind: 'RuntimeConfig',
      tenant: { namespace: 'team-a', name: 'hello' },
      spec: { source: { module: { configMapRef: { name: 'hello-code', key: 'server.mjs' } } }, auth: { none: {} } },
      runtime: { listen: { host: '127.0.0.1', port: 0 }, configMapsDir: join(dir, 'configmaps'), secretsDir: join(dir, 'secrets'), packagesDir: join(dir, 'packages') },
    }),
  );
  const berth = await startBerth(['serve'], { env: { BERTH_CONFIG: config } });
  t.after(() => berth.stop('SIGKILL'));
  const client = await connect(berth.url);
  t.after(() => client.close());
  assert.equal(textOf(await client.callTool({ name: 'calculate', arguments: { expression: '3 * 14' } })), '42');
  assert.ok(berth.lines.some((l) => l.includes('"tenant":"team-a/hello"')), 'logs carry the tenant');
  const { code } = await berth.stop('SIGTERM');
  assert.equal(code, 0);
});
