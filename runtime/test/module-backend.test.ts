import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createModuleBackend, createModuleBackendFromConfig } from '../src/backend/module/index.ts';
import type { Backend, ServerChangeEvent } from '../src/backend/types.ts';
import { parseRuntimeConfig } from '../src/config/runtime-config.ts';
import { fixtureFactory, newStats, type FixtureStats } from './module-fixture-server.ts';
import { call, envelope, init, legacyCtx, modernCtx, recordingSink, req, silent, sleep, textOf } from './module-helpers.ts';

async function started(pool: { min?: number; max?: number } = {}, stats: FixtureStats = newStats()): Promise<{ backend: Backend; stats: FixtureStats }> {
  const backend = createModuleBackend({ tenant: 'test/module', logger: silent, label: 'fixture', load: async () => fixtureFactory(stats), pool });
  await backend.start();
  return { backend, stats };
}

test('legacy initialize and a tool call come back under the client ids', async (t) => {
  const { backend } = await started();
  t.after(() => backend.close(Date.now()));
  assert.deepEqual(backend.health(), { ready: true });
  const params = init({ elicitation: {} });
  const initRes = await backend.handle(legacyCtx(undefined), req('init-1', 'initialize', params as never), recordingSink());
  assert.equal(initRes.id, 'init-1');
  assert.ok('result' in initRes && (initRes.result as { serverInfo: { name: string } }).serverInfo.name === 'fixture');
  const res = await backend.handle(legacyCtx('s1', params), call(7, 'echo', { text: 'hello' }), recordingSink());
  assert.equal(res.id, 7);
  assert.equal(textOf(res), 'hello');
});

test('modern requests are served with the envelope, and server/discover works', async (t) => {
  const { backend } = await started();
  t.after(() => backend.close(Date.now()));
  const discover = await backend.handle(modernCtx(), req(1, 'server/discover', { _meta: envelope() }), recordingSink());
  assert.ok('result' in discover);
  assert.deepEqual((discover.result as { supportedVersions: string[] }).supportedVersions, ['2026-07-28']);
  const res = await backend.handle(modernCtx(), call(2, 'caps', {}, envelope({ sampling: {} })), recordingSink());
  assert.deepEqual(JSON.parse(textOf(res)), { caps: { sampling: {} }, client: 'modern-client' });
  // The next caller on the same instance sees its own capabilities, not the previous caller's.
  const other = await backend.handle(modernCtx(), call(2, 'caps', {}, envelope({ roots: {} })), recordingSink());
  assert.deepEqual(JSON.parse(textOf(other)).caps, { roots: {} });
  // Internal callers may omit the envelope: the request runs under ctx's revision, with no client capabilities.
  const bare = await backend.handle(modernCtx(), call(3, 'caps'), recordingSink());
  assert.deepEqual(JSON.parse(textOf(bare)).caps, {});
  // ... and the instances stay pinned to the modern era afterwards.
  const again = await backend.handle(modernCtx(), req(4, 'server/discover', { _meta: envelope() }), recordingSink());
  assert.ok('result' in again, JSON.stringify(again));
  const broken = await backend.handle(modernCtx(), call(5, 'echo', { text: 'x' }, { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': 'none' }), recordingSink());
  assert.ok('error' in broken && broken.error.code === -32602, 'a malformed envelope is refused');
});

test('concurrent clients with colliding ids each get only their own responses and notifications', async (t) => {
  const { backend, stats } = await started({ max: 8 });
  t.after(() => backend.close(Date.now()));
  const clients = Array.from({ length: 24 }, (_, n) => ({ session: `s${n}`, marker: `client-${n}`, sink: recordingSink() }));
  const params = init();
  await Promise.all(
    clients.map(async (c) => {
      await backend.handle(legacyCtx(c.session, params), req('set', 'logging/setLevel', { level: 'debug' }), recordingSink());
      const res = await backend.handle(legacyCtx(c.session, params), call(1, 'work', { marker: c.marker, ms: 5 + (c.marker.length % 7) }, { progressToken: 'p' }), c.sink);
      assert.equal(res.id, 1);
      assert.equal(textOf(res), c.marker);
    }),
  );
  for (const c of clients) {
    const progress = c.sink.notifications.filter((n) => n.method === 'notifications/progress');
    const logs = c.sink.notifications.filter((n) => n.method === 'notifications/message');
    assert.equal(progress.length, 2, `${c.marker} got both progress notifications`);
    assert.ok(progress.every((n) => n.params?.message === c.marker && n.params?.progressToken === 'p'));
    assert.equal(logs.length, 1);
    assert.deepEqual((logs[0]?.params?.data as { marker: string }).marker, c.marker);
  }
  assert.equal(stats.maxConcurrentPerInstance, 1, 'no instance ever ran two calls at once');
  assert.ok(stats.built > 2, 'several instances served the load');
});

test('an instance is never shared concurrently even when the pool is exhausted (callers queue)', async (t) => {
  const { backend, stats } = await started({ min: 1, max: 2 });
  t.after(() => backend.close(Date.now()));
  const started0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, n) => backend.handle(modernCtx(), call(n, 'work', { marker: `m${n}`, ms: 20 }, envelope()), recordingSink())),
  );
  results.forEach((r, n) => assert.equal(textOf(r), `m${n}`));
  assert.equal(stats.maxConcurrentPerInstance, 1);
  // Two instances, ten 20 ms calls: at least five rounds.
  assert.ok(Date.now() - started0 >= 90, 'calls waited for a free instance');
  assert.ok(stats.eras.filter((e) => e === 'modern').length <= 2 + 1, 'the pool stayed within its bound');
});

