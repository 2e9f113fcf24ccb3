/**
 * The fast era classifier must give exactly the SDK's answer
 * (`classifyInboundRequest`) on every input; it only skips work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, sdkClassify, type McpHeaders } from '../src/protocol/classify.ts';
import { validateStandardHeaders, decodeHeaderValue } from '../src/protocol/modern-headers.ts';

const V = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const INFO = 'io.modelcontextprotocol/clientInfo';
const LEVEL = 'io.modelcontextprotocol/logLevel';

const envelopes: Array<Record<string, unknown> | undefined> = [
  undefined,
  {},
  { progressToken: 'p' },
  { progressToken: 1.5 },
  { [V]: '2026-07-28', [CAPS]: {} },
  { [V]: '2026-07-28', [CAPS]: {}, [INFO]: { name: 'c', version: '1' } },
  { [V]: '2026-07-28', [CAPS]: { elicitation: {} }, [INFO]: { name: 'c', version: '1' }, progressToken: 7 },
  { [V]: '2026-07-28', [CAPS]: {}, [LEVEL]: 'debug' },
  { [V]: '2026-07-28', [CAPS]: {}, [LEVEL]: 'loud' },
  { [V]: '2026-07-28' },
  { [V]: '2026-07-28', [CAPS]: 'none' },
  { [V]: '2026-07-28', [CAPS]: {}, [INFO]: { name: 3 } },
  { [V]: '2099-01-01', [CAPS]: {} },
  { [V]: '2025-11-25', [CAPS]: {} },
  { [V]: 42, [CAPS]: {} },
  { [V]: '2026-07-28', [CAPS]: {}, 'io.modelcontextprotocol/unknown': true },
  { [V]: '2026-07-28', [CAPS]: {}, custom: 'x' },
];

const headerSets: McpHeaders[] = [
  {},
  { protocolVersion: '2026-07-28' },
  { protocolVersion: '2026-07-28', method: 'tools/call', name: 'echo' },
  { protocolVersion: ' 2026-07-28 ', method: 'tools/call' },
  { protocolVersion: '2025-11-25' },
  { protocolVersion: '2099-01-01', method: 'ping' },
  { method: 'tools/list' },
  { protocolVersion: '2025-06-18' },
  { protocolVersion: 'not-a-version' },
  { protocolVersion: '1999-01-01' },
];

function bodies(): unknown[] {
  const out: unknown[] = [null, 42, 'x', [], [{ jsonrpc: '2.0', id: 1, method: 'ping' }], {}, { jsonrpc: '2.0' }];
  for (const meta of envelopes) {
    for (const method of ['tools/call', 'initialize', 'ping', 'notifications/cancelled', 'subscriptions/listen']) {
      const params = meta === undefined ? { name: 'echo' } : { name: 'echo', _meta: meta };
      out.push({ jsonrpc: '2.0', id: 1, method, params });
      out.push({ jsonrpc: '2.0', id: 'a', method, params });
      out.push({ jsonrpc: '2.0', method, params });
      out.push({ jsonrpc: '2.0', id: 1.5, method, params });
      out.push({ jsonrpc: '2.0', id: 1, method, params, extra: true });
      out.push({ jsonrpc: '2.0', id: 1, method, params: meta === undefined ? undefined : { _meta: meta } });
    }
  }
  const handshake = { capabilities: {}, clientInfo: { name: 'c', version: '1' } };
  for (const protocolVersion of ['2025-11-25', '2025-06-18', '2024-11-05', '2026-07-28', 'x', 5, undefined]) {
    out.push({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, ...handshake } });
    out.push({ jsonrpc: '2.0', id: 'i', method: 'initialize', params: { protocolVersion } });
    out.push({ jsonrpc: '2.0', method: 'initialize', params: { protocolVersion, ...handshake } });
    out.push({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, ...handshake, _meta: { progressToken: 1 } } });
  }
  out.push({ jsonrpc: '2.0', id: 0, method: 'initialize' });
  out.push({ jsonrpc: '2.0', id: 0, method: 'initialize', params: [] });
  out.push({ jsonrpc: '2.0', id: 1, method: 'ping', params: [] });
  out.push({ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: 'x' } });
  out.push({ jsonrpc: '2.0', id: 1, result: {} });
  out.push({ jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } });
  out.push({ jsonrpc: '2.0', id: null, method: 'ping' });
  return out;
}

test('the fast classifier agrees with the SDK on a corpus of bodies and headers', async () => {
  let compared = 0;
  for (const body of bodies()) {
    for (const headers of headerSets) {
      for (const method of ['POST', 'GET']) {
        const expected = await sdkClassify(method, headers, method === 'GET' ? undefined : body);
        const actual = await classify(method, headers, method === 'GET' ? undefined : body);
        assert.deepEqual(actual, expected, `${method} ${JSON.stringify(body)} ${JSON.stringify(headers)}`);
        compared++;
      }
    }
  }
  assert.ok(compared > 2000);
});

test('repeated envelopes hit the verdict cache and still agree', async () => {
  const body = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', _meta: { [V]: '2026-07-28', [CAPS]: {}, progressToken: 'p' } } };
  const headers = { protocolVersion: '2026-07-28', method: 'tools/call', name: 'echo' };
  for (let i = 0; i < 100; i++) assert.deepEqual(await classify('POST', headers, body), await sdkClassify('POST', headers, body));
  assert.ok(!(classify('POST', headers, body) instanceof Promise), 'a cached envelope is decided synchronously');
});

test('standard header validation mirrors SEP-2243', () => {
  const params = { name: 'echo' };
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'tools/call', name: 'echo' }, 'tools/call', params, '2026-07-28'), undefined);
  assert.equal(validateStandardHeaders({}, 'tools/call', params, '2026-07-28')?.cell, 'version-header-missing');
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28' }, 'tools/call', params, '2026-07-28')?.cell, 'method-header-missing');
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'tools/call' }, 'tools/call', params, '2026-07-28')?.cell, 'name-header-missing');
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'tools/call', name: 'x' }, 'tools/call', params, '2026-07-28')?.cell, 'name-header-mismatch');
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'tools/call', name: '=?base64?!!?=' }, 'tools/call', params, '2026-07-28')?.cell, 'name-header-invalid-encoding');
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'tools/list' }, 'tools/list', {}, '2026-07-28'), undefined);
  assert.equal(validateStandardHeaders({ protocolVersion: '2026-07-28', method: 'resources/read', name: 'file:///a' }, 'resources/read', { uri: 'file:///a' }, '2026-07-28'), undefined);
  assert.equal(decodeHeaderValue(`=?base64?${Buffer.from('naïve ✓').toString('base64')}?=`), 'naïve ✓');
});
