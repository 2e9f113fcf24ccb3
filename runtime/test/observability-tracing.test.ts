/**
 * OpenTelemetry tracing end to end: a real OTLP/HTTP receiver (node:http,
 * decoding the JSON the official exporter posts), a traced Berth with a
 * module backend that is also the upstream of a traced Berth with a remote
 * backend, and the SDK v2 client in both protocol eras. Untraced runtimes
 * export nothing and never load the SDK; malformed OTEL_* settings exit 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerHooks } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import pino from 'pino';
import { loadLocalRuntimeConfig } from '../src/config/manifest.ts';
import { startRuntime, type RuntimeHandle } from '../src/main.ts';
import { repoRoot, runBerth } from './cli-helpers.ts';
import { EVERYTHING_BIN, runtimeConfig } from './fixtures/stdio/harness.ts';

// Recorded from the first line on: every module this process resolves from now on.
const resolved: string[] = [];
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    resolved.push(result.url);
    return result;
  },
});
const otelResolved = (): string[] => resolved.filter((u) => u.includes('@opentelemetry'));

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: number;
  service: string;
  attributes: Record<string, string | number | boolean>;
}

// OTLP SpanKind values.
const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;
const STATUS_ERROR = 2;

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

const value = (v: AnyValue): string | number | boolean => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
const attrs = (list: KeyValue[] | undefined): Record<string, string | number | boolean> => Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
/** OTLP/JSON ids are hex; tolerate base64 too. */
const hexId = (id: string | undefined): string => (!id ? '' : /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex'));

/** A real OTLP/HTTP traces endpoint that keeps what it is sent. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes: string[] = [];
  posts = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts++;
        this.contentTypes.push(String(req.headers['content-type']));
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
        };
        for (const rs of doc.resourceSpans) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              this.spans.push({
                traceId: hexId(s.traceId as string),
                spanId: hexId(s.spanId as string),
                parentSpanId: hexId(s.parentSpanId as string | undefined),
                name: String(s.name),
                kind: Number(s.kind),
                status: Number((s.status as { code?: number } | undefined)?.code ?? 0),
                service,
                attributes: attrs(s.attributes as KeyValue[]),
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Waits (bounded) until `pick` finds what it needs in the received spans. */
  async waitFor<T>(what: string, pick: (spans: ReceivedSpan[]) => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = pick(this.spans);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received:\n${this.spans.map((s) => `${s.service} ${s.name} ${s.traceId}/${s.spanId}<-${s.parentSpanId}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const quiet = { logger: pino({ level: 'silent' }), handleSignals: false, handleProcessErrors: false } as const;
const API_KEY = 'client-api-key-5f1e9c7d';
const UPSTREAM_SECRET = 'upstream-secret-a81b2c';
const ARGUMENT_MARKER = 'argument-marker-77e3';

let dir: string;
let receiver: OtlpReceiver;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-tracing-'));
  receiver = new OtlpReceiver();
  await receiver.start();
});

after(async () => {
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

function tracingEnv(serviceName?: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50', ...(serviceName && { OTEL_SERVICE_NAME: serviceName }), ...extra };
}

const helloManifest = join(repoRoot, 'examples', 'hello', 'mcpserver.yaml');

/** A front McpServer (test/front) whose remote upstream is `upstreamUrl`, with API-key auth and an injected upstream secret. */
function frontConfig(upstreamUrl: string) {
  const secrets = join(dir, 'secrets');
  mkdirSync(join(secrets, 'keys'), { recursive: true });
  mkdirSync(join(secrets, 'upstream'), { recursive: true });
  writeFileSync(join(secrets, 'keys', 'agent'), API_KEY);
  writeFileSync(join(secrets, 'upstream', 'token'), `Bearer ${UPSTREAM_SECRET}`);
  const manifest = join(dir, 'front.yaml');
  writeFileSync(
    manifest,
    `apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: { name: front, namespace: test }
spec:
  source:
    remote:
      url: ${JSON.stringify(upstreamUrl)}
      headers:
        - name: authorization
          valueFrom: { secretKeyRef: { name: upstream, key: token } }
  auth: { apiKeys: { secretRef: { name: keys } } }
`,
  );
  return loadLocalRuntimeConfig(manifest, { port: 0, env: {}, secretsDir: secrets });
}

type Mode = 'legacy' | { pin: '2026-07-28' };

/** The SDK client; every HTTP request carries the API key and, when given, a traceparent. */
async function connect(url: string, mode: Mode, headers: Record<string, string>): Promise<{ client: Client; sessionIds: Set<string> }> {
  const sessionIds = new Set<string>();
  const client = new Client({ name: 'tracing-test', version: '1.0.0' }, { capabilities: {}, versionNegotiation: { mode } });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: async (input, init) => {
      const h = new Headers(init?.headers);
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      const res = await fetch(input, { ...init, headers: h });
      const sid = res.headers.get('mcp-session-id');
      if (sid) sessionIds.add(sid);
      return res;
    },
  });
  await client.connect(transport);
  return { client, sessionIds };
}

const text = (r: { content?: unknown }): string => (r.content as Array<{ text?: string }>)[0]?.text ?? '';
const randomHex = (bytes: number): string => createHash('sha256').update(String(Math.random())).digest('hex').slice(0, bytes * 2);

test('tracing off: nothing is exported and no OpenTelemetry module is loaded', async () => {
  const postsBefore = receiver.posts;
  // No endpoint at all, and an endpoint with the exporter switched off.
  for (const env of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'none' }] as NodeJS.ProcessEnv[]) {
    const runtime = await startRuntime(loadLocalRuntimeConfig(helloManifest, { port: 0, env: {} }), { ...quiet, env });
    try {
      for (const mode of ['legacy', { pin: '2026-07-28' }] as const) {
        const { client } = await connect(runtime.url, mode, { traceparent: `00-${randomHex(16)}-${randomHex(8)}-01` });
        assert.equal(text(await client.callTool({ name: 'calculate', arguments: { expression: '6 * 7' } })), '42');
        await client.close();
      }
    } finally {
      await runtime.stop();
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(receiver.posts, postsBefore, 'no OTLP request reached the receiver');
  assert.deepEqual(otelResolved(), [], 'no @opentelemetry module was resolved');
});

test('traced: server and backend spans in both eras, linked across a remote upstream, with the caller’s trace id', async () => {
  const upstream = await startRuntime(loadLocalRuntimeConfig(helloManifest, { port: 0, env: {} }), { ...quiet, env: tracingEnv() });
  let front: RuntimeHandle | undefined;
  try {
    front = await startRuntime(frontConfig(upstream.url), { ...quiet, env: tracingEnv('front-svc') });
    assert.ok(otelResolved().some((u) => u.includes('@opentelemetry/sdk-trace')), 'the SDK is loaded once tracing is configured');

    for (const mode of [{ pin: '2026-07-28' }, 'legacy'] as const) {
      const era = mode === 'legacy' ? 'legacy' : 'modern';
      const traceId = randomHex(16);
      const callerSpan = randomHex(8);
      const { client, sessionIds } = await connect(front.url, mode, { authorization: `Bearer ${API_KEY}`, traceparent: `00-${traceId}-${callerSpan}-01` });
      const result = await client.callTool({ name: 'text_stats', arguments: { text: `${ARGUMENT_MARKER} two words` } });
      assert.match(text(result), /words/);
      const failed = await client.callTool({ name: 'calculate', arguments: { expression: `1 +` } });
      assert.equal(failed.isError, true);
      await client.close();

      // Front: server span (child of the caller's span) → remote backend span.
      const frontServer = await receiver.waitFor(`${era} front server span`, (spans) =>
        spans.find((s) => s.service === 'front-svc' && s.kind === SERVER && s.traceId === traceId && s.attributes['gen_ai.tool.name'] === 'text_stats'),
      );
      assert.equal(frontServer.parentSpanId, callerSpan, 'the incoming traceparent is the server span’s parent');
      assert.equal(frontServer.name, 'POST /mcp');
      assert.equal(frontServer.attributes['http.request.method'], 'POST');
      assert.equal(frontServer.attributes['url.path'], '/mcp');
      assert.equal(frontServer.attributes['http.response.status_code'], 200);
      assert.equal(frontServer.attributes['mcp.method.name'], 'tools/call');
      assert.equal(frontServer.attributes['berth.tenant'], 'test/front');
      assert.equal(frontServer.attributes['berth.era'], era);
      assert.equal(frontServer.attributes['mcp.protocol.version'], mode === 'legacy' ? '2025-11-25' : '2026-07-28');
      if (era === 'legacy') {
        const [sid] = [...sessionIds];
        assert.ok(sid, 'the legacy client got a session');
        assert.equal(frontServer.attributes['berth.session.hash'], createHash('sha256').update(sid).digest('hex').slice(0, 16));
      } else {
        assert.equal(frontServer.attributes['berth.session.hash'], undefined, 'modern requests have no session');
      }

      const frontBackend = await receiver.waitFor(`${era} front backend span`, (spans) =>
        spans.find((s) => s.service === 'front-svc' && s.parentSpanId === frontServer.spanId),
      );
      assert.equal(frontBackend.traceId, traceId);
      assert.equal(frontBackend.kind, CLIENT);
      assert.equal(frontBackend.name, 'tools/call text_stats');
      assert.equal(frontBackend.attributes['berth.backend.kind'], 'remote');
      assert.equal(frontBackend.attributes['berth.backend.outcome'], 'ok');
      assert.equal(frontBackend.attributes['gen_ai.tool.name'], 'text_stats');

      // Upstream (a second Berth): its server span continues the trace from the front's backend span.
      const upstreamServer = await receiver.waitFor(`${era} upstream server span`, (spans) =>
        spans.find((s) => s.service === 'berth-default-hello' && s.kind === SERVER && s.parentSpanId === frontBackend.spanId),
      );
      assert.equal(upstreamServer.traceId, traceId, 'the upstream received a traceparent of the same trace');
      const upstreamBackend = await receiver.waitFor(`${era} upstream module span`, (spans) => spans.find((s) => s.parentSpanId === upstreamServer.spanId));
      assert.equal(upstreamBackend.kind, INTERNAL);
      assert.equal(upstreamBackend.attributes['berth.backend.kind'], 'module');
      assert.equal(upstreamBackend.attributes['berth.tenant'], 'default/hello');
      assert.equal(upstreamBackend.attributes['berth.backend.outcome'], 'ok');

      // The failing call: an isError result, recorded as such on both sides.
      const failedBackend = await receiver.waitFor(`${era} isError backend span`, (spans) =>
        spans.find((s) => s.service === 'front-svc' && s.traceId === traceId && s.attributes['gen_ai.tool.name'] === 'calculate' && s.attributes['berth.backend.kind'] === 'remote'),
      );
      assert.equal(failedBackend.attributes['berth.backend.outcome'], 'isError');
      assert.equal(failedBackend.status, STATUS_ERROR);
    }

    // The legacy handshake and listings are traced too, each in its own (new) trace when the caller sends none.
    const { client } = await connect(front.url, 'legacy', { authorization: `Bearer ${API_KEY}` });
    await client.listTools();
    await client.close();
    const listing = await receiver.waitFor('a tools/list backend span', (spans) => spans.find((s) => s.service === 'front-svc' && s.name === 'tools/list' && s.attributes['berth.era'] === 'legacy'));
    const listingServer = receiver.spans.find((s) => s.spanId === listing.parentSpanId);
    assert.equal(listingServer?.kind, SERVER);
    assert.equal(listingServer?.parentSpanId, '', 'a caller without traceparent starts a new trace at the server span');

    // An upstream that went away: the call fails as a transient failure, and the span says so.
    const late = await connect(front.url, { pin: '2026-07-28' }, { authorization: `Bearer ${API_KEY}` });
    await upstream.stop();
    const lost = await late.client.callTool({ name: 'uuid', arguments: {} });
    assert.equal(lost.isError, true, JSON.stringify(lost));
    await late.client.close();
    const lostSpan = await receiver.waitFor('a transient backend span', (spans) => spans.find((s) => s.service === 'front-svc' && s.name === 'tools/call uuid'));
    assert.equal(lostSpan.attributes['berth.backend.outcome'], 'transient');
    assert.equal(lostSpan.status, STATUS_ERROR);

    // Nothing secret or caller-provided beyond names reaches any span.
    const everything = JSON.stringify(receiver.spans);
    for (const secret of [API_KEY, UPSTREAM_SECRET, ARGUMENT_MARKER, 'Bearer']) assert.ok(!everything.includes(secret), `no span carries ${secret}`);
    for (const span of receiver.spans) {
      for (const key of Object.keys(span.attributes)) assert.doesNotMatch(key, /authorization|token|argument|cookie|header/i, `attribute ${key} on ${span.name}`);
    }
    assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')), 'OTLP/HTTP JSON');
  } finally {
    await front?.stop();
    await upstream.stop();
  }
});

test('traced: a stdio backend’s exchange is a client span under the request', async () => {
  const config = runtimeConfig({ stdio: { command: [EVERYTHING_BIN, 'stdio'], instances: { mode: 'shared', min: 1, max: 1 } } }, { name: 'everything', runtime: { listen: { host: '127.0.0.1', port: 0 } } });
  const runtime = await startRuntime(config, { ...quiet, env: tracingEnv() });
  try {
    const traceId = randomHex(16);
    const { client } = await connect(runtime.url, { pin: '2026-07-28' }, { traceparent: `00-${traceId}-${randomHex(8)}-01` });
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: ARGUMENT_MARKER } })), `Echo: ${ARGUMENT_MARKER}`);
    await client.close();
    const backend = await receiver.waitFor('a stdio backend span', (spans) =>
      spans.find((s) => s.service === 'berth-test-everything' && s.traceId === traceId && s.name === 'tools/call echo'),
    );
    assert.equal(backend.kind, CLIENT);
    assert.equal(backend.attributes['berth.backend.kind'], 'stdio');
    assert.equal(backend.attributes['berth.backend.outcome'], 'ok');
    const server = receiver.spans.find((s) => s.spanId === backend.parentSpanId);
    assert.equal(server?.kind, SERVER);
    assert.equal(server?.traceId, traceId);
    assert.ok(!JSON.stringify(receiver.spans).includes(ARGUMENT_MARKER), 'no tool argument in any span');
  } finally {
    await runtime.stop();
  }
});

test('sampling: a ratio of 0 records no new traces but follows a sampled caller', async () => {
  const runtime = await startRuntime(loadLocalRuntimeConfig(helloManifest, { port: 0, env: {} }), {
    ...quiet,
    env: tracingEnv('sampled-svc', { OTEL_TRACES_SAMPLER_ARG: '0' }),
  });
  try {
    const unsampled = await connect(runtime.url, { pin: '2026-07-28' }, {});
    await unsampled.client.callTool({ name: 'uuid', arguments: {} });
    await unsampled.client.close();
    const traceId = randomHex(16);
    const sampled = await connect(runtime.url, { pin: '2026-07-28' }, { traceparent: `00-${traceId}-${randomHex(8)}-01` });
    await sampled.client.callTool({ name: 'uuid', arguments: {} });
    await sampled.client.close();
  } finally {
    await runtime.stop();
  }
  const mine = receiver.spans.filter((s) => s.service === 'sampled-svc');
  assert.ok(mine.length >= 2, 'the sampled caller’s requests were recorded (flushed on stop)');
  assert.equal(new Set(mine.map((s) => s.traceId)).size, 1, 'only the caller’s trace was recorded');
});

test('malformed tracing settings exit 2 naming the variable', async () => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:\/\/ or https:\/\/ URL/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://[bad' }, /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not a valid URL/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_SAMPLER_ARG: '1.5' }, /OTEL_TRACES_SAMPLER_ARG: expected a sampling ratio between 0 and 1/],
  ];
  await Promise.all(
    cases.map(async ([env, message]) => {
      const run = await runBerth(['run', '-f', helloManifest, '--port', '0'], { env });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    }),
  );
});
