/** The SDK's JSON-RPC guards with Berth's certain-verdict fast path: same answers as zod, zod's own data and errors, and really taken. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResponse, isJSONRPCResultResponse, specTypeSchemas } from '@modelcontextprotocol/server';
import { errorVerdict, installFastGuards, notificationVerdict, requestVerdict, responseVerdict, resultVerdict } from '../src/backend/module/sdk-guards.ts';

type Schema = { safeParse(v: unknown): { success: boolean; data?: unknown; error?: unknown } };
const schemas = specTypeSchemas as unknown as Record<string, Schema>;

// Zod's verdicts before the fast path is installed (the module's own copy of safeParse).
const zodOf = new Map(['JSONRPCRequest', 'JSONRPCNotification', 'JSONRPCResultResponse', 'JSONRPCErrorResponse', 'JSONRPCResponse'].map((n) => [n, schemas[n]!.safeParse.bind(schemas[n])]));

const samples: unknown[] = [
  { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
  { jsonrpc: '2.0', id: 'a', method: 'ping' },
  { jsonrpc: '2.0', id: 2, method: 'ping', params: undefined },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 'p' } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 1.5 } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 5 } } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: [1] },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: null },
  { jsonrpc: '2.0', id: 1.5, method: 'ping' },
  { jsonrpc: '2.0', id: Number.MAX_SAFE_INTEGER + 2, method: 'ping' },
  { jsonrpc: '2.0', id: null, method: 'ping' },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 2 } },
  { jsonrpc: '2.0', method: 'notifications/message', params: { _meta: { progressToken: 'x' }, level: 'info' } },
  { jsonrpc: '2.0', method: 'notifications/message', params: { _meta: { progressToken: {} } } },
  { jsonrpc: '2.0', method: 'notifications/message', params: 'x' },
  { jsonrpc: '2.0', method: 'notifications/cancelled', id: undefined },
  { jsonrpc: '1.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 1, method: 'ping', extra: true },
  { jsonrpc: '2.0', id: 1, result: {} },
  { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x' }], isError: false } },
  { jsonrpc: '2.0', id: 'r', result: { _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'n', version: '1' } } } },
  { jsonrpc: '2.0', id: 'r', result: { _meta: { 'io.modelcontextprotocol/serverInfo': 'not an object' } } },
  { jsonrpc: '2.0', id: 'r', result: { _meta: 'no' } },
  { jsonrpc: '2.0', id: 1, result: [] },
  { jsonrpc: '2.0', id: 1, result: null },
  { jsonrpc: '2.0', result: {} },
  { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } },
  { jsonrpc: '2.0', error: { code: -32600, message: 'x', data: { any: 1 } } },
  { jsonrpc: '2.0', id: null, error: { code: 1, message: 'x' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1, message: 2 } },
  { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x', extra: 'stripped' } },
  { jsonrpc: '2.0', id: 1, error: 'x' },
  { jsonrpc: '2.0', id: 1, method: 7 },
  [],
  null,
  'ping',
  42,
];

const table: Array<[string, (m: unknown) => boolean | undefined, (m: unknown) => boolean]> = [
  ['JSONRPCRequest', requestVerdict, isJSONRPCRequest],
  ['JSONRPCNotification', notificationVerdict, isJSONRPCNotification],
  ['JSONRPCResultResponse', resultVerdict, isJSONRPCResultResponse],
  ['JSONRPCErrorResponse', errorVerdict, isJSONRPCErrorResponse],
  ['JSONRPCResponse', responseVerdict, isJSONRPCResponse],
];

test('a certain verdict is always the one zod gives', () => {
  let certain = 0;
  for (const [name, verdict] of table) {
    for (const sample of samples) {
      const v = verdict(sample);
      if (v === undefined) continue;
      certain++;
      assert.equal(v, zodOf.get(name)!(sample).success, `${name} on ${JSON.stringify(sample)}`);
    }
  }
  // Most of the corpus is decided without zod (the common messages all are).
  assert.ok(certain > table.length * samples.length * 0.8, `only ${certain} certain verdicts`);
});

test('installed: the SDK guards answer as before, with zod’s own data and errors', () => {
  installFastGuards();
  installFastGuards(); // idempotent
  for (const [name, , guard] of table) {
    for (const sample of samples) {
      const expected = zodOf.get(name)!(sample);
      assert.equal(guard(sample), expected.success, `${name} guard on ${JSON.stringify(sample)}`);
      const got = schemas[name]!.safeParse(sample);
      assert.equal(got.success, expected.success);
      if (expected.success) assert.deepEqual(got.data, expected.data, `${name} data on ${JSON.stringify(sample)}`);
      else assert.deepEqual((got.error as { issues: unknown }).issues, (expected.error as { issues: unknown }).issues, `${name} issues on ${JSON.stringify(sample)}`);
    }
  }
});

test('installed: the common messages never reach zod', () => {
  installFastGuards();
  const zodCalls = { n: 0 };
  // Count the zod parses behind the installed fast path by wrapping the schema's internal parse.
  const request = schemas.JSONRPCRequest as unknown as { _zod: { run: (...a: unknown[]) => unknown } };
  const run = request._zod.run;
  request._zod.run = (...a: unknown[]) => {
    zodCalls.n++;
    return run.apply(request._zod, a);
  };
  try {
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: { progressToken: 1 } } };
    const response = { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x' }] } };
    assert.equal(isJSONRPCRequest(call), true);
    assert.equal(isJSONRPCRequest(response), false);
    assert.equal(zodCalls.n, 0);
    // An uncertain case does reach zod.
    assert.equal(isJSONRPCRequest({ ...call, params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } } }), true);
    assert.ok(zodCalls.n > 0);
  } finally {
    request._zod.run = run;
  }
});
