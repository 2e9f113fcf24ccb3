/**
 * A 2025-era server asking a 2026-07-28 client for input: the call stays
 * parked at the server while the client gets `input_required`; the retry
 * resumes it. Tokens are one-shot, bound to the principal, method and
 * target, and expire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { Backend, ClientContext, ExchangeSink } from '../src/backend/types.ts';
import type { JsonRpcResponse } from '../src/protocol/jsonrpc.ts';
import { ANON, captureLogger, FIXTURES, runtimeConfig } from './fixtures/stdio/harness.ts';

const FIXTURE = join(FIXTURES, 'fixture-server.mjs');
const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('modern clients are never asked directly')) };
const ctx = (principal = 'alice'): ClientContext => ({ era: 'modern', protocolVersion: '2026-07-28', principal: { ...ANON, id: principal }, tenant: 'test/stdio', signal: new AbortController().signal });
const meta = (caps: Record<string, unknown> = { sampling: {}, elicitation: {} }) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': caps,
});

function ask(b: Backend, c: ClientContext, extra: Record<string, unknown> = {}, tag = 't', method = 'sampling/createMessage'): Promise<JsonRpcResponse> {
  return b.handle(c, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask', arguments: { tag, method }, _meta: meta(), ...extra } }, sink);
}
const result = (r: JsonRpcResponse) => {
  assert.ok('result' in r, JSON.stringify(r));
  return r.result;
};
const answer = { role: 'assistant', content: { type: 'text', text: 'the answer' }, model: 'm' };

async function backend(t: { after(fn: () => unknown): void }, inputTtlMs = 120_000): Promise<Backend> {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger, { inputTtlMs });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  return b;
}

test('input_required round: the retry answers the parked server request and completes the call', async (t) => {
  const b = await backend(t);
  const first = result(await ask(b, ctx()));
  assert.equal(first.resultType, 'input_required');
  const inputs = first.inputRequests as Record<string, { method: string; params: { messages: unknown[] } }>;
  const [key] = Object.keys(inputs);
  assert.equal(inputs[key!]!.method, 'sampling/createMessage');
  assert.match(JSON.stringify(inputs[key!]!.params.messages), /question t/);
  assert.ok(typeof first.requestState === 'string' && first.requestState.startsWith('berth1.'));
  const done = result(await ask(b, ctx(), { inputResponses: { [key!]: answer }, requestState: first.requestState }));
  assert.equal(done.resultType, 'complete');
  assert.match(JSON.stringify(done.content), /the answer/);
  // One-shot: the same token cannot be used again.
  const again = await ask(b, ctx(), { inputResponses: { [key!]: answer }, requestState: first.requestState });
  assert.ok('error' in again && again.error.code === -32602 && /requestState/.test(again.error.message));
});

test('a token is bound to the principal and the call it was issued for', async (t) => {
  const b = await backend(t);
  const first = result(await ask(b, ctx('alice'), {}, 'bound'));
  const key = Object.keys(first.inputRequests as object)[0]!;
  const mallory = await ask(b, ctx('mallory'), { inputResponses: { [key]: answer }, requestState: first.requestState }, 'bound');
  assert.ok('error' in mallory, 'another principal cannot resume it');
  const otherTool = await b.handle(ctx('alice'), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: meta(), requestState: first.requestState } }, sink);
  assert.ok('error' in otherTool, 'nor can another tool');
  // A failed attempt does not burn the token for its owner.
  const done = result(await ask(b, ctx('alice'), { inputResponses: { [key]: answer }, requestState: first.requestState }, 'bound'));
  assert.match(JSON.stringify(done.content), /the answer/);
});

test('an unanswered round expires: the server request fails and the token is gone', async (t) => {
  const b = await backend(t, 150);
  const first = result(await ask(b, ctx(), {}, 'late'));
  await new Promise((r) => setTimeout(r, 400));
  const key = Object.keys(first.inputRequests as object)[0]!;
  const late = await ask(b, ctx(), { inputResponses: { [key]: answer }, requestState: first.requestState }, 'late');
  assert.ok('error' in late && /expired|unknown/.test(late.error.message));
  // The child is free again (its request was answered with an error when the round expired).
  const echo = await b.handle(ctx(), { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still alive' }, _meta: meta() } }, sink);
  assert.match(JSON.stringify(result(echo).content), /still alive/);
});

test('a client without the capability is not asked; the server gets a clear refusal', async (t) => {
  const b = await backend(t);
  const res = result(await b.handle(ctx(), { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask', arguments: { tag: 'nocap', method: 'elicitation/create' }, _meta: meta({}) } }, sink));
  assert.equal(res.resultType, 'complete');
  assert.match(JSON.stringify(res.content), /did not declare the elicitation capability/);
});
