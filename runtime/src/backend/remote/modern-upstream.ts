/**
 * A 2026-07-28 upstream: stateless requests carrying the `_meta` envelope,
 * with the standard request headers (MCP-Protocol-Version, Mcp-Method,
 * Mcp-Name, and Mcp-Param-* for tools that declare `x-mcp-header`), and a
 * `subscriptions/listen` stream Berth keeps open for change notifications.
 */
import type { Logger } from 'pino';
import type { JsonRpcErrorObject, JsonRpcNotification, JsonRpcRequest } from '../../protocol/jsonrpc.ts';
import { BERTH_CLIENT_CAPABILITIES, BERTH_CLIENT_INFO } from '../bridge/capabilities.ts';
import { buildEnvelope } from '../bridge/envelope.ts';
import { MODERN_PROTOCOL_VERSION } from '../../protocol/meta-keys.ts';
import { PeerFailure, type PeerReply } from '../bridge/peer.ts';
import type { UpstreamHttp, UpstreamResponse } from './http.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** Encodes a header value as the spec requires (plain visible ASCII, else `=?base64?…?=`). */
export function encodeHeaderValue(s: string): string {
  let plain = s.length > 0 && s === s.trim() && !(s.startsWith('=?base64?') && s.endsWith('?='));
  if (plain) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 9 && (c < 32 || c > 126)) {
        plain = false;
        break;
      }
    }
  }
  return plain ? s : `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

interface HeaderDecl {
  path: string[];
  header: string;
}

/** `x-mcp-header` declarations reachable through `properties` chains of an input schema. */
export function headerDeclarations(schema: unknown, path: string[] = [], out: HeaderDecl[] = []): HeaderDecl[] {
  if (!isObj(schema)) return out;
  const h = schema['x-mcp-header'];
  if (typeof h === 'string' && h && path.length) out.push({ path, header: h });
  if (isObj(schema.properties)) for (const [k, v] of Object.entries(schema.properties)) headerDeclarations(v, [...path, k], out);
  return out;
}

function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const k of path) {
    if (!isObj(node)) return undefined;
    node = node[k];
  }
  return node;
}

function primitive(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v) && (!Number.isInteger(v) || Number.isSafeInteger(v))) return String(v);
  return undefined;
}

export interface ModernUpstreamOptions {
  http: UpstreamHttp;
  logger: Logger;
  onChange(n: JsonRpcNotification): void;
}

export class ModernUpstream {
  readonly #o: ModernUpstreamOptions;
  readonly #log: Logger;
  /** The upstream's DiscoverResult once probed. */
  discover: Record<string, unknown> | undefined;
  lastError: string | undefined;
  readonly #toolHeaders = new Map<string, HeaderDecl[]>();
  #listen: AbortController | undefined;
  #resources = new Set<string>();
  #closed = false;
  #probing: Promise<boolean> | undefined;

  constructor(opts: ModernUpstreamOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ upstream: 'modern' });
  }

  /** Whether the upstream speaks 2026-07-28 (probes once; concurrent callers share). */
  probe(): Promise<boolean> {
    if (this.discover) return Promise.resolve(true);
    this.#probing ??= this.#probe().finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  async #probe(): Promise<boolean> {
    const req: JsonRpcRequest = { jsonrpc: '2.0', id: 'berth-discover', method: 'server/discover', params: { _meta: buildEnvelope({ clientInfo: { ...BERTH_CLIENT_INFO }, clientCapabilities: BERTH_CLIENT_CAPABILITIES }) } };
    let reply: PeerReply;
    try {
      reply = await this.forward(req, () => undefined);
    } catch (err) {
      if (err instanceof PeerFailure && err.kind === 'protocol') return false;
      this.lastError = (err as Error).message;
      throw err;
    }
    if ('error' in reply) return false;
    const versions = reply.result.supportedVersions;
    if (!Array.isArray(versions) || !versions.includes(MODERN_PROTOCOL_VERSION)) return false;
    this.discover = reply.result;
    this.lastError = undefined;
    return true;
  }

  /** Headers for one modern request, derived from its body. */
  headersFor(req: JsonRpcRequest): Record<string, string> {
    const h: Record<string, string> = { 'mcp-protocol-version': MODERN_PROTOCOL_VERSION, 'mcp-method': req.method };
    const field = NAME_SOURCE[req.method];
    const name = field ? req.params?.[field] : undefined;
    if (typeof name === 'string') h['mcp-name'] = encodeHeaderValue(name);
    if (req.method === 'tools/call' && typeof name === 'string') {
      for (const d of this.#toolHeaders.get(name) ?? []) {
        const v = primitive(valueAt(req.params?.arguments, d.path));
        if (v !== undefined) h[`mcp-param-${d.header.toLowerCase()}`] = encodeHeaderValue(v);
      }
    }
    return h;
  }

  /**
   * Forwards one request (already carrying its envelope); related
   * notifications go to `notify`. Resolves with the upstream's reply.
   */
  async forward(req: JsonRpcRequest, notify: (n: JsonRpcNotification) => void, signal?: AbortSignal): Promise<PeerReply> {
    const res = await this.#o.http.post(req, this.headersFor(req), signal);
    const reply = await this.#replyOf(res, req, notify);
    if (req.method === 'tools/list' && 'result' in reply && Array.isArray(reply.result.tools)) {
      for (const t of reply.result.tools) {
        if (isObj(t) && typeof t.name === 'string') this.#toolHeaders.set(t.name, headerDeclarations(t.inputSchema));
      }
    }
    return reply;
  }

  async #replyOf(res: UpstreamResponse, req: JsonRpcRequest, notify: (n: JsonRpcNotification) => void): Promise<PeerReply> {
    const match = (m: unknown): PeerReply | undefined => {
      if (!isObj(m) || 'method' in m || m.id !== req.id) return undefined;
      return isObj(m.error) ? { error: m.error as unknown as JsonRpcErrorObject } : { result: isObj(m.result) ? m.result : {} };
    };
    if (res.json !== undefined) {
      const reply = match(res.json);
      if (reply) {
        if (res.status >= 500) throw new PeerFailure('unavailable', `the upstream server failed (HTTP ${res.status}): ${'error' in reply ? reply.error.message : ''}`);
        return reply;
      }
    }
    if (res.status === 401 || res.status === 403) throw new PeerFailure('unavailable', `the upstream server refused Berth's credentials (HTTP ${res.status})`);
    if (res.status >= 500) throw new PeerFailure('unavailable', `the upstream server answered HTTP ${res.status}; the call was not completed; retrying may help`);
    if (res.status >= 400) throw new PeerFailure('protocol', `the upstream server rejected the request (HTTP ${res.status})`);
    if (res.stream) {
      for await (const m of res.stream) {
        const reply = match(m.message);
        if (reply) return reply;
        const msg = m.message;
        if (isObj(msg) && typeof msg.method === 'string' && (msg.id === undefined || msg.id === null)) {
          notify(isObj(msg.params) ? { jsonrpc: '2.0', method: msg.method, params: msg.params } : { jsonrpc: '2.0', method: msg.method });
        }
      }
      throw new PeerFailure('unavailable', 'the upstream server closed the stream before answering; the call may not have completed; retrying may help');
    }
    throw new PeerFailure('protocol', `the upstream server answered HTTP ${res.status} without a JSON-RPC response`);
  }

  /** Sets the resource URIs Berth listens for (re-opens the listen stream when they change). */
  setResources(uris: Iterable<string>): void {
    const next = new Set(uris);
    if (next.size === this.#resources.size && [...next].every((u) => this.#resources.has(u))) return;
    this.#resources = next;
    if (this.#listen) this.startListening();
  }

  /** Opens (or re-opens) the `subscriptions/listen` stream for change notifications. */
  startListening(): void {
    this.#listen?.abort();
    if (this.#closed) return;
    const controller = new AbortController();
    this.#listen = controller;
    void this.#listenLoop(controller);
  }

  async #listenLoop(controller: AbortController): Promise<void> {
    let backoff = 250;
    let seq = 0;
    while (!controller.signal.aborted && !this.#closed) {
      const caps = isObj(this.discover?.capabilities) ? this.discover.capabilities : {};
      const filter: Record<string, unknown> = {};
      if (isObj(caps.tools) && caps.tools.listChanged) filter.toolsListChanged = true;
      if (isObj(caps.prompts) && caps.prompts.listChanged) filter.promptsListChanged = true;
      if (isObj(caps.resources) && caps.resources.listChanged) filter.resourcesListChanged = true;
      if (this.#resources.size && isObj(caps.resources) && caps.resources.subscribe) filter.resourceSubscriptions = [...this.#resources];
      if (!Object.keys(filter).length) return;
      const req: JsonRpcRequest = {
        jsonrpc: '2.0',
        id: `berth-listen-${++seq}`,
        method: 'subscriptions/listen',
        params: { notifications: filter, _meta: buildEnvelope({ clientInfo: { ...BERTH_CLIENT_INFO }, clientCapabilities: BERTH_CLIENT_CAPABILITIES }) },
      };
      try {
        const res = await this.#o.http.post(req, this.headersFor(req), controller.signal, { longLived: true });
        if (res?.stream) {
          backoff = 250;
          for await (const m of res.stream) {
            const msg = m.message;
            if (isObj(msg) && typeof msg.method === 'string' && msg.method !== 'notifications/subscriptions/acknowledged') {
              this.#o.onChange(isObj(msg.params) ? { jsonrpc: '2.0', method: msg.method, params: msg.params } : { jsonrpc: '2.0', method: msg.method });
            }
          }
        } else if (res && res.status >= 400 && res.status < 500) {
          this.#log.warn({ status: res.status }, 'The upstream refused subscriptions/listen; change notifications are off');
          return;
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        this.#log.debug({ err: (err as Error).message }, 'The upstream listen stream failed');
      }
      await new Promise((r) => setTimeout(r, backoff).unref());
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  close(): void {
    this.#closed = true;
    this.#listen?.abort();
  }
}
