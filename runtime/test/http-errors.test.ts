/**
 * Bad input never crashes the agent or the runtime: every refusal on the MCP
 * endpoint is a 4xx (or 503) with a JSON-RPC error body and the right code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createEchoBackend } from './helpers/echo-backend.ts';
import { initSession, LEGACY_ACCEPT, legacyHeaders, modernRequest, SseReader, startApp, type TestApp } from './helpers/http-app.ts';
import { budgetLimiter, headerAuthenticator } from './helpers/test-auth.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: LEGACY_ACCEPT };

async function expectError(res: Response, status: number, code: number, message?: RegExp): Promise<Record<string, unknown>> {
  assert.equal(res.status, status, `status of ${res.url}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = await res.json();
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.error.code, code);
  if (message) assert.match(body.error.message, message);
  return body;
}

async function withApp(fn: (app: TestApp) => Promise<void>, options: Parameters<typeof startApp>[0] = { backend: createEchoBackend() }): Promise<void> {
  const app = await startApp(options);
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const send = (app: TestApp, body: string, headers: Record<string, string> = JSON_HEADERS, method = 'POST') => fetch(app.url, { method, headers, body });

test('malformed JSON, empty bodies and non-JSON-RPC bodies are 400 with -32700 / -32600', () =>
  withApp(async (app) => {
    await expectError(await send(app, '{"jsonrpc":'), 400, -32700, /Parse error/);
    await expectError(await send(app, ''), 400, -32700);
    await expectError(await send(app, '{"__proto__":{"x":1},"jsonrpc":"2.0","id":1,"method":"ping"}'), 400, -32700);
    await expectError(await send(app, '42'), 400, -32600);
    await expectError(await send(app, 'null'), 400, -32600);
    await expectError(await send(app, '{"jsonrpc":"1.0","id":1,"method":"ping"}'), 400, -32600);
    await expectError(await send(app, '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}'), 400, -32600);
    await expectError(await send(app, '[]'), 400, -32600);
  }));

test('a body over endpoint.maxBodyBytes is 413, declared or streamed', () =>
  withApp(
    async (app) => {
      const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(5000) } } });
      await expectError(await send(app, big), 413, -32000, /exceeds 2048 bytes/);
      // Chunked (no Content-Length): the limit applies while reading.
      const chunked = await fetch(app.url, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(big));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      await expectError(chunked, 413, -32000);
    },
    { backend: createEchoBackend(), spec: { endpoint: { maxBodyBytes: 2048 } } },
  ));

test('wrong Content-Type is 415, wrong Accept is 406, other methods are 405, unknown paths 404', () =>
  withApp(async (app) => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    await expectError(await send(app, body, { 'content-type': 'text/plain', accept: LEGACY_ACCEPT }), 415, -32000, /Content-Type/);
    await expectError(await send(app, body, { accept: LEGACY_ACCEPT }), 415, -32000);
    await expectError(await send(app, body, { 'content-type': 'application/jsonx', accept: LEGACY_ACCEPT }), 415, -32000);
    await expectError(await send(app, body, { 'content-type': 'application/json', accept: 'application/json' }), 406, -32000, /text\/event-stream/);
    await expectError(await send(app, body, { 'content-type': 'application/json', accept: 'text/html' }), 406, -32000);
    await expectError(await fetch(app.url, { headers: { accept: 'application/json' } }), 406, -32000);
    const put = await send(app, body, JSON_HEADERS, 'PUT');
    assert.equal(put.headers.get('allow'), 'GET, POST, DELETE');
    await expectError(put, 405, -32000);
    await expectError(await fetch(`${app.base}/nope`), 404, -32000);
    // `*/*` accepts everything.
    const sid = await initSession(app.url);
    const ok = await send(app, body, { 'content-type': 'application/json; charset=utf-8', accept: '*/*', 'mcp-session-id': sid });
    assert.equal(ok.status, 200);
  }));

test('an unsupported MCP-Protocol-Version header is 400', () =>
  withApp(async (app) => {
    const body = await expectError(await send(app, '{"jsonrpc":"2.0","id":1,"method":"ping"}', { ...JSON_HEADERS, 'mcp-protocol-version': '1999-01-01' }), 400, -32000, /Unsupported protocol version: 1999-01-01/);
    assert.ok(((body.error as { data: { supported: string[] } }).data.supported).includes('2025-11-25'));
    await expectError(await fetch(app.url, { headers: { accept: 'text/event-stream', 'mcp-protocol-version': 'nope' } }), 400, -32000);
  }));

test('DNS rebinding: on loopback only localhost Hosts and Origins pass by default', () =>
  withApp(async (app) => {
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
    const raw = (headers: Record<string, string>) => rawRequest(app.port, 'POST', '/mcp', { ...JSON_HEADERS, ...headers }, init);
    const evil = await raw({ host: 'evil.example.com', origin: 'http://evil.example.com' });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).error.code, -32000);
    assert.equal((await raw({ host: `evil.example.com:${app.port}` })).status, 403, 'a foreign Host alone is refused');
    assert.equal((await raw({ host: `localhost:${app.port}`, origin: 'http://evil.example.com' })).status, 403, 'a foreign Origin alone is refused');
    for (const host of [`localhost:${app.port}`, `127.0.0.1:${app.port}`, `[::1]:${app.port}`]) {
      const ok = await raw({ host, origin: `http://${host}` });
      assert.equal(ok.status, 200, `${host} is accepted`);
    }
    // Probes are not subject to the MCP endpoint's guards.
    assert.equal((await rawRequest(app.port, 'GET', '/health', { host: 'kubelet.internal' })).status, 200);
  }));