test('a session moving between instances carries its own client capabilities', async (t) => {
  const { backend } = await started({ min: 1, max: 1 });
  t.after(() => backend.close(Date.now()));
  const a = init({ sampling: {} }, 'client-a');
  const b = init({ elicitation: {} }, 'client-b');
  for (let round = 0; round < 3; round++) {
    const ra = JSON.parse(textOf(await backend.handle(legacyCtx('A', a), call(1, 'caps'), recordingSink())));
    const rb = JSON.parse(textOf(await backend.handle(legacyCtx('B', b), call(1, 'caps'), recordingSink())));
    assert.deepEqual(ra, { caps: { sampling: {} }, client: 'client-a' });
    assert.equal(rb.client, 'client-b');
    assert.ok(rb.caps.elicitation && !rb.caps.sampling);
  }
  const who = JSON.parse(textOf(await backend.handle(legacyCtx('A', a), call(2, 'whoami'), recordingSink())));
  assert.equal(who.session, 'A');
});

test("a session's log level stays its own on a shared instance", async (t) => {
  const { backend } = await started({ min: 1, max: 1 });
  t.after(() => backend.close(Date.now()));
  const params = init();
  await backend.handle(legacyCtx('quiet', params), req(1, 'logging/setLevel', { level: 'error' }), recordingSink());
  const loud = recordingSink();
  await backend.handle(legacyCtx('loud', params), call(1, 'log_levels'), loud);
  const quiet = recordingSink();
  await backend.handle(legacyCtx('quiet', params), call(2, 'log_levels'), quiet);
  assert.deepEqual(loud.notifications.map((n) => n.params?.level), ['debug', 'info', 'error']);
  assert.deepEqual(quiet.notifications.map((n) => n.params?.level), ['error']);
});

test('a throwing tool yields an isError result naming the tool and whether a retry helps', async (t) => {
  const { backend } = await started();
  t.after(() => backend.close(Date.now()));
  const run = async (kind: string) => {
    const res = await backend.handle(modernCtx(), call(1, 'fail', { kind }, envelope()), recordingSink());
    assert.ok('result' in res && res.result.isError === true);
    return textOf(res);
  };
  const transient = await run('transient');
  assert.match(transient, /^Tool "fail" failed: connect ECONNRESET/);
  assert.match(transient, /temporary \(ECONNRESET\).*retrying/);
  assert.match(await run('input'), /Invalid time zone.*\n.*arguments were rejected/s);
  assert.match(await run('fatal'), /Cannot read properties.*\n.*unlikely to help/s);
  assert.match(await run('flag'), /quota exhausted.*\n.*temporary/s);
  const bad = await backend.handle(modernCtx(), call(2, 'fail', { kind: 'nope' }, envelope()), recordingSink());
  assert.ok('result' in bad && bad.result.isError === true);
  assert.match(textOf(bad), /Input validation error[\s\S]*fix them before calling again/);
});

test('aborting the client signal cancels inside the instance and answers at once', async (t) => {
  const { backend, stats } = await started({ min: 1, max: 1 });
  t.after(() => backend.close(Date.now()));
  const controller = new AbortController();
  const pending = backend.handle(modernCtx(controller.signal), call(9, 'wait_abort', {}, envelope()), recordingSink());
  await sleep(30);
  const t0 = Date.now();
  controller.abort('client went away');
  const res = await pending;
  assert.ok(Date.now() - t0 < 500);
  assert.equal(res.id, 9);
  assert.ok('error' in res);
  assert.equal(res.error.code, -32800);
  assert.match(res.error.message, /client went away/);
  await sleep(20);
  assert.equal(stats.aborted, 1, 'the tool saw the cancellation');
  // The cancelled instance was replaced; the backend keeps serving.
  assert.equal(textOf(await backend.handle(modernCtx(), call(10, 'echo', { text: 'after' }, envelope()), recordingSink())), 'after');
});

test('notifications/cancelled from a legacy client cancels that session exchange only', async (t) => {
  const { backend, stats } = await started({ max: 4 });
  t.after(() => backend.close(Date.now()));
  const params = init();
  const mine = backend.handle(legacyCtx('S1', params), call(5, 'wait_abort'), recordingSink());
  const theirs = backend.handle(legacyCtx('S2', params), call(5, 'work', { marker: 'other', ms: 80 }), recordingSink());
  await sleep(30);
  await backend.notify(legacyCtx('S1', params), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, reason: 'user pressed stop' } });
  const res = await mine;
  assert.ok('error' in res && /user pressed stop/.test(res.error.message));
  assert.equal(textOf(await theirs), 'other', 'the other session with the same id was untouched');
  await sleep(10);
  assert.equal(stats.aborted, 1);
});

