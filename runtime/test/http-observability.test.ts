/**
 * Probes, Prometheus metrics (one registry per app), structured logs, and the
 * memory an idle legacy session costs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Fastify from 'fastify';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { initSession, legacyHeaders, modernRequest, startApp, testConfig } from './helpers/http-app.ts';
import { headerAuthenticator } from './helpers/test-auth.ts';
import { createLogger } from '../src/observability/logger.ts';
import { sharedMetrics } from '../src/observability/metrics.ts';
import { healthPlugin } from '../src/http/health.ts';
import type { RuntimeContext } from '../src/http/context.ts';
import { createMemoryStores } from '../src/store/memory/index.ts';

const metricValue = (text: string, line: string): number => {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
};

test('/metrics exposes tool latency, result bytes, errors, sessions, in-flight and stream gauges per app', async () => {
  const backend = createEchoBackend();
  const a = await startApp({ backend });
  const b = await startApp({ backend: createEchoBackend() });
  try {
    const sid = await initSession(a.url);
    for (const text of ['one', 'two']) {
      const m = modernRequest(1, 'tools/call', { name: 'echo', arguments: { text } });
      await (await fetch(a.url, { method: 'POST', headers: m.headers, body: m.body })).text();
    }
    const fail = modernRequest(2, 'tools/call', { name: 'fail', arguments: {} });
    await (await fetch(a.url, { method: 'POST', headers: fail.headers, body: fail.body })).text();
    await (await fetch(a.url, { method: 'POST', headers: legacyHeaders(sid), body: '{' })).text();
    const get = await fetch(a.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    sharedMetrics.auditFindings.inc({ tool: 'x', finding: 'hidden_instruction' });

    const res = await fetch(`${a.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.equal(metricValue(text, 'berth_tool_call_duration_seconds_count{tool="echo",outcome="ok"}'), 2);
    assert.equal(metricValue(text, 'berth_tool_call_duration_seconds_count{tool="fail",outcome="tool_error"}'), 1);
    assert.equal(metricValue(text, 'berth_tool_result_bytes_count{tool="echo"}'), 2);
    assert.ok(metricValue(text, 'berth_tool_result_bytes_sum{tool="echo"}') > 100);
    assert.equal(metricValue(text, 'berth_errors_total{category="tool_error"}'), 1);
    assert.equal(metricValue(text, 'berth_errors_total{category="bad_request"}'), 1);
    assert.equal(metricValue(text, 'berth_sessions_active'), 1);
    assert.equal(metricValue(text, 'berth_inflight_requests'), 0);
    assert.equal(metricValue(text, 'berth_sse_streams_open{kind="get"}'), 1);
    assert.equal(metricValue(text, 'berth_draining'), 0);
    assert.equal(metricValue(text, 'berth_session_cache_tracked'), 0, 'the in-memory store has no tracked cache');
    assert.equal(metricValue(text, 'berth_requests_total{era="modern",kind="request"}'), 3);
    assert.ok(metricValue(text, 'berth_audit_findings_total{tool="x",finding="hidden_instruction"}') >= 1, 'shared metrics are served too');
    assert.match(text, /^berth_process_resident_memory_bytes /m);
    for (const line of text.split('\n')) if (line && !line.startsWith('#')) assert.match(line, /^berth_/, 'every metric is prefixed');

    const other = await (await fetch(`${b.base}/metrics`)).text();
    assert.ok(Number.isNaN(metricValue(other, 'berth_tool_call_duration_seconds_count{tool="echo",outcome="ok"}')), 'apps have separate registries');
    await get.body?.cancel();
  } finally {
    await a.close();
    await b.close();
  }
});

test('tool labels are bounded: past 256 distinct names they collapse into _other', async () => {
  const app = await startApp({ backend: createEchoBackend() });
  try {
    for (let i = 0; i < 300; i++) {
      const m = modernRequest(i, 'tools/call', { name: `tool-${i}`, arguments: {} });
      await app.berth.app.inject({ method: 'POST', url: '/mcp', headers: { ...m.headers, host: 'localhost' }, payload: m.body });
    }
    const text = await (await fetch(`${app.base}/metrics`)).text();
    const labels = new Set([...text.matchAll(/berth_tool_call_duration_seconds_count\{tool="([^"]+)"/g)].map((m) => m[1]));
    assert.equal(labels.size, 257);
    assert.ok(labels.has('_other'));
  } finally {
    await app.close();
  }
});

test('logs are JSON lines with tenant, session, tool, duration and bytes, and never credentials', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const app = await startApp({ backend: createEchoBackend(), logger, auth: headerAuthenticator() });
  try {
    const sid = await initSession(app.url, {}, '2025-11-25', { 'x-user': 'alice', authorization: 'Bearer secret-token' });
    const res = await fetch(app.url, {
      method: 'POST',
      headers: { ...legacyHeaders(sid), 'x-user': 'alice', authorization: 'Bearer secret-token' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } }),
    });
    await res.text();
    const toolLine = lines.find((l) => l.msg === 'Tool call finished');
    assert.ok(toolLine, 'a line per tool call');
    assert.equal(toolLine.tenant, 'test/http');
    assert.equal(toolLine.session, sid);
    assert.equal(toolLine.tool, 'echo');
    assert.equal(toolLine.outcome, 'ok');
    assert.equal(typeof toolLine.durationMs, 'number');
    assert.ok((toolLine.bytes as number) > 10);
    assert.equal(toolLine.level, 'info');
    assert.ok(typeof toolLine.time === 'string');
    assert.ok(lines.some((l) => l.msg === 'Session created' && l.principal === 'apikey:alice'));
    assert.ok(!JSON.stringify(lines).includes('secret-token'), 'no credential in any line');
    assert.equal(createLogger({ destination, level: 'info' }).isLevelEnabled('debug'), false);
  } finally {
    await app.close();
  }
});

test('/ready lists why the replica is not ready; /health stays up', async () => {
  const backend = createEchoBackend();
  const config = testConfig();
  const stores = createMemoryStores(config.spec);
  const app = await startApp({ backend, stores });
  try {
    assert.deepEqual(await (await fetch(`${app.base}/ready`)).json(), { ready: true, state: 'ready' });
    backend.ready = false;
    await stores.events.close();
    const res = await fetch(`${app.base}/ready`);
    assert.equal(res.status, 503);
    assert.deepEqual((await res.json()).reasons, ['backend not ready: test says no', 'event store unreachable']);
    const health = await fetch(`${app.base}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, 'ok');
  } finally {
    await app.close();
  }
});

test('/health fails while the event loop was blocked beyond the threshold, then recovers', async () => {
  const app = Fastify();
  const rt = { state: 'ready' } as RuntimeContext;
  await app.register(healthPlugin, { rt, blockedThresholdMs: 150 });
  await app.ready();
  try {
    assert.equal((await app.inject('/health')).statusCode, 200);
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // Block the event loop.
    }
    await new Promise((r) => setTimeout(r, 50));
    const blocked = await app.inject('/health');
    assert.equal(blocked.statusCode, 503);
    assert.ok(blocked.json().eventLoopDelayMaxMs >= 150);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await app.inject('/health')).statusCode, 200, 'a responsive loop is healthy again');
  } finally {
    await app.close();
  }
});

test('an idle legacy session costs well under 50 KB in the HTTP layer and memory stores', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const app = await startApp({ backend: createEchoBackend() });
  try {
    const inject = (headers: Record<string, string>, body: unknown) =>
      app.berth.app.inject({ method: 'POST', url: '/mcp', headers: { ...headers, host: 'localhost' }, payload: JSON.stringify(body) });
    const open = async (): Promise<void> => {
      const res = await inject(legacyHeaders(), {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {}, sampling: {} }, clientInfo: { name: 'memory-probe-client', version: '1.0.0' } },
      });
      const sid = res.headers['mcp-session-id'] as string;
      await inject(legacyHeaders(sid), { jsonrpc: '2.0', method: 'notifications/initialized' });
    };
    for (let i = 0; i < 200; i++) await open(); // warm up code paths and caches
    gc();
    const before = process.memoryUsage().heapUsed;
    const N = 2000;
    for (let i = 0; i < N; i++) await open();
    gc();
    const perSession = (process.memoryUsage().heapUsed - before) / N;
    assert.ok(perSession < 50 * 1024, `${Math.round(perSession)} bytes per idle session`);
    assert.ok(perSession > 0);
    t.diagnostic(`${Math.round(perSession)} bytes per idle legacy session`);
  } finally {
    await app.close();
  }
});
