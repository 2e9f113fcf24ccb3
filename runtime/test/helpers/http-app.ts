/**
 * Fixtures for the HTTP-layer tests: a runtime config, an app listening on a
 * random loopback port (memory stores unless given), raw MCP requests, and
 * an SSE reader.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { buildApp } from '../../src/app.ts';
import type { BerthApp } from '../../src/app-types.ts';
import type { Backend } from '../../src/backend/types.ts';
import { parseRuntimeConfig, type RuntimeConfig } from '../../src/config/runtime-config.ts';
import type { McpServerSpecInput } from '../../src/config/spec.ts';
import type { Authenticator, RequestLimiter } from '../../src/security/types.ts';
import { createMemoryStores } from '../../src/store/memory/index.ts';
import type { EventBus, EventStore, SessionStore } from '../../src/store/types.ts';

export const silent: Logger = pino({ level: 'silent' });

export const LEGACY_ACCEPT = 'application/json, text/event-stream';

/** A runtime config for tests: module source (unused by the injected backend), auth none, loopback. */
export function testConfig(spec: Partial<McpServerSpecInput> = {}, host = '127.0.0.1'): RuntimeConfig {
  return parseRuntimeConfig({
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'test', name: 'http' },
    spec: { source: { module: { path: '/nonexistent/server.mjs' } }, auth: { none: {} }, ...spec },
    runtime: { listen: { host, port: 0 }, logLevel: 'silent' },
  });
}

export interface Stores {
  sessions: SessionStore;
  events: EventStore;
  bus: EventBus;
}

export interface TestApp {
  berth: BerthApp;
  /** Base URL, e.g. http://127.0.0.1:1234 */
  base: string;
  /** The MCP endpoint URL. */
  url: string;
  port: number;
  stores: Stores;
  close(): Promise<void>;
}

export interface StartOptions {
  backend: Backend;
  spec?: Partial<McpServerSpecInput>;
  stores?: Stores;
  auth?: Authenticator;
  limiter?: RequestLimiter;
  logger?: Logger;
  replicaId?: string;
  host?: string;
}

/** Builds and starts an app on 127.0.0.1:0. */
export async function startApp(options: StartOptions): Promise<TestApp> {
  const config = testConfig(options.spec, options.host);
  const stores = options.stores ?? createMemoryStores(config.spec);
  await options.backend.start();
  const berth = await buildApp({
    config,
    backend: options.backend,
    ...stores,
    logger: options.logger ?? silent,
    ...(options.auth && { auth: options.auth }),
    ...(options.limiter && { limiter: options.limiter }),
    ...(options.replicaId && { replicaId: options.replicaId }),
  });
  await berth.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (berth.app.server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    berth,
    base,
    url: `${base}${config.spec.endpoint.path}`,
    port,
    stores,
    close: async () => {
      if (berth.state() !== 'stopped') await berth.app.close();
    },
  };
}

/** Headers of a legacy POST. */
export function legacyHeaders(sessionId?: string, version = '2025-11-25'): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: LEGACY_ACCEPT,
    'mcp-protocol-version': version,
    ...(sessionId !== undefined && { 'mcp-session-id': sessionId }),
  };
}

export const MODERN = '2026-07-28';

/** The 2026-07-28 per-request envelope. */
export function envelope(capabilities: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientCapabilities': capabilities,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-client', version: '1.0.0' },
  };
}

/** A modern request body with the envelope, and its standard headers. */
export function modernRequest(id: number | string, method: string, params: Record<string, unknown> = {}): { body: string; headers: Record<string, string> } {
  const name = method === 'tools/call' || method === 'prompts/get' ? params.name : method === 'resources/read' ? params.uri : undefined;
  return {
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...envelope(), ...(params._meta as object | undefined) } } }),
    headers: {
      'content-type': 'application/json',
      accept: LEGACY_ACCEPT,
      'mcp-protocol-version': MODERN,
      'mcp-method': method,
      ...(typeof name === 'string' && { 'mcp-name': name }),
    },
  };
}

/** Initializes a legacy session over raw HTTP; returns its id. */
export async function initSession(url: string, capabilities: Record<string, unknown> = {}, version = '2025-11-25', headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...legacyHeaders(undefined, version), ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: version, capabilities, clientInfo: { name: 'raw', version: '1' } } }),
  });
  if (res.status !== 200) throw new Error(`initialize failed: ${res.status} ${await res.text()}`);
  const id = res.headers.get('mcp-session-id');
  if (!id) throw new Error('no session id');
  await res.text();
  await fetch(url, { method: 'POST', headers: { ...legacyHeaders(id, version), ...headers }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  return id;
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

/** Reads SSE events from a response body, one at a time. */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private readonly queue: SseEvent[] = [];
  /** `retry:` values seen, including those of blocks without data. */
  readonly retries: number[] = [];
  ended = false;

  constructor(response: Response) {
    if (!response.body) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  /** The next event (comments skipped); undefined when the stream ended. */
  async next(timeoutMs = 5000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.ended) return undefined;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('timed out waiting for an SSE event');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out waiting for an SSE event')), remaining))),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) {
        this.ended = true;
        this.parse(true);
        continue;
      }
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      this.parse(false);
    }
    return this.queue.shift();
  }

  /** Reads until the stream ends; returns the remaining events. */
  async rest(timeoutMs = 5000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (;;) {
      const ev = await this.next(timeoutMs);
      if (!ev) return out;
      out.push(ev);
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }

  private parse(final: boolean): void {
    const blocks = this.buffer.split('\n\n');
    this.buffer = final ? '' : (blocks.pop() ?? '');
    for (const block of blocks) {
      if (block.trim() === '') continue;
      const ev: SseEvent = { data: '' };
      let hasData = false;
      let onlyComments = true;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        onlyComments = false;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') {
          ev.data = hasData ? `${ev.data}\n${value}` : value;
          hasData = true;
        } else if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'retry') {
          ev.retry = Number(value);
          this.retries.push(Number(value));
        }
      }
      if (onlyComments || !hasData) continue;
      this.queue.push(ev);
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
