/**
 * `berth run -f FILE --stdio`, driven by the SDK client's StdioClientTransport
 * in both eras: a stdio-sourced manifest (server-everything behind Berth) and
 * a module manifest, stdout carrying only protocol, logs on stderr, a
 * cancel that finds its call by the request id's value and type, and a
 * clean exit when the client closes stdin.
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { EVERYTHING_BIN, FIXTURES, RUNTIME_DIR } from './fixtures/stdio/harness.ts';

const BERTH = join(RUNTIME_DIR, 'bin', 'berth.mjs');
const HELLO = join(RUNTIME_DIR, '..', 'examples', 'hello', 'mcpserver.yaml');

function manifest(dir: string, source: string): string {
  const file = join(dir, 'mcpserver.yaml');
  writeFileSync(
    file,
    `apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: { name: local-stdio }
spec:
  source:
${source}
  auth: { none: {} }
`,
  );
  return file;
}

function transport(file: string): { t: StdioClientTransport; stderr: () => string } {
  const t = new StdioClientTransport({
    command: process.execPath,
    args: [BERTH, 'run', '-f', file, '--stdio', '--log-level', 'info'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    stderr: 'pipe',
  });
  let err = '';
  t.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { t, stderr: () => err };
}

async function exited(t: StdioClientTransport, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const pid = t.pid;
    if (pid === null) return true;
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

test('berth run --stdio hosts a stdio server for a 2025-era and a 2026-07-28 client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-serve-stdio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = manifest(dir, `    stdio:\n      command: ["${EVERYTHING_BIN}", "stdio"]\n      instances: { mode: shared, min: 1, max: 1 }`);

  for (const era of ['legacy', 'modern'] as const) {
    const { t: tr, stderr } = transport(file);
    const client = new Client({ name: `ide-${era}`, version: '1.0.0' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
    t.after(() => client.close());
    await client.connect(tr);
    assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === 'echo'));
    const res = await client.callTool({ name: 'echo', arguments: { message: `over stdio ${era}` } });
    assert.deepEqual(res.content, [{ type: 'text', text: `Echo: over stdio ${era}` }]);
    const progress: number[] = [];
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
    // The SDK client's stdio transport drops a progress notification that arrives in the same read as the
    // response (it does so against the server directly too), so the last step may be missing.
    assert.deepEqual(progress.slice(0, 2), [1, 2], `${era} progress`);
    const pid = tr.pid;
    await client.close();
    assert.ok(await exited(tr, 5000), `berth (pid ${pid}) exits when stdin closes`);
    const logs = stderr().split('\n').filter(Boolean);
    assert.ok(logs.some((l) => l.includes('Serving over stdio')), 'logs go to stderr');
    assert.ok(logs.some((l) => l.includes('A stdio server process is ready') && l.includes('"tenant":"default/local-stdio"')));
  }
});

test('berth run --stdio serves a module manifest too', async (t) => {
  const client = new Client({ name: 'ide', version: '1.0.0' });
  t.after(() => client.close());
  const { t: tr } = transport(HELLO);
  await client.connect(tr);
  assert.ok((await client.listTools()).tools.length > 0);
  await client.close();
  assert.ok(await exited(tr, 5000));
});

test('berth run --stdio answers garbage with JSON-RPC errors and keeps serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-serve-stdio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = manifest(dir, `    stdio:\n      command: ["${join(FIXTURES, 'fixture-server.mjs')}"]`);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [BERTH, 'run', '-f', file, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  child.stdin.write('this is not json\n');
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) + '\n');
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) + '\n');
  const lines = async (n: number) => {
    const end = Date.now() + 10_000;
    while (out.split('\n').filter(Boolean).length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const got = await lines(3);
  assert.deepEqual(got[0], { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
  const byId = new Map(got.slice(1).map((m) => [m.id, m]));
  assert.equal((byId.get(1)?.error as { code: number }).code, -32600, 'requests before initialize are refused');
  assert.equal((byId.get(2)?.result as { protocolVersion: string }).protocolVersion, '2025-06-18');
  child.stdin.end();
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0);
});

test('a 2026-07-28 client on the stdio connection hears list changes through subscriptions/listen', async (t) => {
  const { createStdioBackend } = await import('../src/backend/stdio/index.ts');
  const { BackendTransport, quietLogger, runtimeConfig } = await import('./fixtures/stdio/harness.ts');
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [join(FIXTURES, 'fixture-server.mjs')] } }), quietLogger());
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const c = new Client({ name: 'listener', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await c.connect(new BackendTransport(b));
  let changed = 0;
  c.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
  const sub = await c.listen({ toolsListChanged: true });
  assert.equal(sub.honoredFilter.toolsListChanged, true);
  await c.callTool({ name: 'announce', arguments: {} });
  const end = Date.now() + 3000;
  while (!changed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(changed, 1);
  await sub.close();
  await c.callTool({ name: 'announce', arguments: {} });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(changed, 1, 'a closed subscription hears nothing');
  await c.close();
});

test('berth run --stdio cancels a call by its request id, and a string id does not cancel the number', async (t) => {
  const child = spawn(process.execPath, [BERTH, 'run', '-f', join(RUNTIME_DIR, 'test', 'fixtures', 'replicas', 'mcpserver-short-idle.yaml'), '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<{ id?: unknown; error?: { code: number; message: string }; result?: unknown }> = [];
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  });
  const send = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
  const answer = async (id: unknown, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const found = lines.find((l) => l.id === id);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  };
  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'ide', version: '1' } } });
  assert.ok(await answer(1, 15_000), 'initialized');
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait_abort', arguments: {} } });
  await new Promise((r) => setTimeout(r, 200));
  send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: '7' } });
  assert.equal(await answer(7, 500), undefined, 'the string id "7" names another request');
  send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } });
  const cancelled = await answer(7, 5000);
  assert.equal(cancelled?.error?.code, -32800, JSON.stringify(cancelled));
  send({ jsonrpc: '2.0', id: 8, method: 'ping' });
  assert.deepEqual((await answer(8, 5000))?.result, {});
});
