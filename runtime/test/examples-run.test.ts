/**
 * Every example under examples/ runs with `berth run -f`: each starts, turns
 * ready, and serves its tools to the SDK v2 client. Examples that depend on
 * something outside Berth get it for real: the remote example's upstream is
 * the reference server in Streamable HTTP mode, and the OAuth example's
 * tokens come from a real authorization server (oidc-provider).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot, startBerth, type RunningBerth } from './cli-helpers.ts';
import { freePort } from './helpers/free-port.ts';
import { startAuthServer, type TestAuthServer } from './helpers/oauth-server.ts';

const examplesDir = join(repoRoot, 'examples');
const work = mkdtempSync(join(tmpdir(), 'berth-examples-'));
// One packages folder for the whole file: each npm package is installed once.
const packagesDir = join(work, 'packages');

after(() => rmSync(work, { recursive: true, force: true }));

type Doc = Record<string, any>;
const textOf = (r: { content?: unknown }): string => (r.content as Array<{ text?: string }> | undefined)?.map((c) => c.text ?? '').join('') ?? '';

/** The McpServer document of an example. */
function manifestOf(example: string): Doc {
  const docs = parseAllDocuments(readFileSync(join(examplesDir, example, 'mcpserver.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
  const mcp = docs.find((d) => d?.kind === 'McpServer');
  assert.ok(mcp, `examples/${example}/mcpserver.yaml holds an McpServer`);
  return mcp;
}

/** Writes a copy of an example's McpServer with `edit` applied; relative paths keep pointing into the example. */
function editedManifest(example: string, edit: (m: Doc) => void): string {
  const m = structuredClone(manifestOf(example));
  edit(m);
  const file = join(work, `${example}.yaml`);
  writeFileSync(file, stringify(m));
  return file;
}

async function waitReady(base: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${base}/ready`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${base}/ready did not answer 200 within 60 s (last: ${res?.status})`);
    await sleep(200);
  }
}

/** What npm needs to reach the registry from a child (settings, proxies, TLS trust), as a user's shell has it. */
function npmPassthroughEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => /^(npm_config_|NPM_CONFIG_)/.test(k) || /^(HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/.test(k)),
  );
}

/** Starts `berth run -f file` on a free port and waits for /ready. */
async function run(file: string, extra: string[] = [], port?: number): Promise<RunningBerth & { base: string }> {
  const berth = await startBerth(['run', '-f', file, '--port', String(port ?? 0), '--packages-dir', packagesDir, ...extra], { timeoutMs: 120_000, env: npmPassthroughEnv() });
  const base = new URL(berth.url).origin;
  try {
    await waitReady(base);
  } catch (err) {
    await berth.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n${berth.lines.slice(-20).join('\n')}`);
  }
  return { ...berth, base };
}

async function connect(url: string, opts: { modern?: boolean; headers?: Record<string, string> } = {}): Promise<Client> {
  const client = new Client({ name: 'examples-test', version: '1.0.0' }, opts.modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(url), opts.headers ? { requestInit: { headers: opts.headers } } : {}));
  return client;
}

/** The reference server in Streamable HTTP mode, as the remote example's upstream. */
async function startUpstream(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const entry = join(repoRoot, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
  const child: ChildProcess = spawn(process.execPath, [entry, 'streamableHttp'], { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes('listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the upstream did not start:\n${log}`);
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

test('every example folder has an McpServer manifest and a README', () => {
  const names = readdirSync(examplesDir).filter((n) => statSync(join(examplesDir, n)).isDirectory());
  for (const required of ['hello', 'configmap-module', 'everything', 'remote', 'oauth', 'rate-limited']) assert.ok(names.includes(required), `examples/${required}`);
  for (const name of names.filter((n) => n !== 'conformance' && n !== 'hello')) {
    manifestOf(name);
    assert.ok(statSync(join(examplesDir, name, 'README.md')).isFile(), `examples/${name}/README.md`);
  }
});

test('examples/hello: the module server serves its tools', async (t) => {
  const berth = await run(join(examplesDir, 'hello', 'mcpserver.yaml'));
  t.after(() => berth.stop('SIGKILL'));
  const client = await connect(berth.url);
  t.after(() => client.close());
  const { tools } = await client.listTools();
  assert.ok(tools.some((x) => x.name === 'calculate'));
  assert.equal(textOf(await client.callTool({ name: 'calculate', arguments: { expression: '6 * 7' } })), '42');
});

test('examples/configmap-module: the ConfigMap in the manifest is the file berth run reads, and it serves its tools', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(examplesDir, 'configmap-module', 'mcpserver.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
  const ref = manifestOf('configmap-module').spec.source.module.configMapRef as { name: string; key: string };
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === ref.name);
  assert.ok(cm, 'the manifest carries the ConfigMap it references');
  assert.equal(cm.data[ref.key], readFileSync(join(examplesDir, 'configmap-module', 'configmaps', ref.name, ref.key), 'utf8'), 'the same module text for kubectl apply and berth run');

  const berth = await run(join(examplesDir, 'configmap-module', 'mcpserver.yaml'));
  t.after(() => berth.stop('SIGKILL'));
  const client = await connect(berth.url, { modern: true });
  t.after(() => client.close());
  assert.deepEqual((await client.listTools()).tools.map((x) => x.name).sort(), ['convert_units', 'slugify', 'word_count']);
  assert.equal(textOf(await client.callTool({ name: 'slugify', arguments: { text: 'Hello, Wörld: Berth 1.0!' } })), 'hello-world-berth-1-0');
  assert.equal(textOf(await client.callTool({ name: 'convert_units', arguments: { value: 100, from: 'C', to: 'F' } })), '212');
  assert.equal(textOf(await client.callTool({ name: 'convert_units', arguments: { value: 1, from: 'mi', to: 'km' } })), '1.609344');
  const bad = await client.callTool({ name: 'convert_units', arguments: { value: 1, from: 'kg', to: 'km' } });
  assert.equal(bad.isError, true);
  assert.match(textOf(bad), /cannot convert kg to km/);
  const counts = await client.callTool({ name: 'word_count', arguments: { text: 'one two\nthree' } });
  assert.deepEqual(counts.structuredContent, { words: 3, lines: 2, characters: 13 });
});

