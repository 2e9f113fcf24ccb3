/** The pure era-bridging helpers and the framing/SSE parsers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingCapability } from '../src/backend/bridge/capabilities.ts';
import { toChangeEvent } from '../src/backend/bridge/change-events.ts';
import { discoverFromInitialize, initializeForClient, initializeFromDiscover } from '../src/backend/bridge/discover.ts';
import { buildEnvelope, negotiateLegacyVersion, readEnvelope, stripEnvelope, withMeta } from '../src/backend/bridge/envelope.ts';
import { passesLogLevel } from '../src/backend/bridge/log-level.ts';
import { decodeModernResult, encodeModernErrorCode, encodeModernResult } from '../src/backend/bridge/modern-result.ts';
import { SubscriptionRefs } from '../src/backend/bridge/subscriptions.ts';
import { parsePackageSpec } from '../src/backend/install-package.ts';
import { encodeHeaderValue, headerDeclarations } from '../src/backend/remote/modern-upstream.ts';
import { SseParser, type SseEvent } from '../src/backend/remote/sse.ts';
import { LineReader } from '../src/backend/stdio/framing.ts';

const ENV = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
  'io.modelcontextprotocol/logLevel': 'info',
};

test('envelope: read, strip (keeping progressToken and extension keys), build', () => {
  const params = { name: 'echo', _meta: { ...ENV, progressToken: 5, 'acme.dev/trace': 'x' } };
  assert.deepEqual(readEnvelope(params), { protocolVersion: '2026-07-28', clientInfo: { name: 'c', version: '1' }, clientCapabilities: { sampling: {} }, logLevel: 'info' });
  assert.deepEqual(stripEnvelope(params), { name: 'echo', _meta: { progressToken: 5, 'acme.dev/trace': 'x' } });
  assert.deepEqual(stripEnvelope({ name: 'echo', _meta: { ...ENV } }), { name: 'echo' });
  const untouched = { name: 'x', _meta: { progressToken: 1 } };
  assert.equal(stripEnvelope(untouched), untouched, 'nothing to strip: the same object');
  assert.equal(stripEnvelope(undefined), undefined);
  const built = buildEnvelope({ clientInfo: { name: 'b', version: '2' }, clientCapabilities: {}, logLevel: 'debug' });
  assert.equal(built['io.modelcontextprotocol/protocolVersion'], '2026-07-28');
  assert.equal(built['io.modelcontextprotocol/logLevel'], 'debug');
  assert.deepEqual(withMeta({ a: 1, _meta: { progressToken: 2 } }, { k: 3 }), { a: 1, _meta: { progressToken: 2, k: 3 } });
  assert.equal(negotiateLegacyVersion('2025-06-18', '2025-11-25'), '2025-06-18');
  assert.equal(negotiateLegacyVersion('2025-11-25', '2025-03-26'), '2025-03-26', 'never newer than the server speaks');
  assert.equal(negotiateLegacyVersion('1999-01-01', '2025-11-25'), '2025-11-25');
});

test('modern results: resultType, cache hints, deleted fields, server identity; and back', () => {
  const si = { name: 's', version: '1' };
  const list = encodeModernResult('tools/list', { tools: [{ name: 'a', inputSchema: {}, execution: { taskSupport: 'optional' } }] }, si);
  assert.deepEqual(list, { tools: [{ name: 'a', inputSchema: {} }], resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { 'io.modelcontextprotocol/serverInfo': si } });
  const call = encodeModernResult('tools/call', { content: [], _meta: { x: 1 } }, si);
  assert.deepEqual(call, { content: [], _meta: { x: 1, 'io.modelcontextprotocol/serverInfo': si }, resultType: 'complete' });
  assert.equal(encodeModernResult('tools/call', { resultType: 'input_required', inputRequests: {} }).resultType, 'input_required');
  assert.equal(encodeModernResult('tools/list', { resultType: 'input_required', tools: [] }).resultType, 'complete', 'only MRTR methods may ask for input');
  assert.deepEqual(encodeModernResult('server/discover', { capabilities: { tools: {}, tasks: {} }, supportedVersions: [] }).capabilities, { tools: {} });
  assert.equal(encodeModernResult('resources/read', { contents: [], ttlMs: 5000, cacheScope: 'public' }).ttlMs, 5000);
  assert.equal(encodeModernErrorCode(-32002), -32602);
  assert.equal(encodeModernErrorCode(-32601), -32601);
  assert.deepEqual(decodeModernResult({ tools: [], resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { 'io.modelcontextprotocol/serverInfo': si } }), { tools: [] });
  assert.deepEqual(decodeModernResult({ content: [], resultType: 'complete', _meta: { keep: true, 'io.modelcontextprotocol/serverInfo': si } }), { content: [], _meta: { keep: true } });
});

test('handshake translation in both directions', () => {
  const init = { protocolVersion: '2025-06-18', capabilities: { tools: { listChanged: true }, tasks: { list: {} } }, serverInfo: { name: 'srv', version: '2' }, instructions: 'hi' };
  const disc = discoverFromInitialize(init);
  assert.deepEqual(disc.supportedVersions, ['2026-07-28']);
  assert.deepEqual(disc.capabilities, { tools: { listChanged: true } });
  assert.equal(disc.instructions, 'hi');
  assert.equal(disc.resultType, 'complete');
  assert.deepEqual(initializeForClient(init, '2025-03-26'), { protocolVersion: '2025-03-26', capabilities: { tools: { listChanged: true } }, serverInfo: init.serverInfo, instructions: 'hi' });
  const back = initializeFromDiscover({ ...disc }, '2025-06-18', { name: 'fallback', version: '0' });
  assert.deepEqual(back.serverInfo, { name: 'srv', version: '2' });
  assert.equal(back.protocolVersion, '2025-06-18');
  assert.deepEqual(initializeFromDiscover({ capabilities: {} }, 'bogus', { name: 'fallback', version: '0' }).serverInfo, { name: 'fallback', version: '0' });
});

test('log levels: thresholds and era defaults', () => {
  assert.equal(passesLogLevel('error', 'warning', false), true);
  assert.equal(passesLogLevel('info', 'warning', true), false);
  assert.equal(passesLogLevel('info', undefined, true), true, '2025 session without setLevel gets everything');
  assert.equal(passesLogLevel('emergency', undefined, false), false, 'a 2026 request without logLevel gets nothing');
  assert.equal(passesLogLevel('weird', 'error', false), true, 'unknown levels are not silently dropped');
});

test('capabilities a server→client request needs', () => {
  assert.equal(missingCapability('sampling/createMessage', {}, {}), 'sampling');
  assert.equal(missingCapability('sampling/createMessage', { tools: [] }, { sampling: {} }), 'sampling.tools');
  assert.equal(missingCapability('elicitation/create', {}, { elicitation: {} }), undefined, 'bare elicitation means form');
  assert.equal(missingCapability('elicitation/create', { mode: 'url' }, { elicitation: {} }), 'elicitation.url');
  assert.equal(missingCapability('elicitation/create', {}, { elicitation: { url: {} } }), 'elicitation.form');
  assert.equal(missingCapability('roots/list', undefined, { roots: {} }), undefined);
  assert.equal(missingCapability('ping', undefined, undefined), undefined);
});

test('change notifications map to backend events', () => {
  assert.deepEqual(toChangeEvent({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }), { kind: 'tools_list_changed' });
  assert.deepEqual(toChangeEvent({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'a://b' } }), { kind: 'resource_updated', uri: 'a://b' });
  assert.equal(toChangeEvent({ jsonrpc: '2.0', method: 'notifications/resources/updated' }), undefined);
  assert.equal(toChangeEvent({ jsonrpc: '2.0', method: 'notifications/message' }), undefined);
});

test('subscriptions are reference-counted and a failed subscribe records nothing', async () => {
  const applied: string[] = [];
  let fail = false;
  const refs = new SubscriptionRefs(async (op, uri) => {
    applied.push(`${op} ${uri}`);
    return fail ? { error: { code: -32601, message: 'no' } } : { result: {} };
  });
  fail = true;
  assert.ok('error' in (await refs.subscribe('u', 'a')));
  assert.deepEqual(refs.uris(), []);
  fail = false;
  await refs.subscribe('u', 'a');
  await refs.subscribe('u', 'b');
  await refs.subscribe('u', 'b');
  await refs.unsubscribe('u', 'a');
  await refs.unsubscribe('u', 'nobody');
  assert.deepEqual(refs.uris(), ['u']);
  await refs.dropKey('b');
  assert.deepEqual(refs.uris(), []);
  assert.deepEqual(applied, ['resources/subscribe u', 'resources/subscribe u', 'resources/unsubscribe u']);
});

test('newline-delimited framing across chunk boundaries, CRLF and oversize lines', () => {
  const lines: string[] = [];
  const overflows: number[] = [];
  const r = new LineReader((l) => lines.push(l), { maxLineBytes: 16, onOverflow: (n) => overflows.push(n) });
  r.push('{"a":1}\n{"b"');
  r.push(':2}\r\n\n');
  r.push('x'.repeat(20));
  r.push('tail\n{"c":3}');
  r.end();
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', 'tail', '{"c":3}']);
  assert.equal(overflows.length, 1);
});

test('SSE parsing: multi-line data, ids, retry, comments, CRLF and split chunks', () => {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  p.push(': comment\r\nid: 1\r\ndata: {"a":\r\n');
  p.push('data: 1}\r\n\r\nevent: other\ndata: x\n\nid: 2\nretry: 500\ndata:\n\n');
  p.push('data: late');
  assert.equal(events.length, 3);
  assert.deepEqual(events[0], { event: 'message', data: '{"a":\n1}', id: '1' });
  assert.equal(events[1]!.event, 'other');
  assert.deepEqual(events[2], { event: 'message', data: '', id: '2', retry: 500 });
  p.push('\n\n');
  assert.equal(events[3]!.data, 'late');
});

test('modern request headers: plain or base64-sentinel values and x-mcp-header declarations', () => {
  assert.equal(encodeHeaderValue('echo'), 'echo');
  assert.equal(encodeHeaderValue(' padded'), `=?base64?${Buffer.from(' padded').toString('base64')}?=`);
  assert.equal(encodeHeaderValue('naïve'), `=?base64?${Buffer.from('naïve').toString('base64')}?=`);
  assert.equal(encodeHeaderValue(''), '=?base64??=');
  assert.deepEqual(headerDeclarations({ type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, nested: { type: 'object', properties: { id: { type: 'integer', 'x-mcp-header': 'Id' } } } } }), [
    { path: ['region'], header: 'Region' },
    { path: ['nested', 'id'], header: 'Id' },
  ]);
});

test('npm package specs', () => {
  assert.deepEqual(parsePackageSpec('@modelcontextprotocol/server-everything@2026.8.31'), { name: '@modelcontextprotocol/server-everything', range: '2026.8.31' });
  assert.deepEqual(parsePackageSpec('left-pad'), { name: 'left-pad', range: '' });
  assert.deepEqual(parsePackageSpec('@scope/pkg'), { name: '@scope/pkg', range: '' });
});
