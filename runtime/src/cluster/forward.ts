/**
 * Streams one client request to the owner replica and the owner's response
 * back (JSON or SSE), unbuffered. A failure before the owner answered is
 * reported to the caller (who may take the session over); a failure after is
 * a broken stream, which the client resumes with `Last-Event-ID`.
 *
 * Connections to owners are kept alive and reused. A refused connection
 * still means nothing listens at the owner's address; a reused connection
 * the owner had already closed (its keep-alive timeout raced our request)
 * means nothing of the kind, so the request is sent once more on a fresh
 * connection before any conclusion is drawn.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ServerResponse } from 'node:http';
import { DRAINING_HEADER } from '../http/errors.ts';

/** Headers that describe one connection, not the request (RFC 9110 §7.6.1), plus those the hop recomputes. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length', 'expect']);

export interface ForwardInput {
  /** Owner's base URL (`http://10.0.0.7:8080`). */
  baseUrl: string;
  method: string;
  /** Path and query of the original request. */
  url: string;
  /** The request's headers as received (`rawHeaders`: name, value, name, value…). */
  rawHeaders: readonly string[];
  /** Headers the hop adds (lowercase names); a client's header of the same name is dropped. */
  extraHeaders: Record<string, string>;
  body: string | undefined;
  /** The client's response to stream into. */
  res: ServerResponse;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  connectTimeoutMs: number;
  /** Called once the owner answered, right before anything is written to `res` (e.g. fastify's reply.hijack). */
  onResponse?: () => void;
}

export type ForwardResult =
  | { ok: true; status: number }
  /**
   * The owner could not be reached, or answered that it is draining; nothing
   * was written to the client. `refused` = nothing listens there.
   */
  | { ok: false; refused: boolean; draining?: true; error: Error };

/** Error codes of a kept-alive socket the peer closed before it read our request. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE']);

/** How long an idle connection to an owner is kept (owners close theirs after `timeouts.keepAliveSeconds`, at least 1 s). */
export const IDLE_SOCKET_MS = 2_000;

export interface Forwarder {
  /** Forwards and pipes; resolves when the response is done (or failed). */
  forward(input: ForwardInput): Promise<ForwardResult>;
  /** Closes the idle kept-alive connections; forwards still in flight finish on theirs. */
  close(): void;
}

/** A forwarder with its own keep-alive connection pool. */
export function createForwarder(options: { idleSocketMs?: number } = {}): Forwarder {
  const agentOptions = { keepAlive: true, timeout: options.idleSocketMs ?? IDLE_SOCKET_MS };
  const http = new HttpAgent(agentOptions);
  const https = new HttpsAgent(agentOptions);
  return {
    forward: (input) => forwardWith(input, (secure) => (secure ? https : http)),
    close() {
      closeIdle(http);
      closeIdle(https);
    },
  };
}

/** Destroys an agent's idle sockets only (Agent.destroy would also cut responses still being forwarded). */
function closeIdle(agent: HttpAgent | HttpsAgent): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/** Forwards on a connection of its own (no reuse); resolves when the response is done (or failed). */
export function forward(input: ForwardInput): Promise<ForwardResult> {
  return forwardWith(input, () => false);
}

type AgentFor = (secure: boolean) => HttpAgent | HttpsAgent | false;

async function forwardWith(input: ForwardInput, agentFor: AgentFor): Promise<ForwardResult> {
  const target = new URL(input.url, input.baseUrl);
  // Flat name/value lists: Node writes them as they are, without building and validating a header object per hop.
  const { headers } = passable(input.rawHeaders, input.extraHeaders);
  headers.push('host', target.host);
  for (const [k, v] of Object.entries(input.extraHeaders)) headers.push(k, v);
  if (input.body !== undefined) headers.push('content-length', String(Buffer.byteLength(input.body)));
  const secure = target.protocol === 'https:';
  const first = await attempt(input, target, headers, agentFor(secure));
  if (first !== 'stale') return first;
  const second = await attempt(input, target, headers, false);
  return second === 'stale' ? { ok: false, refused: false, error: new Error('the owner closed a fresh connection before answering') } : second;
}

/**
 * The end-to-end headers of a raw name/value list, minus those named in
 * `replaced`, and its body length when it declares one and is not chunked
 * (read from the list: a message's `headers` object is built on first use).
 */
function passable(raw: readonly string[], replaced?: Record<string, string>): { headers: string[]; length: string | undefined } {
  const headers: string[] = [];
  let length: string | undefined;
  let chunked = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-length') length = raw[i + 1];
    else if (name === 'transfer-encoding') chunked = true;
    if (!HOP_BY_HOP.has(name) && (replaced === undefined || !Object.hasOwn(replaced, name))) headers.push(raw[i]!, raw[i + 1]!);
  }
  return { headers, length: chunked ? undefined : length };
}

/** One try; 'stale' = a reused connection turned out closed before the owner answered (nothing was written to the client). */
function attempt(input: ForwardInput, target: URL, headers: string[], agent: HttpAgent | HttpsAgent | false): Promise<ForwardResult | 'stale'> {
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let answered = false;
    let settled = false;
    const done = (r: ForwardResult | 'stale') => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      input.signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const req: ClientRequest = send(target, { method: input.method, headers, agent });
    const connectTimer = setTimeout(() => {
      if (!answered) req.destroy(Object.assign(new Error('owner did not answer in time'), { code: 'ETIMEDOUT' }));
    }, input.connectTimeoutMs);
    const onAbort = () => req.destroy();
    if (input.signal.aborted) onAbort();
    else input.signal.addEventListener('abort', onAbort, { once: true });

    req.on('response', (upstream) => {
      answered = true;
      clearTimeout(connectTimer);
      if (upstream.statusCode === 503 && upstream.headers[DRAINING_HEADER] !== undefined) {
        // The owner's drain began after this replica last read its heartbeat: nothing ran there.
        upstream.resume();
        done({ ok: false, refused: false, draining: true, error: new Error('the session owner is draining') });
        return;
      }
      input.onResponse?.();
      const { headers: out, length } = passable(upstream.rawHeaders);
      if (length !== undefined) out.push('content-length', length);
      input.res.writeHead(upstream.statusCode ?? 502, out);
      // A whole answer (its length known) goes out with its first bytes, in one write when it came in one read:
      // each separate write on the way back wakes the proxy in front once more. A stream shows as open at once.
      if (length === undefined) input.res.flushHeaders();
      upstream.on('data', (chunk: Buffer) => input.res.write(chunk));
      upstream.on('end', () => {
        input.res.end();
        done({ ok: true, status: upstream.statusCode ?? 502 });
      });
      // The owner died mid-response: break the client's stream so it resumes elsewhere.
      upstream.on('error', () => {
        input.res.destroy();
        done({ ok: true, status: upstream.statusCode ?? 502 });
      });
      upstream.on('close', () => {
        if (!upstream.complete) {
          input.res.destroy();
          done({ ok: true, status: upstream.statusCode ?? 502 });
        }
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (answered) {
        input.res.destroy();
        done({ ok: true, status: 502 });
        return;
      }
      if (req.reusedSocket && !input.signal.aborted && error.code !== undefined && STALE_SOCKET.has(error.code)) {
        done('stale');
        return;
      }
      done({ ok: false, refused: error.code === 'ECONNREFUSED', error });
    });
    req.end(input.body);
  });
}