test('examples/everything: the npm stdio server, installed from its pinned package, serves both client eras', async (t) => {
  const berth = await run(join(examplesDir, 'everything', 'mcpserver.yaml'));
  t.after(() => berth.stop('SIGKILL'));
  assert.ok(berth.lines.some((l) => l.includes('@modelcontextprotocol/server-everything@2026.8.31')), 'the pinned package was named in the logs');
  for (const modern of [false, true]) {
    const client = await connect(berth.url, { modern });
    t.after(() => client.close());
    const { tools } = await client.listTools();
    for (const name of ['echo', 'get-sum', 'get-tiny-image']) assert.ok(tools.some((x) => x.name === name), `${name} listed (modern=${modern})`);
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: `hi ${modern}` } })), `Echo: hi ${modern}`);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    assert.match(textOf(sum), /42/);
  }
});

test('examples/remote: API keys in front, the upstream behind, either era', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const file = editedManifest('remote', (m) => {
    m.spec.source.remote.url = upstream.url;
  });
  const berth = await run(file, ['--secrets-dir', join(examplesDir, 'remote', 'secrets')]);
  t.after(() => berth.stop('SIGKILL'));

  const noKey = await fetch(berth.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
  assert.equal(noKey.status, 401);
  await noKey.body?.cancel();
  await assert.rejects(connect(berth.url, { headers: { authorization: 'Bearer not-a-key-0123456789' } }));

  const key = readFileSync(join(examplesDir, 'remote', 'secrets', 'remote-clients', 'alice'), 'utf8').trim();
  for (const modern of [false, true]) {
    const client = await connect(berth.url, { modern, headers: { authorization: `Bearer ${key}` } });
    t.after(() => client.close());
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === 'echo'), `the upstream's tools are listed (modern=${modern})`);
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'through' } })), 'Echo: through');
  }
});