test('server→client requests reach the exchange sink under a fresh id and the answer flows back', async (t) => {
  const { backend } = await started();
  t.after(() => backend.close(Date.now()));
  const params = init({ elicitation: {} });
  const sink = recordingSink((r) => (r.method === 'elicitation/create' ? { action: 'accept', content: { name: 'Ada' } } : new Error('no')));
  const res = await backend.handle(legacyCtx('E', params), call('ask-1', 'ask', { message: 'Who are you?' }), sink);
  assert.equal(textOf(res), 'accept:{"name":"Ada"}');
  assert.equal(sink.requests.length, 1);
  assert.equal(sink.requests[0]?.method, 'elicitation/create');
  assert.notEqual(sink.requests[0]?.id, 'ask-1');
  // Without the capability the SDK refuses, and the tool reports it.
  const refused = await backend.handle(legacyCtx('F', init()), call(1, 'ask', { message: 'x' }), recordingSink());
  assert.ok('result' in refused && refused.result.isError === true);
});

test('a notification handler that asks the client is refused, never routed to the next caller', async (t) => {
  const { backend, stats } = await started({ min: 1, max: 1 });
  t.after(() => backend.close(Date.now()));
  const params = init({ roots: { listChanged: true } });
  const other = recordingSink(() => ({ roots: [{ uri: 'file:///other-client' }] }));
  await backend.notify(legacyCtx('R', params), { jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
  // Another client's call lands on the only instance right after.
  await backend.handle(legacyCtx('Other', params), call(1, 'echo', { text: 'x' }), other);
  await sleep(20);
  assert.equal(other.requests.length, 0, 'the other client was never asked for its roots');
  assert.equal(stats.rootsReactions.length, 1);
  assert.match(stats.rootsReactions[0] ?? '', /^refused: .*cannot be sent in reaction to a client notification/);
});

test('change events from berth.notify and from the instance reach onChange listeners', async (t) => {
  const { backend } = await started();
  t.after(() => backend.close(Date.now()));
  const events: ServerChangeEvent[] = [];
  const off = backend.onChange((e) => events.push(e));
  for (const ctx of [modernCtx(), legacyCtx('S', init())]) {
    const meta = ctx.era === 'modern' ? envelope() : undefined;
    assert.equal(textOf(await backend.handle(ctx, call(1, 'announce', {}, meta), recordingSink())), 'announced');
  }
  off();
  assert.deepEqual(events, [
    { kind: 'resource_updated', uri: 'test://thing' },
    { kind: 'tools_list_changed' },
    { kind: 'resource_updated', uri: 'test://thing' },
    { kind: 'tools_list_changed' },
  ]);
});

test('close answers new work with Unavailable and lets in-flight calls finish before the deadline', async (t) => {
  const { backend } = await started();
  const inflight = backend.handle(modernCtx(), call(1, 'work', { marker: 'finishing', ms: 50 }, envelope()), recordingSink());
  await sleep(5);
  const closing = backend.close(Date.now() + 2000);
  const refused = await backend.handle(modernCtx(), call(2, 'echo', { text: 'x' }, envelope()), recordingSink());
  assert.ok('error' in refused && refused.error.code === -32002);
  assert.equal(textOf(await inflight), 'finishing');
  await closing;
  assert.equal(backend.health().ready, false);
  t.diagnostic('closed');
});

test('a module that fails to import makes start() reject naming the module', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-module-'));
  writeFileSync(join(dir, 'broken.mjs'), 'export default function () {\n  return new McpServer(;\n}\n');
  writeFileSync(join(dir, 'noexport.mjs'), 'export const other = () => null;\n');
  writeFileSync(join(dir, 'throws.mjs'), "export default function () { throw new Error('database unreachable'); }\n");
  const config = (path: string) =>
    parseRuntimeConfig({
      apiVersion: 'berth.dev/v1alpha1',
      kind: 'RuntimeConfig',
      tenant: { namespace: 't', name: 'm' },
      spec: { source: { module: { path } }, auth: { none: {} } },
      runtime: { baseDir: dir },
    });
  await assert.rejects(createModuleBackendFromConfig(config('broken.mjs'), silent).start(), /spec\.source\.module\.path broken\.mjs: cannot import .*broken\.mjs/);
  await assert.rejects(createModuleBackendFromConfig(config('missing.mjs'), silent).start(), /file not found/);
  await assert.rejects(createModuleBackendFromConfig(config('noexport.mjs'), silent).start(), /export "default" is missing.*\(function exports: other\)/);
  await assert.rejects(createModuleBackendFromConfig(config('throws.mjs'), silent).start(), /throws\.mjs: the server factory failed: database unreachable/);
});
