/** The module backend's shortcut past the SDK's repeated request checks: it must agree with the SDK's schema and really be taken. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSONRPCRequestSchema } from '@modelcontextprotocol/core';
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
import { divertChangeNotifications, isPlainRequest } from '../src/backend/module/sdk-compat.ts';
import { InProcessWire } from '../src/backend/module/wire.ts';
import type { JsonRpcMessage } from '../src/protocol/jsonrpc.ts';

const samples: unknown[] = [
  { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
  { jsonrpc: '2.0', id: 'a', method: 'ping' },
  { jsonrpc: '2.0', id: 2, method: 'ping', params: undefined },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 'p' } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 7, other: { x: 1 } } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 1.5 } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: null } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: 'no' } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: [1] },
  { jsonrpc: '2.0', id: 1.5, method: 'ping' },
  { jsonrpc: '2.0', id: Number.MAX_SAFE_INTEGER + 2, method: 'ping' },
  { jsonrpc: '2.0', id: null, method: 'ping' },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '1.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 1, method: 'ping', extra: true },
  { jsonrpc: '2.0', id: 1, result: {} },
  { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } },
  { jsonrpc: '2.0', id: 1, method: 7 },
  null,
  'ping',
];

test('a plain request is one the SDK schema accepts (never the other way round)', () => {
  let plain = 0;
  for (const sample of samples) {
    if (!isPlainRequest(sample)) continue;
    plain++;
    assert.equal(JSONRPCRequestSchema.safeParse(sample).success, true, `SDK rejects ${JSON.stringify(sample)}`);
  }
  assert.equal(plain, 5, 'the usual shapes take the shortcut');
});

test('an instance served over the in-process wire takes the shortcut and still answers and validates', async () => {
  const out: JsonRpcMessage[] = [];
  const wire = new InProcessWire((m) => out.push(m), () => {});
  let server: McpServer | undefined;
  const handle = serveStdio(
    async () => {
      const s = new McpServer({ name: 'fast', version: '1.0.0' });
      s.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
      divertChangeNotifications(s.server, () => {});
      server = s;
      return s;
    },
    { transport: wire, legacy: 'serve' },
  );
  const answer = async (id: number): Promise<JsonRpcMessage> => {
    for (let i = 0; i < 100; i++) {
      const found = out.find((m) => 'id' in m && m.id === id && !('method' in m));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no answer to ${id}`);
  };
  try {
    wire.deliver({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    assert.ok('result' in (await answer(1)));
    wire.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const channel = server?.server.transport as unknown as Record<string, unknown>;
    assert.ok(Object.hasOwn(channel, 'deliver'), 'the connection channel delivers through the shortcut');
    wire.deliver({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
    assert.deepEqual((await answer(2)) as unknown, { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'hi' }] } });
    // The SDK's per-method checks still run: bad arguments are the tool's input error, unknown methods are refused.
    wire.deliver({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 5 } } });
    const bad = (await answer(3)) as { result?: { isError?: boolean } };
    assert.equal(bad.result?.isError, true);
    wire.deliver({ jsonrpc: '2.0', id: 4, method: 'no/such/method' });
    assert.equal(((await answer(4)) as { error?: { code: number } }).error?.code, -32601);
    // A request the shortcut does not vouch for still goes the SDK's way.
    wire.deliver({ jsonrpc: '2.0', id: 5, method: 'ping', params: { _meta: { progressToken: 1.5 } } });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out.some((m) => 'id' in m && m.id === 5 && 'result' in m), false, 'the SDK drops a request its schema rejects');
  } finally {
    await handle.close().catch(() => {});
    await wire.close();
  }
});
