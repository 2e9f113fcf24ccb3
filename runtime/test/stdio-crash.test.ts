/**
 * Faults of stdio children: a crash mid-call, a handshake that never
 * finishes, a process that exits at start, one that ignores SIGTERM, and
 * client cancellation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { Backend, ClientContext, ExchangeSink } from '../src/backend/types.ts';
import type { JsonRpcResponse } from '../src/protocol/jsonrpc.ts';
import { ANON, captureLogger, FIXTURES, runtimeConfig } from './fixtures/stdio/harness.ts';
import { isAlive } from './helpers/process.ts';

const FIXTURE = join(FIXTURES, 'fixture-server.mjs');
const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('no client')) };

function legacyCtx(signal = new AbortController().signal): ClientContext {
  return {
    era: 'legacy',
    protocolVersion: '2025-11-25',
    session: { id: 'crash-session', initialize: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
    principal: ANON,
    tenant: 'test/stdio',
    signal,
  };
}
const modernCtx = (): ClientContext => ({ era: 'modern', protocolVersion: '2026-07-28', principal: ANON, tenant: 'test/stdio', signal: new AbortController().signal });
const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' } };

function tool(b: Backend, ctx: ClientContext, name: string, args: Record<string, unknown> = {}, id: number | string = 1): Promise<JsonRpcResponse> {
  const params: Record<string, unknown> = { name, arguments: args };
  if (ctx.era === 'modern') params._meta = envelope;
  return b.handle(ctx, { jsonrpc: '2.0', id, method: 'tools/call', params }, sink);
}

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

test('a child that crashes mid-call fails its in-flight calls cleanly and is replaced', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), logger, { backoffMs: 50 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const before = JSON.parse(textOf(await tool(b, legacyCtx(), 'whoami'))).pid as number;
  // A slow call from a modern client shares the child with the crashing legacy call.
  const slow = tool(b, modernCtx(), 'slow', { ms: 2000 }, 'slow-1');
  const crash = await tool(b, legacyCtx(), 'crash', { code: 3 }, 'crash-1');
  assert.equal(crash.id, 'crash-1');
  assert.ok('result' in crash);
  assert.equal(crash.result.isError, true);
  assert.equal(textOf(crash), 'the server process exited (code 3); the call was not completed; retrying may help');
  const slowRes = await slow;
  assert.ok('result' in slowRes);
  assert.equal(slowRes.result.isError, true);
  assert.equal(slowRes.result.resultType, 'complete', 'modern clients get the 2026-07-28 result shape');
  assert.match(textOf(slowRes), /exited \(code 3\)/);
  // The replacement serves the next call.
  await waitFor(() => b.health().ready, 5000);
  const after = JSON.parse(textOf(await tool(b, legacyCtx(), 'whoami'))).pid as number;
  assert.notEqual(after, before);
  assert.ok(lines.some((l) => l.msg === 'A stdio server process exited unexpectedly' && l.code === 3));
  await b.close(Date.now() + 2000);
});

test('a request other than tools/call in flight on a crashing child gets an UpstreamError', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger, { backoffMs: 50 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const ctx = legacyCtx();
  const prompt = b.handle(ctx, { jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name: 'slow', arguments: { ms: '3000' } } }, sink);
  await tool(b, ctx, 'crash', {}, 1);
  const res = await prompt;
  assert.ok('error' in res, JSON.stringify(res));
  assert.equal(res.id, 2);
  assert.equal(res.error.code, -32050);
  assert.match(res.error.message, /the server process exited \(code 3\)/);
  await b.close(Date.now() + 2000);
});

test('a child that never finishes its handshake is killed and reported by health()', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(
    runtimeConfig({ stdio: { command: [FIXTURE, '--hang-handshake'], handshakeTimeoutSeconds: 1, instances: { mode: 'shared', min: 1, max: 1 } } }),
    logger,
    { backoffMs: 60_000 },
  );
  const t0 = Date.now();
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  assert.ok(Date.now() - t0 < 3000);
  const h = b.health();
  assert.equal(h.ready, false);
  assert.match(h.reason ?? '', /did not finish its handshake within 1s/);
  const started = lines.find((l) => l.msg === 'Started a stdio server process');
  assert.ok(started);
  await waitFor(() => !isAlive(started.pid as number), 2000);
  assert.ok(lines.some((l) => l.msg === 'Killed a stdio server process that failed its handshake'));
  // Requests fail fast and clearly while nothing is ready.
  const res = await tool(b, legacyCtx(), 'echo', { text: 'x' });
  assert.ok('result' in res && res.result.isError === true);
  assert.match(textOf(res), /no server process became ready|did not finish its handshake/);
  await b.close(Date.now() + 2000);
});

test('a command that exits at start backs off between attempts and reports why', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE, '--exit-at-start=4'], instances: { mode: 'shared', min: 1, max: 1 } } }), logger, { backoffMs: 40 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  assert.equal(b.health().ready, false);
  assert.match(b.health().reason ?? '', /code 4/);
  await waitFor(() => lines.filter((l) => l.msg === 'Scheduled a replacement stdio server process').length >= 4, 5000);
  const delays = lines.filter((l) => l.msg === 'Scheduled a replacement stdio server process').map((l) => l.delayMs as number);
  assert.ok(delays[1]! > delays[0]! && delays[2]! > delays[1]!, `exponential backoff: ${delays.join(',')}`);
  await b.close(Date.now() + 2000);
});

test('a missing command or secret fails start() with the field named', async (t) => {
  const missing = createStdioBackend(runtimeConfig({ stdio: { command: ['definitely-not-a-command-berth'] } }), captureLogger().logger);
  await assert.rejects(missing.start(), /source\.stdio\.command: "definitely-not-a-command-berth" was not found/);
  const secret = createStdioBackend(
    runtimeConfig({ stdio: { command: [FIXTURE], env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'nope', key: 'token' } } }] } }, { runtime: { secretsDir: '/nonexistent-berth' } }),
    captureLogger().logger,
  );
  await assert.rejects(secret.start(), /spec\.source\.stdio\.env\[0\] \(TOKEN\): Secret "nope" key "token" is not available/);
});

test('close(): stdin first, then SIGTERM, then SIGKILL, all before the deadline', async (t) => {
  const { logger, lines } = captureLogger();
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE, '--ignore-sigterm', '--keep-running-on-eof'], instances: { mode: 'shared', min: 2, max: 2 } } }), logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const pids = lines.filter((l) => l.msg === 'Started a stdio server process').map((l) => l.pid as number);
  assert.equal(pids.length, 2);
  const t0 = Date.now();
  const deadline = t0 + 1500;
  await b.close(deadline);
  assert.ok(Date.now() <= deadline + 50, `close took ${Date.now() - t0} ms`);
  for (const pid of pids) assert.equal(isAlive(pid), false);
  assert.ok(lines.some((l) => l.msg === 'Killed a stdio server process that ignored SIGTERM'));
  assert.equal(b.health().ready, false);

  const { logger: l2, lines: lines2 } = captureLogger();
  const polite = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE] } }), l2);
  t.after(() => polite.close(Date.now() + 2000));
  await polite.start();
  const t1 = Date.now();
  await polite.close(t1 + 5000);
  assert.ok(Date.now() - t1 < 1500, 'a server that exits on stdin EOF stops at once');
  assert.ok(!lines2.some((l) => l.msg === 'Killed a stdio server process that ignored SIGTERM'));
});

test('close() lets in-flight calls finish before stopping children', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE] } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const call = tool(b, legacyCtx(), 'slow', { ms: 300, text: 'finished' });
  await new Promise((r) => setTimeout(r, 20));
  await b.close(Date.now() + 3000);
  assert.equal(textOf(await call), 'finished');
  const late = await tool(b, legacyCtx(), 'echo', { text: 'x' });
  assert.ok('error' in late && /shutting down/.test(late.error.message));
});

test('a cancelled request is cancelled at the child and answered at once', async (t) => {
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger);
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  const controller = new AbortController();
  const t0 = Date.now();
  const call = tool(b, legacyCtx(controller.signal), 'slow', { ms: 5000 });
  setTimeout(() => controller.abort(new Error('tool call timeout')), 50);
  const res = await call;
  assert.ok(Date.now() - t0 < 1000);
  assert.ok('result' in res && res.result.isError === true);
  assert.match(textOf(res), /cancelled: tool call timeout/);
  const seen = JSON.parse(textOf(await tool(b, legacyCtx(), 'cancelled'))) as unknown[];
  assert.equal(seen.length, 1);
  assert.equal(typeof seen[0], 'number', 'the child sees its own request id, not the client one');
  // notifications/cancelled from a legacy client cancels by the client's request id.
  const other = tool(b, legacyCtx(), 'slow', { ms: 5000 }, 'client-77');
  setTimeout(() => void b.notify(legacyCtx(), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'client-77', reason: 'user' } }), 30);
  const res2 = await other;
  assert.ok('result' in res2 && res2.result.isError === true);
  assert.match(textOf(res2), /cancelled: user/);
  await b.close(Date.now() + 2000);
});

test('lifecycle events are counted in berth_backend_events_total', async (t) => {
  const { sharedMetrics } = await import('../src/observability/metrics.ts');
  const count = async (event: string) => {
    const m = await sharedMetrics.backendEvents.get();
    return m.values.filter((v) => v.labels.backend === 'stdio' && v.labels.event === event).reduce((n, v) => n + v.value, 0);
  };
  const before = { spawn: await count('spawn'), crash: await count('crash'), stop: await count('stop') };
  const b = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 1, max: 1 } } }), captureLogger().logger, { backoffMs: 20 });
  t.after(() => b.close(Date.now() + 2000));
  await b.start();
  await tool(b, legacyCtx(), 'crash', {});
  await waitFor(() => b.health().ready, 5000);
  await b.close(Date.now() + 2000);
  assert.equal((await count('spawn')) - before.spawn, 2);
  assert.equal((await count('crash')) - before.crash, 1);
  assert.equal((await count('stop')) - before.stop, 1);
});
