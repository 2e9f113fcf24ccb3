/**
 * What a stdio-only runtime loads: `berth run -f` with a stdio source,
 * in-memory stores and auth none, served one real MCP call, must never load
 * Redis (ioredis), OAuth (jose), the module backend or the remote backend,
 * nor the config schemas the launcher validated with before it exec'd into
 * the server — code it does not need costs resident memory in every pod. A
 * module hook in the server process records every module it resolves (the
 * launcher stage ends in execve, so it writes nothing); the server also runs
 * with the launcher's heap flags, and its stdio child never sees the config
 * hand-off.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBerth } from './cli-helpers.ts';

const FIXTURE_SERVER = join(import.meta.dirname, 'fixtures', 'stdio', 'fixture-server.mjs');

/** A preload that records every resolved module URL and writes them out when the process exits. */
const RECORDER = `
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
process.on('exit', () => writeFileSync(process.env.BERTH_TEST_MODULES_FILE, JSON.stringify([...seen])));
`;

let dir: string;
let modules: string[];
let cmdline: string[];
let serverEnviron: string[];
let childEnv: Record<string, string>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-module-graph-'));
  const recorder = join(dir, 'recorder.mjs');
  writeFileSync(recorder, RECORDER);
  const manifest = join(dir, 'server.yaml');
  writeFileSync(
    manifest,
    [
      'apiVersion: berth.dev/v1alpha1',
      'kind: McpServer',
      'metadata: { name: graph, namespace: test }',
      'spec:',
      '  source:',
      `    stdio: { command: ["node", ${JSON.stringify(FIXTURE_SERVER)}], instances: { mode: shared, min: 1, max: 1 } }`,
      '  auth: { none: {} }',
      '',
    ].join('\n'),
  );
  const out = join(dir, 'modules.json');
  const berth = await startBerth(['run', '-f', manifest, '--port', '0', '--host', '127.0.0.1'], {
    env: { NODE_OPTIONS: `--import ${pathToFileURL(recorder).href}`, BERTH_TEST_MODULES_FILE: out },
  });
  try {
    cmdline = readFileSync(`/proc/${berth.child.pid}/cmdline`, 'utf8').split('\0');
    serverEnviron = readFileSync(`/proc/${berth.child.pid}/environ`, 'utf8').split('\0');
    childEnv = await call(berth.url);
  } finally {
    const stopped = await berth.stop();
    assert.equal(stopped.code, 0, berth.lines.join('\n'));
  }
  modules = JSON.parse(readFileSync(out, 'utf8')) as string[];
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** One warm 2025-era session and tools/calls, so the request path's modules load too; returns the stdio child's environment. */
async function call(url: string): Promise<Record<string, string>> {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'graph', version: '1' } } }),
  });
  await init.text();
  assert.equal(init.status, 200);
  const session = init.headers.get('mcp-session-id');
  assert.ok(session, 'a session id');
  const sessionHeaders = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  const note = await fetch(url, { method: 'POST', headers: sessionHeaders, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await note.text();
  const res = await fetch(url, {
    method: 'POST',
    headers: sessionHeaders,
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'graph' } } }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.match(body, /graph/);
  const dump = await fetch(url, {
    method: 'POST',
    headers: sessionHeaders,
    body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'dump-env', arguments: {} } }),
  });
  const answer = (await dump.json()) as { result: { content: Array<{ text: string }> } };
  return (JSON.parse(answer.result.content[0]!.text) as { env: Record<string, string> }).env;
}

const loaded = (pattern: RegExp): string[] => modules.filter((url) => pattern.test(url));

test('the recorder sees the lazily loaded stdio backend (the check below can fail)', () => {
  assert.ok(loaded(/\/runtime\/src\/backend\/stdio\/index\.ts$/).length === 1, 'stdio backend loaded');
  assert.ok(loaded(/\/node_modules\/fastify\//).length > 0, 'fastify loaded');
  assert.ok(loaded(/\/runtime\/src\/cli\/run\.ts$/).length === 1, 'the run command loaded');
});

for (const [what, pattern] of [
  ['ioredis', /\/node_modules\/ioredis\//],
  ['the Redis stores', /\/runtime\/src\/store\/redis\//],
  ['jose', /\/node_modules\/jose\//],
  ['the OAuth authenticator', /\/runtime\/src\/security\/oauth\//],
  ['the rate limiter (no spec.rateLimits)', /\/runtime\/src\/security\/rate-limit\//],
  ['the module backend', /\/runtime\/src\/backend\/module\//],
  ['the remote backend', /\/runtime\/src\/backend\/remote\//],
  ['undici (the remote backend client)', /\/node_modules\/undici\//],
  ['replica clustering', /\/runtime\/src\/cluster\//],
  ['the MCP SDK server entry point (well-formed legacy requests are classified without it)', /\/node_modules\/@modelcontextprotocol\/server\/dist\/index\.mjs$/],
  ['the SDK output-schema validator (no tool with an outputSchema was called)', /\/node_modules\/@modelcontextprotocol\/server\/dist\//],
  ['zod (the launcher validated the config before it exec\'d)', /\/node_modules\/zod\//],
  ['the config schemas', /\/runtime\/src\/config\/(spec|runtime-config|manifest)\.ts$/],
  ['the YAML parser', /\/node_modules\/yaml\//],
  ["fastify's schema compilers (ajv, fast-json-stringify; no route declares a schema)", /\/node_modules\/(ajv|@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|fast-uri)\//],
] as const) {
  test(`a stdio-only, in-memory, auth-none runtime never loads ${what}`, () => {
    assert.deepEqual(loaded(pattern), []);
  });
}

test('the runtime process runs with the launcher heap flags and malloc setting; its stdio child gets neither', () => {
  assert.ok(cmdline.includes('--max-semi-space-size=4'), cmdline.join(' '));
  assert.ok(cmdline.includes('--no-sparkplug'), cmdline.join(' '));
  assert.ok(serverEnviron.includes('MALLOC_ARENA_MAX=2'), 'the server runs with MALLOC_ARENA_MAX=2');
  assert.ok(childEnv['PATH'], 'the child environment was read');
  assert.equal(childEnv['MALLOC_ARENA_MAX'], undefined);
});

test('the stdio child does not inherit the config hand-off (its environment is curated, and the server drops the entry too)', () => {
  assert.ok(childEnv['PATH'], 'the child environment was read');
  assert.equal(childEnv['BERTH_RESOLVED_CONFIG'], undefined);
});