test('examples/oauth: tokens from a real authorization server; scopes per tool', async (t) => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}/mcp`;
  const as: TestAuthServer = await startAuthServer({ resource: publicUrl, scopes: ['mcp:tools', 'memory:write'] });
  t.after(() => as.stop());
  const file = editedManifest('oauth', (m) => {
    m.spec.auth.oauth.issuer = as.issuer;
    m.spec.endpoint.publicUrl = publicUrl;
  });
  const berth = await run(file, [], port);
  t.after(() => berth.stop('SIGKILL'));

  const anonymous = await fetch(berth.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(anonymous.status, 401);
  const challenge = anonymous.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /);
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
  assert.ok(metadataUrl, challenge);
  const metadata = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[] };
  assert.equal(metadata.resource, publicUrl);
  assert.deepEqual(metadata.authorization_servers, [as.issuer]);

  const reader = await connect(berth.url, { headers: { authorization: `Bearer ${await as.token({ scope: 'mcp:tools' })}` } });
  t.after(() => reader.close());
  const readable = (await reader.listTools()).tools.map((x) => x.name);
  assert.ok(readable.includes('read_graph') && readable.includes('search_nodes'), readable.join(', '));
  assert.ok(!readable.some((n) => /^(create_|add_|delete_)/.test(n)), `tools needing memory:write are not listed for this token: ${readable.join(', ')}`);
  const graph = await reader.callTool({ name: 'read_graph', arguments: {} });
  assert.notEqual(graph.isError, true, textOf(graph));
  const entity = { name: `example-${port}`, entityType: 'test', observations: ['written by the examples test'] };
  const refused = await reader.callTool({ name: 'create_entities', arguments: { entities: [entity] } }).then(
    (r) => textOf(r) + (r.isError ? ' [isError]' : ''),
    (e: Error) => e.message,
  );
  assert.match(refused, /memory:write|scope/i, 'create_entities without memory:write is refused');

  const writer = await connect(berth.url, { headers: { authorization: `Bearer ${await as.token({ scope: 'mcp:tools memory:write' })}` } });
  t.after(() => writer.close());
  assert.ok((await writer.listTools()).tools.some((x) => x.name === 'create_entities'), 'listed with memory:write');
  const created = await writer.callTool({ name: 'create_entities', arguments: { entities: [entity] } });
  assert.notEqual(created.isError, true, textOf(created));
  assert.match(textOf(await writer.callTool({ name: 'search_nodes', arguments: { query: entity.name } })), new RegExp(entity.name));
});

test('examples/rate-limited: allow/deny, description override, audit, and a per-tool limit', async (t) => {
  const berth = await run(join(examplesDir, 'rate-limited', 'mcpserver.yaml'));
  t.after(() => berth.stop('SIGKILL'));
  const client = await connect(berth.url);
  t.after(() => client.close());
  const { tools } = await client.listTools();
  const names = tools.map((x) => x.name).sort();
  assert.ok(names.includes('echo') && names.includes('get-sum'));
  assert.ok(!names.includes('get-env'), 'denied tool hidden');
  assert.ok(names.every((n) => n === 'echo' || n.startsWith('get-')), `only allowed tools listed: ${names.join(', ')}`);
  assert.equal(tools.find((x) => x.name === 'get-sum')?.description, 'Adds two numbers a and b and returns the sum.');

  const denied = await client.callTool({ name: 'get-env', arguments: {} }).then(
    (r) => `${r.isError ? '[isError] ' : ''}${textOf(r)}`,
    (e: Error) => e.message,
  );
  assert.doesNotMatch(denied, /PATH|HOME/, 'the denied tool did not run');
  assert.match(denied, /get-env/);

  // get-sum: 6 per minute + burst 4 = 10 at once, then one every 10 s.
  const outcomes: Array<{ ok: boolean; text: string }> = [];
  for (let i = 0; i < 12; i++) {
    const r = await client.callTool({ name: 'get-sum', arguments: { a: i, b: 1 } });
    outcomes.push({ ok: r.isError !== true, text: textOf(r) });
  }
  assert.deepEqual(outcomes.slice(0, 10).map((o) => o.ok), Array(10).fill(true), 'the first 10 calls pass');
  const refusedCall = outcomes.slice(10).find((o) => !o.ok);
  assert.ok(refusedCall, 'a call past the burst is refused');
  assert.match(refusedCall.text, /rate|retry|limit/i);
  const metrics = await (await fetch(`${berth.base}/metrics`)).text();
  assert.match(metrics, /^berth_rate_limited_total\{[^}]*get-sum[^}]*\} [1-9]/m, 'the refusal is counted');
  // echo has no per-tool limit: still fine.
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still here' } })), 'Echo: still here');
});
