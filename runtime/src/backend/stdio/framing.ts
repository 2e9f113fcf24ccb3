/**
 * Newline-delimited JSON framing for stdio MCP: one message per line, no
 * per-message allocation beyond the line itself. A line longer than
 * `maxLineBytes` is a protocol violation reported to `onOverflow`.
 */

export class LineReader {
  #buf = '';
  readonly #onLine: (line: string) => void;
  readonly #onOverflow: (size: number) => void;
  readonly #max: number;

  constructor(onLine: (line: string) => void, opts: { maxLineBytes: number; onOverflow: (size: number) => void }) {
    this.#onLine = onLine;
    this.#onOverflow = opts.onOverflow;
    this.#max = opts.maxLineBytes;
  }

  /** Feeds a decoded chunk (use `setEncoding('utf8')` so characters never split). */
  push(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.#buf += chunk;
      if (this.#buf.length > this.#max) this.#overflow();
      return;
    }
    if (this.#buf) {
      const line = this.#buf + chunk.slice(0, nl);
      this.#buf = '';
      this.#emit(line);
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    while (nl >= 0) {
      this.#emit(chunk.slice(start, nl));
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) {
      this.#buf = chunk.slice(start);
      if (this.#buf.length > this.#max) this.#overflow();
    }
  }

  /** Emits a final unterminated line, if any (stream ended). */
  end(): void {
    if (this.#buf) {
      const line = this.#buf;
      this.#buf = '';
      this.#emit(line);
    }
  }

  #emit(line: string): void {
    const l = line.length && line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
    if (l.length === 0) return;
    this.#onLine(l);
  }

  #overflow(): void {
    const size = this.#buf.length;
    this.#buf = '';
    this.#onOverflow(size);
  }
}
