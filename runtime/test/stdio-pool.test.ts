/**
 * Pool behaviour: growth under load and idle shrink, per-session children
 * initialized with the session's own params, shared subscriptions and log
 * levels kept per session, change notifications fanned out via onChange.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { Backend, ClientContext, ExchangeSink, ServerChangeEvent } from '../src/backend/types.ts';
import type { JsonRpcNotification, JsonRpcResponse } from '../src/protocol/jsonrpc.ts';
import { ANON, captureLogger, FIXTURES, runtimeConfig } from './fixtures/stdio/harness.ts';
import { isAlive } from './helpers/process.ts';

const FIXTURE = join(FIXTURES, 'fixture-server.mjs');
const nullSink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('no client')) };

function session(id: string, clientName = id): ClientContext {
  return {
    era: 'legacy',
    protocolVersion: '2025-06-18',
    session: { id, initialize: { protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name: clientName, version: '2.0' } } },
    principal: ANON,
    tenant: 'test/stdio',
    signal: new AbortController().signal,
  };
}
const modern = (): ClientContext => ({ era: 'modern', protocolVersion: '2026-07-28', principal: ANON, tenant: 'test/stdio', signal: new AbortController().signal });
const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'm', version: '1' } };

function call(b: Backend, ctx: ClientContext, method: string, params: Record<string, unknown>, sink = nullSink, id: number | string = 1): Promise<JsonRpcResponse> {
  return b.handle(ctx, { jsonrpc: '2.0', id, method, params: ctx.era === 'modern' ? { ...params, _meta: envelope } : params }, sink);
}
const tool = (b: Backend, ctx: ClientContext, name: string, args: Record<string, unknown> = {}, sink = nullSink) => call(b, ctx, 'tools/call', { name, arguments: args }, sink);
function textOf(res: JsonRpcResponse): string {
  assert.ok('result' in res, JSON.stringify(res));
  return (res.result.content as Array<{ text: string }>)[0]!.text;
}
async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the shared pool grows to max under load and shrinks back to min when idle', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 3 } } }), logger, { idleMs: 300 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const ready = () => lines.filter((l) => l.msg === 'A stdio server process is ready').length;
  assert.equal(ready(), 1);
  // Sustained load from many sessions: no child serves only one of them, so the pool grows.
  const stopAt = Date.now() + 1500;
  let served = 0;
  await Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      while (Date.now() < stopAt) {
        assert.equal(textOf(await tool(b, session(`load-${i}`), 'slow', { ms: 100, text: `done ${i}` })), `done ${i}`);
        served++;
      }
    }),
  );
  assert.equal(ready(), 3);
  assert.ok(served > 12);
  await waitFor(() => lines.filter((l) => l.msg === 'Stopped an idle stdio server process').length === 2, 5000);
  assert.equal(ready(), 3, 'never more than max');
  assert.ok(b.health().ready);
  await b.close(Date.now() + 2000);
});

test('perSession: each legacy session gets its own child initialized with its own params', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'perSession', min: 1, max: 2 } } }), logger, { sessionIdleMs: 400 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const a = session('sess-a', 'client-a');
  const c = session('sess-c', 'client-c');
  const initA = await call(b, a, 'initialize', a.session!.initialize);
  assert.ok('result' in initA);
  assert.equal(initA.result.protocolVersion, '2025-06-18');
  assert.deepEqual(initA.result.serverInfo, { name: 'berth-fixture', version: '1.0.0' });
  const whoA = JSON.parse(textOf(await tool(b, a, 'whoami')));
  const whoC = JSON.parse(textOf(await tool(b, c, 'whoami')));
  const whoModern = JSON.parse(textOf(await tool(b, modern(), 'whoami')));
  assert.equal(whoA.initialize.clientInfo.name, 'client-a');
  assert.deepEqual(whoA.initialize.capabilities, { roots: {} }, 'the session child sees the client capabilities');
  assert.equal(whoC.initialize.clientInfo.name, 'client-c');
  assert.equal(whoModern.initialize.clientInfo.name, 'berth', 'modern requests go to the shared pool');
  assert.equal(new Set([whoA.pid, whoC.pid, whoModern.pid]).size, 3);
  // Same session, same child.
  assert.equal(JSON.parse(textOf(await tool(b, a, 'whoami'))).pid, whoA.pid);
  // max per-session children reached.
  const third = await tool(b, session('sess-x'), 'echo', { text: 'x' });
  assert.ok('result' in third && third.result.isError === true);
  assert.match(textOf(third), /at most 2 per-session processes/);
  // closeSession stops the child; the idle one goes after the idle timeout.
  await b.closeSession('sess-a');
  assert.equal(isAlive(whoA.pid), false);
  await waitFor(() => !isAlive(whoC.pid), 5000);
  assert.ok(lines.some((l) => l.msg === 'Stopped the stdio server process of an idle session' && l.session === 'sess-c'));
  // A session that comes back gets a fresh child with the same params.
  const again = JSON.parse(textOf(await tool(b, a, 'whoami')));
  assert.notEqual(again.pid, whoA.pid);
  assert.equal(again.initialize.clientInfo.name, 'client-a');
  await b.close(Date.now() + 2000);
});

test('perSession children forward session-level requests and client notifications', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'perSession', min: 0, max: 4 } } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const a = session('fwd-a');
  assert.ok('result' in (await call(b, a, 'resources/subscribe', { uri: 'fixture://a' })));
  assert.ok('result' in (await call(b, a, 'logging/setLevel', { level: 'error' })));
  assert.deepEqual(JSON.parse(textOf(await tool(b, a, 'subscriptions'))), ['resources/subscribe fixture://a']);
  await b.notify(a, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'nothing', reason: 'x' } });
  await b.close(Date.now() + 2000);
});

test('shared subscriptions are reference-counted across sessions', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const ops = async () => JSON.parse(textOf(await tool(b, session('observer'), 'subscriptions'))) as string[];
  const s1 = session('sub-1');
  const s2 = session('sub-2');
  await call(b, s1, 'resources/subscribe', { uri: 'fixture://a' });
  await call(b, s2, 'resources/subscribe', { uri: 'fixture://a' });
  assert.deepEqual(await ops(), ['resources/subscribe fixture://a']);
  await call(b, s1, 'resources/unsubscribe', { uri: 'fixture://a' });
  assert.deepEqual(await ops(), ['resources/subscribe fixture://a'], "one session's unsubscribe keeps the other's");
  await b.closeSession('sub-2');
  assert.deepEqual(await ops(), ['resources/subscribe fixture://a', 'resources/unsubscribe fixture://a']);
  await b.close(Date.now() + 2000);
});

test('log levels are per session on a shared child (set here or stored with the session), and change notifications reach onChange', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const events: ServerChangeEvent[] = [];
  const off = b.onChange((e) => events.push(e));
  const quiet = session('quiet');
  const chatty = session('chatty');
  await call(b, quiet, 'logging/setLevel', { level: 'error' });
  const got = (ctx: ClientContext) => {
    const notes: JsonRpcNotification[] = [];
    return { notes, sink: { notification: (n: JsonRpcNotification) => void notes.push(n), request: nullSink.request } };
  };
  const q = got(quiet);
  const c = got(chatty);
  await tool(b, quiet, 'log', { tag: 'q', level: 'info' }, q.sink);
  await tool(b, chatty, 'log', { tag: 'c', level: 'info' }, c.sink);
  await tool(b, quiet, 'log', { tag: 'q-err', level: 'error' }, q.sink);
  assert.deepEqual(q.notes.map((n) => n.params?.data), ['q-err']);
  assert.deepEqual(c.notes.map((n) => n.params?.data), ['c']);
  // A level set through another replica arrives with the session record: it filters here too.
  const elsewhere: ClientContext = { ...session('elsewhere'), session: { ...session('elsewhere').session!, logLevel: 'error' } };
  const e = got(elsewhere);
  await tool(b, elsewhere, 'log', { tag: 'e', level: 'info' }, e.sink);
  await tool(b, elsewhere, 'log', { tag: 'e-err', level: 'error' }, e.sink);
  assert.deepEqual(e.notes.map((n) => n.params?.data), ['e-err']);
  // Invalid level: a clean error.
  const bad = await call(b, quiet, 'logging/setLevel', { level: 'loud' });
  assert.ok('error' in bad && bad.error.code === -32602);
  await tool(b, chatty, 'announce', { uri: 'fixture://a' });
  await waitFor(() => events.length >= 2, 2000);
  assert.deepEqual(events, [{ kind: 'tools_list_changed' }, { kind: 'resource_updated', uri: 'fixture://a' }]);
  off();
  await tool(b, chatty, 'announce', {});
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(events.length, 2, 'unsubscribed listeners get nothing');
  await b.close(Date.now() + 2000);
});

test('server/discover and initialize are answered from the child handshake in each era', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE, '--protocol=2025-03-26'] } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const disc = await call(b, modern(), 'server/discover', {});
  assert.ok('result' in disc);
  assert.deepEqual(disc.result.supportedVersions, ['2026-07-28']);
  assert.equal(disc.result.resultType, 'complete');
  assert.equal(disc.result.ttlMs, 0);
  assert.equal(disc.result.cacheScope, 'private');
  assert.equal(disc.result.instructions, 'A fixture server for tests.');
  assert.deepEqual((disc.result._meta as Record<string, unknown>)['io.modelcontextprotocol/serverInfo'], { name: 'berth-fixture', version: '1.0.0' });
  const list = await call(b, modern(), 'tools/list', {});
  assert.ok('result' in list && list.result.ttlMs === 0 && list.result.cacheScope === 'private' && list.result.resultType === 'complete');
  const init = await call(b, session('old'), 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } });
  assert.ok('result' in init);
  assert.equal(init.result.protocolVersion, '2025-03-26', 'never newer than the child speaks');
  const ping = await call(b, session('old'), 'ping', {});
  assert.deepEqual(ping, { jsonrpc: '2.0', id: 1, result: {} });
  // A modern client sees the 2026-07-28 error code for a missing resource.
  const missing = await call(b, modern(), 'resources/read', { uri: 'fixture://nope' });
  assert.ok('error' in missing && missing.error.code === -32602);
  const legacyMissing = await call(b, session('old'), 'resources/read', { uri: 'fixture://nope' });
  assert.ok('error' in legacyMissing && legacyMissing.error.code === -32002);
  await b.close(Date.now() + 2000);
});
