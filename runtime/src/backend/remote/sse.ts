/**
 * A Server-Sent Events parser (WHATWG event stream format): feed decoded
 * text, receive events. Comments and unknown fields are ignored.
 */

export interface SseEvent {
  /** `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** `id:` field of this event, if any. */
  id?: string;
  /** `retry:` field, in ms, if any. */
  retry?: number;
}

export class SseParser {
  #buf = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  #retry: number | undefined;
  readonly #onEvent: (e: SseEvent) => void;

  constructor(onEvent: (e: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** Feeds a chunk of decoded text. */
  push(chunk: string): void {
    this.#buf += chunk;
    let start = 0;
    for (;;) {
      const nl = this.#nextBreak(start);
      if (nl < 0) break;
      const line = this.#buf.slice(start, nl);
      start = nl + (this.#buf[nl] === '\r' && this.#buf[nl + 1] === '\n' ? 2 : 1);
      this.#line(line);
    }
    this.#buf = this.#buf.slice(start);
  }

  #nextBreak(from: number): number {
    const n = this.#buf.indexOf('\n', from);
    const r = this.#buf.indexOf('\r', from);
    if (r < 0) return n;
    if (n < 0) return r === this.#buf.length - 1 ? -1 : r; // a trailing \r may be the first half of \r\n
    return Math.min(n, r);
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
    }
  }

  #dispatch(): void {
    const hasData = this.#data.length > 0;
    const event: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n') };
    if (this.#id !== undefined) event.id = this.#id;
    if (this.#retry !== undefined) event.retry = this.#retry;
    this.#data = [];
    this.#event = '';
    this.#retry = undefined;
    if (hasData || event.id !== undefined) this.#onEvent(event);
    this.#id = undefined;
  }
}
