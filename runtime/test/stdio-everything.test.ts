/**
 * A real published server (@modelcontextprotocol/server-everything, a
 * 2025-era SDK v1 server) hosted by the stdio backend and driven by the SDK
 * v2 client in both eras: tools, resources, prompts, progress, logging,
 * sampling and elicitation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/client';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { Backend } from '../src/backend/types.ts';
import { BackendTransport, EVERYTHING_BIN, quietLogger, runtimeConfig } from './fixtures/stdio/harness.ts';

const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' } } } as const;
const LOG_LEVEL_META_KEY = 'io.modelcontextprotocol/logLevel';

let backend: Backend;

before(async () => {
  backend = createStdioBackend(
    runtimeConfig({ stdio: { command: [EVERYTHING_BIN, 'stdio'], instances: { mode: 'shared', min: 1, max: 2 } } }),
    quietLogger(),
  );
  await backend.start();
  assert.deepEqual(backend.health(), { ready: true });
});

after(async () => {
  await backend.close(Date.now() + 3000);
});

function text(result: { content?: unknown }): string {
  const c = (result.content as Array<{ type: string; text?: string }>)[0];
  assert.equal(c?.type, 'text');
  return c.text ?? '';
}

for (const era of ['legacy', 'modern'] as const) {
  describe(`${era} client`, () => {
    const connect = async (capabilities: Record<string, unknown> = {}) => {
      const client = new Client({ name: `${era}-client`, version: '1.0.0' }, { capabilities, ...(era === 'modern' ? MODERN : {}) });
      await client.connect(new BackendTransport(backend));
      return client;
    };

    test('lists and calls tools', async () => {
      const client = await connect();
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      for (const n of ['echo', 'get-sum', 'get-structured-content', 'trigger-long-running-operation']) assert.ok(names.includes(n), `missing ${n}`);
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: `hi ${era}` } })), `Echo: hi ${era}`);
      assert.match(text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })), /42/);
      const structured = await client.callTool({ name: 'get-structured-content', arguments: { location: 'New York' } });
      assert.equal(typeof (structured.structuredContent as { temperature?: unknown }).temperature, 'number');
      const bad = await client.callTool({ name: 'get-sum', arguments: { a: 'x' } });
      assert.equal(bad.isError, true);
      await client.close();
    });

    test('lists, reads and templates resources', async () => {
      const client = await connect();
      const { resources } = await client.listResources();
      assert.ok(resources.length > 0);
      const first = resources[0]!;
      const read = await client.readResource({ uri: first.uri });
      assert.equal(read.contents[0]?.uri, first.uri);
      const { resourceTemplates } = await client.listResourceTemplates();
      assert.ok(resourceTemplates.length > 0);
      await client.close();
    });

    test('lists and gets prompts with arguments', async () => {
      const client = await connect();
      const { prompts } = await client.listPrompts();
      const names = prompts.map((p) => p.name);
      assert.ok(names.includes('simple-prompt'), names.join(','));
      const args = prompts.find((p) => p.name === 'args-prompt');
      assert.ok(args);
      const got = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lisbon', state: 'LX' } });
      assert.match(JSON.stringify(got.messages), /Lisbon/);
      await client.close();
    });

    test('relays progress notifications to the caller', async () => {
      const client = await connect();
      const progress: number[] = [];
      const res = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      assert.match(text(res), /Long running operation completed/);
      assert.deepEqual(progress, [1, 2, 3]);
      await client.close();
    });

    test('relays log messages tied to a request, honouring the level', async () => {
      const client = await connect();
      const logs: unknown[] = [];
      client.setNotificationHandler('notifications/message', (n) => void logs.push(n.params));
      const call = (meta?: Record<string, unknown>) =>
        client.callTool({ name: 'toggle-simulated-logging', arguments: {}, ...(meta ? { _meta: meta } : {}) });
      if (era === 'legacy') {
        await client.setLoggingLevel('debug');
        await call();
      } else {
        await call({ [LOG_LEVEL_META_KEY]: 'debug' });
      }
      // Turn it off again: the server keeps one toggle per process.
      await call();
      assert.equal(logs.length >= 1, true, 'expected the immediate log message of the toggle');
      assert.match(JSON.stringify(logs[0]), /-level message|level-message/);
      if (era === 'modern') {
        // Without the logLevel envelope key a modern request receives no log messages.
        const before = logs.length;
        await call();
        await call();
        assert.equal(logs.length, before);
      }
      await client.close();
    });

    test('relays sampling requests to the client that made the call', async () => {
      const client = await connect({ sampling: {} });
      client.setRequestHandler('sampling/createMessage', async (req) => ({
        role: 'assistant',
        content: { type: 'text', text: `sampled for ${era}: ${JSON.stringify(req.params.messages[0]?.content).length}` },
        model: 'test-model',
        stopReason: 'endTurn',
      }));
      const res = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 5 } });
      assert.match(text(res), new RegExp(`sampled for ${era}`));
      await client.close();
    });

    test('relays elicitation requests to the client that made the call', async () => {
      const client = await connect({ elicitation: { form: {} } });
      client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: `${era} user`, check: true } }));
      const res = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.match(JSON.stringify(res.content), new RegExp(`${era} user`));
      await client.close();
    });

    test('refuses sampling cleanly for a client without the capability', async () => {
      const client = await connect();
      const res = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 5 } });
      // The server turns the refused request into a tool error; nothing hangs.
      assert.equal(res.isError, true);
      assert.match(JSON.stringify(res.content), /sampling/);
      await client.close();
    });
  });
}

test('a modern client discovers the legacy server through a synthesized server/discover', async () => {
  const client = new Client({ name: 'probe', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new BackendTransport(backend));
  assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
  const caps = client.getServerCapabilities();
  assert.ok(caps?.tools);
  assert.equal((caps as Record<string, unknown>).tasks, undefined);
  await client.close();
});
