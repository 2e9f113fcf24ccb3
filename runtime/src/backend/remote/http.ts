/**
 * The HTTP edge to an upstream Streamable HTTP server: a keep-alive undici
 * agent, per-request idle timeouts (no byte for `timeoutSeconds` = timeout),
 * JSON or SSE responses decoded into JSON-RPC messages, and transport
 * failures turned into client-facing PeerFailures. Only the headers Berth
 * builds reach the upstream.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { withTraceContext } from '../../observability/tracing.ts';
import { PeerFailure } from '../bridge/peer.ts';
import { SseParser, type SseEvent } from './sse.ts';

export interface UpstreamMessage {
  message: unknown;
  /** SSE event id, when the upstream sent one. */
  eventId?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body (application/json responses). */
  json?: unknown;
  /** The messages of an SSE body, in order. */
  stream?: AsyncIterable<UpstreamMessage>;
  /** Raw text of a non-JSON, non-SSE body (error pages), truncated. */
  text?: string;
}

export interface UpstreamHttpOptions {
  url: string;
  timeoutMs: number;
  /** Headers Berth injects (resolved secrets); called per request. */
  headers(): Record<string, string>;
  /** Max concurrent connections to the upstream origin. */
  connections?: number;
}

const header = (h: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Maps an undici/network error to a client-facing failure. */
export function transportFailure(err: unknown, timeoutMs: number): PeerFailure {
  if (err instanceof PeerFailure) return err;
  const e = err as { code?: string; cause?: { code?: string }; name?: string; message?: string };
  const code = e.code ?? e.cause?.code ?? e.name ?? 'error';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'TimeoutError') {
    return new PeerFailure('timeout', `the upstream server did not answer within ${Math.round(timeoutMs / 1000)}s; the call may not have completed; retrying may help`);
  }
  if (code === 'AbortError' || code === 'UND_ERR_ABORTED') return new PeerFailure('cancelled', 'the request was cancelled');
  return new PeerFailure('unavailable', `the upstream server is unreachable (${code}); the call was not completed; retrying may help`);
}

async function* sseMessages(body: Dispatcher.ResponseData['body']): AsyncGenerator<UpstreamMessage> {
  const queue: SseEvent[] = [];
  const parser = new SseParser((e) => queue.push(e));
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.push(decoder.decode(chunk as Uint8Array, { stream: true }));
    while (queue.length) {
      const e = queue.shift()!;
      if (e.event !== 'message' || e.data === '') {
        // A priming event (id, no data) still moves the resumption cursor.
        if (e.id !== undefined) yield { message: undefined, eventId: e.id };
        continue;
      }
      let message: unknown;
      try {
        message = JSON.parse(e.data);
      } catch {
        continue;
      }
      yield e.id === undefined ? { message } : { message, eventId: e.id };
    }
  }
}

export class UpstreamHttp {
  readonly url: string;
  readonly timeoutMs: number;
  readonly #agent: Agent;
  readonly #headers: () => Record<string, string>;

  constructor(opts: UpstreamHttpOptions) {
    this.url = opts.url;
    this.timeoutMs = opts.timeoutMs;
    this.#headers = opts.headers;
    this.#agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: opts.connections ?? 128 });
  }

  /**
   * POSTs one JSON-RPC message. Rejects with PeerFailure on transport
   * failure. `longLived` streams (subscriptions/listen) have no idle timeout.
   */
  post(body: unknown, headers: Record<string, string>, signal?: AbortSignal, opts: { longLived?: boolean } = {}): Promise<UpstreamResponse> {
    return this.#send('POST', JSON.stringify(body), { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, signal, opts.longLived ? 0 : this.timeoutMs);
  }

  /**
   * Opens a GET (SSE) stream: the session's listening stream (no idle
   * timeout) or a resumption of a response stream (`resumeIdleMs`).
   */
  get(headers: Record<string, string>, signal?: AbortSignal, opts: { resumeIdleMs?: number } = {}): Promise<UpstreamResponse> {
    return this.#send('GET', undefined, { accept: 'text/event-stream', ...headers }, signal, opts.resumeIdleMs ?? 0, opts.resumeIdleMs);
  }

  /** DELETE (end an upstream session); failures are ignored. */
  async delete(headers: Record<string, string>): Promise<void> {
    try {
      const r = await this.#send('DELETE', undefined, headers, AbortSignal.timeout(2000), this.timeoutMs);
      if (r.stream) for await (const _ of r.stream) break;
    } catch {
      /* best effort */
    }
  }

  /** Closes the keep-alive connections; requests still open at `deadline` are cut. */
  async close(deadline = Date.now() + 1000): Promise<void> {
    const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), Math.max(0, deadline - Date.now())).unref());
    const closed = this.#agent.close().then(() => 'closed' as const, () => 'closed' as const);
    if ((await Promise.race([closed, timer])) === 'late') await this.#agent.destroy().catch(() => undefined);
  }

  async #send(method: 'POST' | 'GET' | 'DELETE', body: string | undefined, headers: Record<string, string>, signal: AbortSignal | undefined, bodyTimeout: number, headersTimeout = this.timeoutMs): Promise<UpstreamResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.url, {
        method,
        // Berth's injected headers first; the protocol headers win over a misconfigured injection.
        // The trace context (when traced) is the backend exchange's span, never the client's header.
        headers: withTraceContext({ ...this.#headers(), ...headers }),
        body,
        dispatcher: this.#agent,
        signal,
        headersTimeout,
        bodyTimeout,
      });
    } catch (err) {
      throw transportFailure(err, this.timeoutMs);
    }
    const type = header(res.headers, 'content-type') ?? '';
    const out: UpstreamResponse = { status: res.statusCode, headers: res.headers };
    try {
      if (type.includes('text/event-stream')) {
        const iter = sseMessages(res.body);
        const timeoutMs = this.timeoutMs;
        out.stream = {
          async *[Symbol.asyncIterator]() {
            try {
              yield* iter;
            } catch (err) {
              throw transportFailure(err, timeoutMs);
            }
          },
        };
      } else if (type.includes('application/json')) {
        const text = await res.body.text();
        out.json = text ? (JSON.parse(text) as unknown) : undefined;
      } else {
        const text = await res.body.text();
        out.text = text.length > 500 ? `${text.slice(0, 500)}…` : text;
      }
    } catch (err) {
      if (err instanceof SyntaxError) throw new PeerFailure('protocol', `the upstream server answered with invalid JSON (HTTP ${res.statusCode})`);
      throw transportFailure(err, this.timeoutMs);
    }
    return out;
  }
}

export { header as headerValue };