test('allowedHosts and allowedOrigins replace the defaults; CORS answers allowed origins', () =>
  withApp(
    async (app) => {
      const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
      const raw = (headers: Record<string, string>) => rawRequest(app.port, 'POST', '/mcp', { ...JSON_HEADERS, ...headers }, init);
      assert.equal((await raw({ host: 'mcp.example.com' })).status, 200);
      assert.equal((await raw({ host: `localhost:${app.port}` })).status, 403, 'localhost is not on the list');
      const cors = await raw({ host: 'mcp.example.com', origin: 'https://app.example.com' });
      assert.equal(cors.status, 200);
      assert.equal(cors.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.match(String(cors.headers['access-control-expose-headers']), /Mcp-Session-Id/);
      assert.equal((await raw({ host: 'mcp.example.com', origin: 'https://other.example.com' })).status, 403);
      const preflight = await rawRequest(app.port, 'OPTIONS', '/mcp', {
        host: 'mcp.example.com',
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, mcp-session-id',
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    },
    { backend: createEchoBackend(), spec: { endpoint: { allowedHosts: ['mcp.example.com'], allowedOrigins: ['https://app.example.com'] } } },
  ));

test('bound to all interfaces with no lists: any Host, but only same-origin browser Origins', async () => {
  const app = await startApp({ backend: createEchoBackend(), host: '0.0.0.0' });
  try {
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
    const raw = (headers: Record<string, string>) => rawRequest(app.port, 'POST', '/mcp', { ...JSON_HEADERS, ...headers }, init);
    assert.equal((await raw({ host: 'memory.team-a.svc:8080' })).status, 200);
    assert.equal((await raw({ host: 'memory.team-a.svc:8080', origin: 'http://memory.team-a.svc:8080' })).status, 200);
    assert.equal((await raw({ host: 'memory.team-a.svc:8080', origin: 'http://evil.example.com' })).status, 403);
  } finally {
    await app.close();
  }
});

test('auth failures answer the authenticator\'s status and headers with a JSON-RPC body', () =>
  withApp(
    async (app) => {
      const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
      const missing = await send(app, init);
      assert.match(missing.headers.get('www-authenticate') ?? '', /resource_metadata=/);
      await expectError(missing, 401, -32040, /missing credentials/);
      const blocked = await send(app, init, { ...JSON_HEADERS, 'x-user': 'blocked' });
      assert.match(blocked.headers.get('www-authenticate') ?? '', /insufficient_scope/);
      await expectError(blocked, 403, -32043);
      await expectError(await fetch(app.url, { headers: { accept: 'text/event-stream' } }), 401, -32040);
      const doc = await fetch(`${app.base}/.well-known/oauth-protected-resource/mcp`);
      assert.equal(doc.status, 200, 'well-known documents need no credentials');
      assert.deepEqual(await doc.json(), { resource: 'http://127.0.0.1/mcp' });
    },
    { backend: createEchoBackend(), auth: headerAuthenticator({ '/.well-known/oauth-protected-resource/mcp': { resource: 'http://127.0.0.1/mcp' } }) },
  ));

test('a refused rate limit is 429 with Retry-After and -32029; the limiter sees the session id', async () => {
  const limiter = budgetLimiter(3, 7);
  const app = await startApp({ backend: createEchoBackend(), limiter });
  try {
    const sid = await initSession(app.url); // initialize + notifications/initialized
    const ok = await send(app, '{"jsonrpc":"2.0","id":1,"method":"ping"}', legacyHeaders(sid));
    assert.equal(ok.status, 200);
    const limited = await send(app, '{"jsonrpc":"2.0","id":2,"method":"ping"}', legacyHeaders(sid));
    assert.equal(limited.headers.get('retry-after'), '7');
    const body = await expectError(limited, 429, -32029);
    assert.deepEqual((body.error as { data: unknown }).data, { scope: 'perPrincipal', retryAfterSeconds: 7 });
    assert.deepEqual(limiter.seen, [undefined, sid, sid, sid]);
  } finally {
    await app.close();
  }
});

test('modern requests: missing or mismatched standard headers are 400/-32020, unknown revisions 400/-32022', () =>
  withApp(async (app) => {
    const m = modernRequest(1, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    const without = (name: string) => Object.fromEntries(Object.entries(m.headers).filter(([k]) => k !== name));
    await expectError(await send(app, m.body, without('mcp-method')), 400, -32020, /Mcp-Method/);
    await expectError(await send(app, m.body, without('mcp-protocol-version')), 400, -32020, /MCP-Protocol-Version/);
    await expectError(await send(app, m.body, without('mcp-name')), 400, -32020, /Mcp-Name/);
    await expectError(await send(app, m.body, { ...m.headers, 'mcp-name': 'other' }), 400, -32020, /other/);
    await expectError(await send(app, m.body, { ...m.headers, 'mcp-method': 'tools/list' }), 400, -32020);
    const encoded = `=?base64?${Buffer.from('echo').toString('base64')}?=`;
    assert.equal((await send(app, m.body, { ...m.headers, 'mcp-name': encoded })).status, 200, 'a Base64-encoded Mcp-Name is accepted');
    const future = JSON.parse(m.body);
    future.params._meta['io.modelcontextprotocol/protocolVersion'] = '2099-01-01';
    const body = await expectError(await send(app, JSON.stringify(future), { ...m.headers, 'mcp-protocol-version': '2025-11-25' }), 400, -32020);
    assert.ok(body);
    await expectError(await send(app, JSON.stringify(future), without('mcp-protocol-version')), 400, -32022, /2099-01-01/);
    const badEnvelope = JSON.parse(m.body);
    delete badEnvelope.params._meta['io.modelcontextprotocol/clientCapabilities'];
    await expectError(await send(app, JSON.stringify(badEnvelope), m.headers), 400, -32602);
  }));

test('a hung tool call is cut off at toolCallSeconds with a transient isError result, and its signal aborts', async () => {
  const backend = createEchoBackend();
  const app = await startApp({ backend, spec: { timeouts: { toolCallSeconds: 1 } } });
  try {
    const started = Date.now();
    const m = modernRequest(1, 'tools/call', { name: 'hang', arguments: {} });
    const res = await send(app, m.body, m.headers);
    assert.equal(res.status, 200);
    const body = await res.json();
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1000 && elapsed < 3000, `timed out after ${elapsed} ms`);
    assert.equal(body.result.isError, true);
    assert.equal(body.result.resultType, 'complete');
    assert.match(body.result.content[0].text, /^\[transient\] Tool "hang" did not finish within 1 s.*retrying may help/);
    assert.deepEqual(backend.aborted, [{ method: 'tools/call', reason: 'timeout' }]);
    // Legacy sessions get the same, over their SSE stream.
    const sid = await initSession(app.url);
    const legacy = await send(app, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'hang', arguments: {} } }), legacyHeaders(sid));
    const events = await new SseReader(legacy).rest(5000);
    const final = JSON.parse(events.at(-1)?.data ?? '{}');
    assert.equal(final.result.isError, true);
    assert.equal(final.result.resultType, undefined, 'legacy results carry no resultType');
  } finally {
    await app.close();
  }
});

