/**
 * Server-sent event streams on hijacked fastify replies. One hub per app
 * tracks every open stream: keep-alive comments, the stream lifetime limit
 * (`timeouts.streamSeconds`), slow-consumer protection, and closing streams
 * with a `retry:` hint when the replica drains.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { SlotSet } from '../small-collections.ts';

export type StreamKind = 'post' | 'get' | 'listen';

/** Reconnect delay suggested to clients (ms) in priming events and on close. */
export const RETRY_MS = 1000;
/** Retry hint while draining: reconnect soon, elsewhere. */
export const DRAIN_RETRY_MS = 250;
/** A client that lets this much output pile up is disconnected (it can resume). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export const SSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
});

/** One `message` event; `id` makes it resumable. */
export const eventFrame = (id: string | undefined, json: string): string =>
  id === undefined ? `event: message\ndata: ${json}\n\n` : `event: message\nid: ${id}\ndata: ${json}\n\n`;

/** The priming event: an id with empty data, and the reconnect delay. */
export const primingFrame = (id: string, retryMs: number = RETRY_MS): string => `id: ${id}\nretry: ${retryMs}\ndata: \n\n`;

export class SseStream {
  readonly kind: StreamKind;
  readonly openedAt: number;
  lastWriteAt: number;
  closed = false;
  /** Position in the hub's SlotSet. */
  slot = -1;
  /** Called once when the stream closes for any reason. */
  onClose: (() => void) | undefined;
  /** Called when the stream reaches its lifetime (or the replica drains); defaults to `end(retry)`. */
  onExpire: ((retryMs: number) => void) | undefined;
  private readonly res: ServerResponse;
  private readonly hub: SseHub;

  constructor(hub: SseHub, reply: FastifyReply, kind: StreamKind, headers: OutgoingHttpHeaders | undefined) {
    this.hub = hub;
    this.kind = kind;
    this.res = reply.raw;
    this.openedAt = this.lastWriteAt = Date.now();
    reply.hijack();
    const merged: OutgoingHttpHeaders = { ...(reply.getHeaders() as OutgoingHttpHeaders), ...headers, ...SSE_HEADERS };
    this.res.writeHead(200, merged);
    this.res.flushHeaders();
    this.res.on('close', () => this.finish());
    hub.add(this);
  }

  /** Writes one `message` event; `id` makes it resumable. */
  event(id: string | undefined, json: string): void {
    this.write(eventFrame(id, json));
  }

  /** The priming event: an id with empty data, and the reconnect delay. */
  priming(id: string, retryMs: number = RETRY_MS): void {
    this.write(primingFrame(id, retryMs));
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /** Ends the stream; with `retryMs`, first tells the client when to reconnect. */
  end(retryMs?: number): void {
    if (this.closed) return;
    if (retryMs !== undefined) this.write(`retry: ${retryMs}\n\n`);
    this.res.end();
    this.finish();
  }

  /** Lifetime reached or drain: let the owner decide how to end it. */
  expire(retryMs: number): void {
    if (this.closed) return;
    if (this.onExpire) this.onExpire(retryMs);
    else this.end(retryMs);
  }

  private write(frame: string): void {
    if (this.closed) return;
    this.lastWriteAt = Date.now();
    this.res.write(frame);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) {
      this.res.destroy();
      this.finish();
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.();
  }
}

export interface SseHubOptions {
  keepAliveMs: number;
  /** Longest life of one stream. */
  lifetimeMs: number;
}

/** Tracks an app's open streams and runs their timers from one ticker. */
export class SseHub {
  private readonly streams = new SlotSet<SseStream>();
  private readonly counts: Record<StreamKind, number> = { post: 0, get: 0, listen: 0 };
  private readonly options: SseHubOptions;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: SseHubOptions) {
    this.options = options;
  }

  /** Opens an SSE stream on a reply (hijacks it). */
  open(reply: FastifyReply, kind: StreamKind, headers?: OutgoingHttpHeaders): SseStream {
    return new SseStream(this, reply, kind, headers);
  }

  add(stream: SseStream): void {
    this.streams.add(stream);
    this.counts[stream.kind]++;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), Math.min(1000, this.options.keepAliveMs));
      this.timer.unref();
    }
  }

  remove(stream: SseStream): void {
    if (this.streams.delete(stream)) this.counts[stream.kind]--;
  }

  count(): { post: number; get: number; listen: number } {
    return { ...this.counts };
  }

  /** Expires every open stream of the given kinds (drain). */
  expireAll(kinds: readonly StreamKind[], retryMs: number): void {
    for (const stream of this.streams.values()) if (kinds.includes(stream.kind)) stream.expire(retryMs);
  }

  /** Resolves once no stream of `kinds` is open, or at `deadline` (epoch ms). */
  async settled(kinds: readonly StreamKind[], deadline: number): Promise<void> {
    while (Date.now() < deadline && kinds.some((k) => this.counts[k] > 0)) await new Promise((r) => setTimeout(r, 10));
  }

  /** Stops the ticker. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Date.now();
    const { keepAliveMs, lifetimeMs } = this.options;
    for (const stream of this.streams) {
      if (now - stream.openedAt >= lifetimeMs) stream.expire(RETRY_MS);
      else if (now - stream.lastWriteAt >= keepAliveMs) stream.comment('keepalive');
    }
    if (this.streams.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
