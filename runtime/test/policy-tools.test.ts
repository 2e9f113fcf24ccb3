/**
 * withPolicy on the tool side, around a scripted backend: allow/deny,
 * overrides and the annotation policy, destructive gating, audit block/warn,
 * rug pulls, per-principal scopes, per-tool rate limits, pagination, the
 * audit report, metrics and the admin endpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import pino from 'pino';
import { Registry } from '../src/observability/prometheus.ts';
import { withPolicy } from '../src/policy/with-policy.ts';
import { adminAuditPlugin } from '../src/policy/admin-plugin.ts';
import { createOAuthAuthenticator } from '../src/security/oauth/authenticator.ts';
import { createRateLimiter } from '../src/security/rate-limit/limiter.ts';
import { ErrorCode } from '../src/protocol/jsonrpc.ts';
import type { Principal } from '../src/backend/types.ts';
import type { ToolDef } from '../src/policy/audit/types.ts';
import { POISONED, RUG_AFTER, RUG_BEFORE, SEND_EMAIL } from './fixtures/poisoned/tools.ts';
import { ctxFor, errorOf, policyConfig, resultOf, rpc, scriptedBackend, SINK } from './helpers/policy-backend.ts';

const logger = pino({ level: 'silent' });
const tool = (name: string, extra: Partial<ToolDef> = {}): ToolDef => ({ name, description: `The ${name} tool.`, inputSchema: { type: 'object' }, ...extra });
const names = (r: Record<string, unknown>) => (r['tools'] as ToolDef[]).map((t) => t.name);

async function list(p: ReturnType<typeof withPolicy>, principal?: Principal, cursor?: string) {
  return resultOf(await p.handle(ctxFor(principal), rpc('tools/list', cursor ? { cursor } : {}), SINK));
}
const call = (p: ReturnType<typeof withPolicy>, name: string, args: Record<string, unknown> = {}, principal?: Principal) =>
  p.handle(ctxFor(principal), rpc('tools/call', { name, arguments: args }), SINK);

test('allow/deny globs hide tools and refuse their calls as unknown', async () => {
  const b = scriptedBackend([tool('files_read'), tool('files_write'), tool('admin_reset')]);
  const p = withPolicy(b, policyConfig({ tools: { allow: ['files_*'], deny: ['*_write'] } }), { logger });
  assert.deepEqual(names(await list(p)), ['files_read']);
  for (const hidden of ['files_write', 'admin_reset', 'no_such_tool']) {
    const e = errorOf(await call(p, hidden));
    assert.equal(e.code, ErrorCode.InvalidParams);
    assert.equal(e.message, `Unknown tool: ${hidden}`);
  }
  assert.equal(b.count('tools/call'), 0, 'nothing reached the backend');
  assert.equal(resultOf(await call(p, 'files_read', { a: 1 }))['isError'], undefined);
  assert.equal(b.count('tools/call', 'files_read'), 1);
  const report = p.auditReport();
  assert.deepEqual(report.tools.map((t) => [t.name, t.state]), [['files_read', 'ok'], ['files_write', 'denied'], ['admin_reset', 'denied']]);
});

test('overrides replace text; annotation overrides may only raise risk', async () => {
  const b = scriptedBackend([
    tool('update', { annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: true } }),
    tool('lookup', { annotations: { readOnlyHint: true, destructiveHint: false } }),
  ]);
  const p = withPolicy(
    b,
    policyConfig({
      tools: {
        overrides: {
          update: { description: 'Updates a record (reviewed).', annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false, title: 'Update' } },
          lookup: { title: 'Lookup', annotations: { readOnlyHint: false, openWorldHint: true } },
        },
      },
    }),
    { logger },
  );
  const tools = (await list(p))['tools'] as ToolDef[];
  const update = tools.find((t) => t.name === 'update')!;
  assert.equal(update.description, 'Updates a record (reviewed).');
  assert.deepEqual(update.annotations, { readOnlyHint: false, idempotentHint: false, openWorldHint: true, title: 'Update' }, 'lowering overrides ignored');
  const lookup = tools.find((t) => t.name === 'lookup')!;
  assert.equal(lookup.title, 'Lookup');
  assert.deepEqual(lookup.annotations, { readOnlyHint: false, destructiveHint: false, openWorldHint: true }, 'raising overrides applied');
  const notes = p.auditReport().tools.find((t) => t.name === 'update')!.notes;
  assert.ok(notes.some((n) => n.includes('readOnlyHint: true')) && notes.some((n) => n.includes('idempotentHint: true')), notes.join('; '));
});

test('requireExplicitDestructive: destructive tools need a literal allow or a toolScopes entry', async () => {
  const tools = [tool('drop_table'), tool('purge_cache', { annotations: { destructiveHint: true } }), tool('read_rows', { annotations: { readOnlyHint: true } }), tool('append_row', { annotations: { destructiveHint: false } })];
  const strict = withPolicy(scriptedBackend(tools), policyConfig({ tools: { requireExplicitDestructive: true } }), { logger });
  assert.deepEqual(names(await list(strict)), ['read_rows', 'append_row']);
  const e = errorOf(await call(strict, 'drop_table'));
  assert.equal(e.code, ErrorCode.Forbidden);
  assert.match(e.message, /destructive/);
  const explicit = withPolicy(
    scriptedBackend(tools),
    policyConfig({ tools: { requireExplicitDestructive: true, allow: ['drop_table', 'read_*', 'append_*', 'purge_*'] }, auth: { oauth: { issuer: 'https://as.example', audience: 'https://mcp.example/mcp', toolScopes: { 'purge_*': ['ops'] } } } }),
    { logger },
  );
  assert.deepEqual(names(await list(explicit, { id: 'oauth:x#y', kind: 'oauth', scopes: ['ops'] })), ['drop_table', 'purge_cache', 'read_rows', 'append_row']);
});

test('a delete tool claiming readOnlyHint stays gated, and clients see the riskier annotations', async () => {
  const liar = tool('delete_user', { annotations: { readOnlyHint: true } });
  const gated = withPolicy(scriptedBackend([liar]), policyConfig({ tools: { requireExplicitDestructive: true, audit: { onFinding: 'warn' } } }), { logger });
  assert.deepEqual(names(await list(gated)), []);
  assert.equal(errorOf(await call(gated, 'delete_user')).code, ErrorCode.Forbidden);
  const finding = gated.auditReport().findings.find((f) => f.tool === 'delete_user');
  assert.equal(finding?.rule, 'annotation-mismatch');
  const allowed = withPolicy(scriptedBackend([liar]), policyConfig({ tools: { requireExplicitDestructive: true, allow: ['delete_user'], audit: { onFinding: 'warn' } } }), { logger });
  const listed = ((await list(allowed))['tools'] as ToolDef[])[0]!;
  assert.deepEqual(listed.annotations, { readOnlyHint: false, destructiveHint: true });
  const blocked = withPolicy(scriptedBackend([liar]), policyConfig({}), { logger });
  assert.deepEqual(names(await list(blocked)), [], 'under the default onFinding=block the contradiction blocks the tool');
});

test('audit: block hides and refuses poisoned tools; warn serves them with invisible characters stripped', async () => {
  const poisoned = [...POISONED.map((x) => x.tool), SEND_EMAIL];
  const registry = new Registry();
  const blockP = withPolicy(scriptedBackend(poisoned), policyConfig({}), { logger, registry });
  // Only the tool with a low-severity finding (word budget) and the clean send_email are still served.
  assert.deepEqual(names(await list(blockP)), ['long_doc', 'send_email']);
  const e = errorOf(await call(blockP, 'add', { a: 1, b: 2 }));
  assert.equal(e.code, ErrorCode.Forbidden);
  assert.match(e.message, /blocked by the tool audit \(hidden-instructions\)/);
  await list(blockP);
  const metric = await registry.getSingleMetric('berth_audit_findings_total')!.get();
  const addCount = metric.values.filter((v) => v.labels['tool'] === 'add').reduce((n, v) => n + v.value, 0);
  assert.ok(addCount >= 1);
  const before = metric.values.reduce((n, v) => n + v.value, 0);
  await list(blockP);
  const afterRelist = (await registry.getSingleMetric('berth_audit_findings_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(afterRelist, before, 'a finding is counted once, not on every listing');
  const refusals = await registry.getSingleMetric('berth_policy_refusals_total')!.get();
  assert.equal(refusals.values.find((v) => v.labels['reason'] === 'audit')?.value, 1);

  const warnP = withPolicy(scriptedBackend(poisoned), policyConfig({ tools: { audit: { onFinding: 'warn' } } }), { logger });
  const served = (await list(warnP))['tools'] as ToolDef[];
  assert.equal(served.length, poisoned.length);
  const weather = served.find((t) => t.name === 'get_weather')!;
  assert.equal(weather.description, 'Returns the weather for a city.');
  assert.equal((weather.inputSchema as { properties: { city: { description: string } } }).properties.city.description, 'City name');
  assert.ok(!/[\u{E0000}-\u{E007F}]/u.test(served.find((t) => t.name === 'translate')!.description!));
  assert.equal(resultOf(await call(warnP, 'add', { a: 1 }))['isError'], undefined, 'warn mode lets calls through');
});

test('metrics land on the process-wide registry when it is passed (its label names are honoured)', async () => {
  const { sharedMetrics } = await import('../src/observability/metrics.ts');
  const registry = sharedMetrics.registry;
  const sum = async (name: string, match: (l: Record<string, unknown>) => boolean) =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? []).filter((v) => match(v.labels)).reduce((n, v) => n + v.value, 0);
  const before = await sum('berth_audit_findings_total', (l) => l['tool'] === 'get_weather' && (l['finding'] ?? l['rule']) === 'invisible-unicode');
  const limitedBefore = await sum('berth_rate_limited_total', (l) => l['scope'] === 'tool:metered');
  const config = policyConfig({ rateLimits: { tools: { metered: { requestsPerMinute: 1, burst: 0 } } } });
  const limiter = createRateLimiter(config, { keyPrefix: 'berth:{team-a/files}:', logger });
  const p = withPolicy(scriptedBackend([POISONED[1]!.tool, tool('metered')]), config, { logger, registry, limiter });
  await list(p);
  await call(p, 'metered');
  await call(p, 'metered');
  assert.equal((await sum('berth_audit_findings_total', (l) => l['tool'] === 'get_weather' && (l['finding'] ?? l['rule']) === 'invisible-unicode')) - before, 2, 'description and parameter description');
  assert.equal((await sum('berth_rate_limited_total', (l) => l['scope'] === 'tool:metered')) - limitedBefore, 1);
});

test('rug pull: a pinned tool whose enum changes is blocked on the next listing, and on a call after list_changed', async () => {
  const b = scriptedBackend([RUG_BEFORE, tool('echo')]);
  const p = withPolicy(b, policyConfig({}), { logger });
  assert.deepEqual(names(await list(p)), ['set_mode', 'echo']);
  assert.equal(resultOf(await call(p, 'set_mode', { mode: 'fast' }))['isError'], undefined);
  b.setTools([RUG_AFTER, tool('echo')]);
  const e = errorOf(await call(p, 'set_mode', { mode: 'mirror-to-remote' }));
  assert.equal(e.code, ErrorCode.Forbidden);
  assert.match(e.message, /rug-pull/);
  assert.deepEqual(names(await list(p)), ['echo']);
  const f = p.auditReport().findings.find((x) => x.rule === 'rug-pull')!;
  assert.equal(f.tool, 'set_mode');
  assert.equal(f.field, 'inputSchema.properties.mode.enum[2]');
  const t = p.auditReport().tools.find((x) => x.name === 'set_mode')!;
  assert.notEqual(t.digest, t.pinnedDigest);
  b.setTools([RUG_BEFORE, tool('echo')]);
  assert.deepEqual(names(await list(p)), ['set_mode', 'echo'], 'back to the pinned definition');

  const quiet = scriptedBackend([RUG_BEFORE]);
  const warn = withPolicy(quiet, policyConfig({ tools: { audit: { onFinding: 'warn' } } }), { logger });
  await list(warn);
  quiet.setTools([RUG_AFTER], true);
  assert.deepEqual(names(await list(warn)), ['set_mode'], 'warn serves it');
  assert.equal(warn.auditReport().tools[0]!.state, 'warn');
});

test('a call with no prior listing is checked against a fresh internal listing', async () => {
  const b = scriptedBackend([POISONED[0]!.tool, tool('echo')]);
  const p = withPolicy(b, policyConfig({}), { logger, listingMaxAgeMs: 60_000 });
  const [r1, r2, r3] = await Promise.all([call(p, 'add'), call(p, 'echo', { x: 1 }), call(p, 'echo', { x: 2 })]);
  assert.equal(errorOf(r1).code, ErrorCode.Forbidden);
  assert.equal(resultOf(r2)['isError'], undefined);
  assert.equal(resultOf(r3)['isError'], undefined);
  assert.equal(b.count('tools/list'), 1, 'concurrent calls share one listing');
  await call(p, 'echo');
  assert.equal(b.count('tools/list'), 1, 'a fresh listing is reused');
  await call(p, 'ghost');
  await call(p, 'ghost');
  assert.ok(b.count('tools/list') <= 2, 'unknown names re-list at most every 2 s');
});

test('an old listing is re-checked in the background, catching a silent rug pull without delaying calls', async () => {
  const b = scriptedBackend([RUG_BEFORE]);
  const p = withPolicy(b, policyConfig({}), { logger, listingMaxAgeMs: 0 });
  await list(p);
  b.setTools([RUG_AFTER], true);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(resultOf(await call(p, 'set_mode', { mode: 'fast' }))['isError'], undefined, 'decided on the listing in hand');
  for (let i = 0; i < 50 && b.count('tools/list') < 2; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(errorOf(await call(p, 'set_mode', { mode: 'mirror-to-remote' })).code, ErrorCode.Forbidden);
});

test('per-principal tool scopes hide tools from the listing and refuse the call', async () => {
  const auth = createOAuthAuthenticator(
    { issuer: 'https://as.example', audience: 'https://mcp.example/mcp', jwksUri: 'https://as.example/jwks', requiredScopes: [], toolScopes: { reset_db: ['db:admin'] }, algorithms: ['RS256'], clockSkewSeconds: 60 },
    { resourcePath: '/mcp', logger },
  );
  const p = withPolicy(scriptedBackend([tool('query'), tool('reset_db', { annotations: { destructiveHint: true } })]), policyConfig({}), { logger, authenticator: auth });
  const reader: Principal = { id: 'oauth:https://as.example#r', kind: 'oauth', scopes: ['db:read'] };
  const admin: Principal = { id: 'oauth:https://as.example#a', kind: 'oauth', scopes: ['db:read', 'db:admin'] };
  assert.deepEqual(names(await list(p, reader)), ['query']);
  assert.deepEqual(names(await list(p, admin)), ['query', 'reset_db']);
  const e = errorOf(await call(p, 'reset_db', {}, reader));
  assert.equal(e.code, ErrorCode.Forbidden);
  assert.match(e.message, /insufficient scope/);
  assert.equal(resultOf(await call(p, 'reset_db', {}, admin))['isError'], undefined);
});

test('per-tool rate limits answer with an isError result carrying the retry delay', async () => {
  const config = policyConfig({ rateLimits: { tools: { expensive: { requestsPerMinute: 2, burst: 0 } } } });
  const limiter = createRateLimiter(config, { keyPrefix: 'berth:{team-a/files}:', logger });
  const b = scriptedBackend([tool('expensive'), tool('cheap')]);
  const p = withPolicy(b, config, { logger, limiter });
  const results = [];
  for (let i = 0; i < 3; i++) results.push(resultOf(await call(p, 'expensive')));
  assert.deepEqual(results.map((r) => r['isError'] ?? false), [false, false, true]);
  const limited = results[2]!;
  assert.match(((limited['content'] as Array<{ text: string }>)[0]!).text, /Rate limit for tool "expensive" exceeded; retry after 30 s/);
  assert.deepEqual(limited['_meta'], { 'dev.berth/retryAfterSeconds': 30 });
  assert.equal(limited['resultType'], 'complete');
  assert.equal(b.count('tools/call', 'expensive'), 2);
  assert.equal(resultOf(await call(p, 'cheap'))['isError'], undefined);
});

test('large listings are paginated with opaque cursors; backend pages are aggregated first', async () => {
  const many = Array.from({ length: 250 }, (_, i) => tool(`tool_${String(i).padStart(3, '0')}`));
  const b = scriptedBackend(many);
  b.pageSize = 30;
  const p = withPolicy(b, policyConfig({}), { logger });
  const seen: string[] = [];
  let cursor: string | undefined;
  const sizes: number[] = [];
  do {
    const page = await list(p, undefined, cursor);
    sizes.push((page['tools'] as unknown[]).length);
    seen.push(...names(page));
    cursor = page['nextCursor'] as string | undefined;
    if (cursor) assert.doesNotMatch(cursor, /tool_|^\d+$/, 'cursor is opaque');
  } while (cursor);
  assert.deepEqual(sizes, [100, 100, 50]);
  assert.deepEqual(seen, many.map((t) => t.name));
  assert.equal(errorOf(await p.handle(ctxFor(), rpc('tools/list', { cursor: 'garbage' }), SINK)).code, ErrorCode.InvalidParams);
  const page1 = await list(p);
  b.setTools(many.slice(1));
  const stale = errorOf(await p.handle(ctxFor(), rpc('tools/list', { cursor: page1['nextCursor'] as string }), SINK));
  assert.equal(stale.code, ErrorCode.InvalidParams);
  assert.match(stale.message, /changed during pagination/);

  const wordy = Array.from({ length: 30 }, (_, i) => tool(`w${i}`, { description: `Tool ${i}. ${'Reads records. '.repeat(3)}` }));
  const small = withPolicy(scriptedBackend(wordy), policyConfig({ output: { maxBytes: 1024 } }), { logger });
  const first = await list(small);
  assert.ok(first['nextCursor'], 'a listing over output.maxBytes is paginated');
  assert.ok(Buffer.byteLength(JSON.stringify(first['tools'])) <= 1024);
  assert.equal(first['ttlMs'], 0, 'other result fields of the backend listing are kept');
});

test('the audit report: findings, digests, listing size and token estimate; start() audits before any client', async () => {
  const b = scriptedBackend([tool('a'), POISONED[1]!.tool]);
  const p = withPolicy(b, policyConfig({}), { logger });
  assert.equal(p.auditReport().generatedAt, null);
  await p.start();
  const r = p.auditReport();
  assert.ok(r.generatedAt);
  assert.deepEqual(r.policy, { onFinding: 'block', pin: true, maxDescriptionWords: 50 });
  assert.deepEqual(r.tools.map((t) => [t.name, t.state]), [['a', 'ok'], ['get_weather', 'blocked']]);
  assert.ok(r.tools.every((t) => /^sha256:[0-9a-f]{64}$/.test(t.digest) && t.pinnedDigest === t.digest));
  const served = JSON.stringify([tool('a')]);
  assert.equal(r.listing.tools, 1);
  assert.equal(r.listing.bytes, Buffer.byteLength(served));
  assert.equal(r.listing.estimatedTokens, Math.ceil(Buffer.byteLength(served) / 4));
  assert.match(r.listing.digest, /^sha256:/);
  assert.equal(r.findings.length, 2);
  b.setTools([tool('a'), tool('b')]);
  const fresh = await p.refreshAudit();
  assert.notEqual(fresh.listing.digest, r.listing.digest);
});

test('GET /admin/audit serves the report, behind a bearer token when configured', async () => {
  const p = withPolicy(scriptedBackend([tool('a')]), policyConfig({}), { logger });
  await p.start();
  const app = Fastify();
  await app.register(adminAuditPlugin, { report: () => p.auditReport(), refresh: () => p.refreshAudit(), token: () => 'admin-token-123' });
  try {
    assert.equal((await app.inject({ method: 'GET', url: '/admin/audit' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/admin/audit', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
    const ok = await app.inject({ method: 'GET', url: '/admin/audit?refresh=1', headers: { authorization: 'Bearer admin-token-123' } });
    assert.equal(ok.statusCode, 200);
    const body = ok.json() as { tools: Array<{ name: string }>; listing: { tools: number } };
    assert.deepEqual(body.tools.map((t) => t.name), ['a']);
    assert.equal(body.listing.tools, 1);
  } finally {
    await app.close();
  }
});

test('other methods pass through untouched', async () => {
  const b = scriptedBackend([]);
  const p = withPolicy(b, policyConfig({}), { logger });
  const res = await p.handle(ctxFor(), rpc('ping'), SINK);
  assert.equal(errorOf(res).code, ErrorCode.MethodNotFound);
  assert.equal(b.count('ping'), 1);
  let changed = 0;
  const off = p.onChange(() => changed++);
  b.setTools([tool('x')]);
  off();
  assert.equal(changed, 1);
  assert.equal(p.kind, 'module');
});

test('measure: policy overhead per tools/call', async (t) => {
  const b = scriptedBackend([tool('echo')]);
  b.results['echo'] = { content: [{ type: 'text', text: JSON.stringify({ ok: true, items: [1, 2, 3], note: 'a short result' }, null, 2) }] };
  const p = withPolicy(b, policyConfig({ output: { spotlight: true } }), { logger });
  const ctx = ctxFor();
  const req = rpc('tools/call', { name: 'echo', arguments: {} });
  const time = async (fn: () => Promise<unknown>) => {
    for (let i = 0; i < 500; i++) await fn();
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    return Number(process.hrtime.bigint() - start) / 1000 / n;
  };
  const direct = await time(() => b.handle(ctx, req, SINK));
  const policed = await time(() => p.handle(ctx, req, SINK));
  b.requests.length = 0;
  t.diagnostic(`tools/call: backend alone ${direct.toFixed(1)} µs, through withPolicy (minify, strip, redact, spotlight) ${policed.toFixed(1)} µs; overhead ${(policed - direct).toFixed(1)} µs`);
  assert.ok(policed - direct < 1000);
});
