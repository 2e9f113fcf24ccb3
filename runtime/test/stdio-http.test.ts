/**
 * The stdio backend composed into a full runtime (startRuntime: HTTP layer,
 * memory stores, auth none) and driven over Streamable HTTP by the SDK v2
 * client in both eras, hosting the published server-everything: tools,
 * progress, logging, sampling, elicitation and resource update
 * notifications on the legacy GET stream; readiness from the pool.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startRuntime, type RuntimeHandle } from '../src/main.ts';
import { captureLogger, EVERYTHING_BIN, runtimeConfig } from './fixtures/stdio/harness.ts';
import { isAlive } from './helpers/process.ts';

let rt: RuntimeHandle;

before(async () => {
  const config = runtimeConfig(
    { stdio: { command: [EVERYTHING_BIN, 'stdio'], instances: { mode: 'shared', min: 1, max: 2 } } },
    { runtime: { listen: { host: '127.0.0.1', port: 0 } }, spec: { tools: { audit: { onFinding: 'warn' } } } },
  );
  rt = await startRuntime(config, { logger: captureLogger('warn').logger, handleSignals: false, handleProcessErrors: false });
});

after(async () => {
  await rt.stop('test done');
});

async function client(era: 'legacy' | 'modern', capabilities: Record<string, unknown> = {}): Promise<Client> {
  const c = new Client({ name: `http-${era}`, version: '1.0.0' }, { capabilities, ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}) });
  await c.connect(new StreamableHTTPClientTransport(new URL(rt.url)));
  return c;
}

const text = (r: { content?: unknown }) => (r.content as Array<{ text?: string }>)[0]?.text ?? '';

test('/ready reflects the warm pool', async () => {
  const res = await fetch(new URL('/ready', rt.url));
  assert.equal(res.status, 200);
});

for (const era of ['legacy', 'modern'] as const) {
  test(`${era} client over HTTP: tools, progress and logging`, async () => {
    const c = await client(era);
    assert.equal(c.getServerVersion()?.name, 'mcp-servers/everything');
    assert.ok((await c.listTools()).tools.some((t) => t.name === 'echo'));
    assert.equal(text(await c.callTool({ name: 'echo', arguments: { message: `http ${era}` } })), `Echo: http ${era}`);
    const progress: number[] = [];
    await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
    assert.deepEqual(progress.slice(0, 2), [1, 2]);
    const logs: unknown[] = [];
    c.setNotificationHandler('notifications/message', (n) => void logs.push(n.params));
    if (era === 'legacy') {
      await c.setLoggingLevel('debug');
      await c.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    } else {
      await c.callTool({ name: 'toggle-simulated-logging', arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } });
    }
    await c.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    assert.ok(logs.length >= 1, `${era}: the toggle's immediate log message arrived`);
    await c.close();
  });

  test(`${era} client over HTTP: sampling and elicitation`, async () => {
    const c = await client(era, { sampling: {}, elicitation: { form: {} } });
    c.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: `http sampled ${era}` }, model: 'm' }));
    c.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: `http ${era}`, check: true } }));
    assert.match(text(await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'x', maxTokens: 3 } })), new RegExp(`http sampled ${era}`));
    assert.match(JSON.stringify((await c.callTool({ name: 'trigger-elicitation-request', arguments: {} })).content), new RegExp(`http ${era}`));
    await c.close();
  });
}

test('a legacy client subscribed to a resource hears its updates', async () => {
  const c = await client('legacy');
  const { resources } = await c.listResources();
  const uri = resources[0]!.uri;
  const updates: string[] = [];
  c.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
  await c.subscribeResource({ uri });
  await c.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
  const end = Date.now() + 5000;
  while (!updates.length && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  await c.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
  assert.ok(updates.includes(uri), `updates: ${updates.join(',')}`);
  await c.unsubscribeResource({ uri });
  await c.close();
});

test('perSession over HTTP: one child per session, initialized with its params, stopped when the session ends', async (t) => {
  const { join } = await import('node:path');
  const { FIXTURES } = await import('./fixtures/stdio/harness.ts');
  const config = runtimeConfig(
    { stdio: { command: [join(FIXTURES, 'fixture-server.mjs')], instances: { mode: 'perSession', min: 1, max: 4 } } },
    { runtime: { listen: { host: '127.0.0.1', port: 0 } }, spec: { tools: { audit: { onFinding: 'warn' } } } },
  );
  const per = await startRuntime(config, { logger: captureLogger('warn').logger, handleSignals: false, handleProcessErrors: false });
  t.after(() => per.stop('test done'));
  const who = async (name: string) => {
    const c = new Client({ name, version: '9.9.9' }, { capabilities: { elicitation: {} } });
    const transport = new StreamableHTTPClientTransport(new URL(per.url));
    await c.connect(transport);
    const w = JSON.parse(text(await c.callTool({ name: 'whoami', arguments: {} }))) as { pid: number; initialize: { clientInfo: { name: string } } };
    return { c, transport, w };
  };
  const a = await who('ide-a');
  const b = await who('ide-b');
  assert.notEqual(a.w.pid, b.w.pid);
  assert.equal(a.w.initialize.clientInfo.name, 'ide-a');
  assert.equal(b.w.initialize.clientInfo.name, 'ide-b');
  await a.transport.terminateSession();
  await a.c.close();
  const end = Date.now() + 5000;
  while (isAlive(a.w.pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  assert.equal(isAlive(a.w.pid), false, "the ended session's child is gone");
  assert.equal(isAlive(b.w.pid), true, "the other session's child lives on");
  await b.c.close();
});