test('a slow request (headers never finished) is cut off at requestSeconds', async () => {
  const app = await startApp({ backend: createEchoBackend(), spec: { timeouts: { requestSeconds: 1 } } });
  try {
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(app.port, '127.0.0.1', () => socket.write('POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
      socket.setTimeout(10_000, () => socket.destroy());
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 4000, `closed after ${elapsed} ms`);
    assert.match(outcome, /^HTTP\/1.1 408|^$/);
  } finally {
    await app.close();
  }
});

test('an idle keep-alive connection is closed after keepAliveSeconds', async () => {
  const app = await startApp({ backend: createEchoBackend(), spec: { timeouts: { keepAliveSeconds: 1 } } });
  try {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = connect(app.port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      socket.on('data', () => {});
      socket.on('close', () => resolve(Date.now() - started));
      socket.setTimeout(10_000, () => socket.destroy());
    });
    assert.ok(closedAfter >= 900 && closedAfter < 5000, `closed after ${closedAfter} ms`);
  } finally {
    await app.close();
  }
});

test('a thousand malformed requests get 4xx answers and the runtime keeps serving', () =>
  withApp(async (app) => {
    const samples = [
      '{',
      '[1,2,3]',
      '{"jsonrpc":"2.0"}',
      '{"jsonrpc":"2.0","method":5}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}}',
      '"\\u0000"',
      '{"jsonrpc":"2.0","id":null,"result":{}}',
      'true',
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => {
        const k = i + j;
        const headers: Record<string, string> = { ...JSON_HEADERS };
        if (k % 7 === 0) headers['mcp-session-id'] = `bogus-session-${k}-xxxxxxxxxx`;
        if (k % 11 === 0) headers['mcp-protocol-version'] = '2026-07-28';
        return send(app, samples[k % samples.length] as string, headers).then(async (r) => {
          await r.arrayBuffer();
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        });
      });
      await Promise.all(batch);
    }
    for (const status of statuses.keys()) assert.ok(status >= 400 && status < 500, `status ${status}`);
    const health = await fetch(`${app.base}/health`);
    assert.equal(health.status, 200);
    const sid = await initSession(app.url);
    const ok = await send(app, '{"jsonrpc":"2.0","id":1,"method":"ping"}', legacyHeaders(sid));
    assert.equal(ok.status, 200);
  }));

/** A raw HTTP/1.1 request (fetch can't set Host). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [`${method} ${path} HTTP/1.1`, 'connection: close', `content-length: ${Buffer.byteLength(body)}`];
      if (!('host' in headers)) lines.push(`host: 127.0.0.1:${port}`);
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    });
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const i = line.indexOf(':');
        parsed[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      let text = rest.join('\r\n\r\n');
      if (parsed['transfer-encoding'] === 'chunked') text = dechunk(text);
      resolve({ status: Number(statusLine.split(' ')[1]), headers: parsed, body: text });
    });
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl === -1) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}
