/**
 * The real SDK v2 client against the runtime over a real socket, with the
 * real module backend: both protocol eras, progress and logging, elicitation,
 * `subscriptions/listen`, and legacy resumption after the server drops a stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startApp } from './helpers/http-app.ts';
import { fixtureBackend, httpFixture } from './helpers/http-fixture.ts';

type Mode = 'legacy' | 'auto';

async function connect(url: string, mode: Mode, transportOptions: ConstructorParameters<typeof StreamableHTTPClientTransport>[1] = {}): Promise<Client> {
  const client = new Client({ name: `sdk-${mode}`, version: '1.0.0' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), transportOptions));
  return client;
}

for (const mode of ['legacy', 'auto'] as const) {
  const era = mode === 'legacy' ? '2025-11-25' : '2026-07-28';
  test(`SDK client (${era}): list and call tools, with progress notifications`, async () => {
    const { factory } = httpFixture();
    const app = await startApp({ backend: fixtureBackend(factory) });
    const client = await connect(app.url, mode);
    try {
      assert.equal(client.getNegotiatedProtocolVersion(), era);
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name).sort(), ['announce', 'ask', 'echo', 'gate', 'progress']);
      const echo = await client.callTool({ name: 'echo', arguments: { text: 'héllo' } });
      assert.deepEqual(echo.content, [{ type: 'text', text: 'héllo' }]);
      const progress: number[] = [];
      const done = await client.callTool({ name: 'progress', arguments: { steps: 4, ms: 5 } }, { onprogress: (p) => progress.push(p.progress) });
      assert.deepEqual(done.content, [{ type: 'text', text: 'done 4' }]);
      assert.deepEqual(progress, [1, 2, 3, 4]);
      const bad = await client.callTool({ name: 'echo', arguments: { text: 42 } });
      assert.equal(bad.isError, true, 'bad arguments become an isError result, not a crash');
    } finally {
      await client.close();
      await app.close();
    }
  });
}

test('SDK client (2025-11-25): logging notifications and elicitation round-trip through the session', async () => {
  const { factory } = httpFixture();
  const app = await startApp({ backend: fixtureBackend(factory) });
  const client = await connect(app.url, 'legacy');
  try {
    const logs: unknown[] = [];
    client.setNotificationHandler('notifications/message', (n) => void logs.push(n.params.data));
    client.setRequestHandler('elicitation/create', async (request) => {
      assert.equal(request.params.message, 'Your name?');
      return { action: 'accept', content: { name: 'Ada' } };
    });
    await client.callTool({ name: 'progress', arguments: { steps: 2, ms: 1 } });
    assert.deepEqual(logs, ['step 1', 'step 2']);
    const asked = await client.callTool({ name: 'ask', arguments: {} });
    assert.deepEqual(asked.content, [{ type: 'text', text: 'accept:{"name":"Ada"}' }]);
  } finally {
    await client.close();
    await app.close();
  }
});

test('SDK client (2026-07-28): subscriptions/listen receives tools/list_changed published by a tool', async () => {
  const { factory } = httpFixture();
  const app = await startApp({ backend: fixtureBackend(factory) });
  const client = await connect(app.url, 'auto');
  const other = await connect(app.url, 'auto');
  try {
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
    assert.deepEqual(subscription.honoredFilter, { toolsListChanged: true }, 'the server offers no prompts');
    await other.callTool({ name: 'announce', arguments: {} });
    const deadline = Date.now() + 3000;
    while (changed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(changed, 1);
    await subscription.close();
    assert.equal(await subscription.closed, 'local');
  } finally {
    await client.close();
    await other.close();
    await app.close();
  }
});

test('SDK client (2025-11-25): a legacy session also hears list changes on its GET stream', async () => {
  const { factory } = httpFixture();
  const app = await startApp({ backend: fixtureBackend(factory) });
  const client = await connect(app.url, 'legacy');
  try {
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    await new Promise((r) => setTimeout(r, 200)); // the client opens its GET stream after initialize
    await client.callTool({ name: 'announce', arguments: {} });
    const deadline = Date.now() + 3000;
    while (changed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(changed, 1);
  } finally {
    await client.close();
    await app.close();
  }
});

test('SDK client (2025-11-25): streams the server drops mid-call resume with no lost and no duplicated events', async () => {
  const { factory } = httpFixture();
  // Every SSE stream lives at most 1 s: a 2.4 s call's stream is dropped at least twice.
  const app = await startApp({ backend: fixtureBackend(factory), spec: { timeouts: { streamSeconds: 1 } } });
  const resumedFrom: string[] = [];
  const client = await connect(app.url, 'legacy', {
    reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1, maxRetries: 20 },
    fetch: async (input, init) => {
      const last = new Headers(init?.headers).get('last-event-id');
      if (last) resumedFrom.push(last);
      return fetch(input, init);
    },
  });
  try {
    const tokens: string[] = [];
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 24, ms: 100 } },
      { onprogress: (p) => progress.push(p.progress), onresumptiontoken: (t) => tokens.push(t), resetTimeoutOnProgress: true },
    );
    assert.deepEqual(result.content, [{ type: 'text', text: 'done 24' }]);
    assert.deepEqual(progress, Array.from({ length: 24 }, (_, i) => i + 1), 'every progress event exactly once, in order');
    const streams = new Set(tokens.map((t) => t.split('.')[1]));
    assert.equal(streams.size, 1, 'all events belong to the one POST stream');
    const postStream = [...streams][0];
    assert.ok(resumedFrom.filter((id) => id.split('.')[1] === postStream).length >= 1, `the POST stream was resumed (${resumedFrom.length} resumptions)`);
    assert.equal(new Set(tokens).size, tokens.length, 'no event id seen twice');
  } finally {
    await client.close();
    await app.close();
  }
});
