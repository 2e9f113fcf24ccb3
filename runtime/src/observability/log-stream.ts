/**
 * Where the runtime's log lines go by default: stdout, in batches. A write(2)
 * per line cost about 37 µs of a tool call's CPU at the default `info` level
 * (one "Tool call finished" line each), a seventh of the call. Lines are
 * gathered and written together at most `flushMs` later, at once when the
 * batch grows past `maxBytes`, and at once for `warn` and above, so a problem
 * is on stdout before anything that follows it. What is still gathered is
 * written synchronously when the process exits, including exits on a fatal
 * error; only SIGKILL can lose the last `flushMs` of info lines.
 */
import { writeSync } from 'node:fs';

const PINO_METADATA = Symbol.for('pino.metadata');
const WARN = 40;

/** A pino destination that batches lines to a file descriptor. */
export class BatchedLogStream {
  /** Asks pino to set `lastLevel` before each write. */
  readonly [PINO_METADATA] = true;
  lastLevel = 0;
  // Lines are copied out of the JS heap at once: a string kept for up to
  // flushMs would outlive a young-generation collection and be promoted.
  #buffer: Buffer;
  #used = 0;
  #timer: NodeJS.Timeout | undefined;
  #broken = false;

  readonly #fd: number;
  readonly #flushMs: number;
  readonly #maxBytes: number;

  constructor(fd = 1, flushMs = 50, maxBytes = 64 * 1024) {
    this.#fd = fd;
    this.#flushMs = flushMs;
    this.#maxBytes = maxBytes;
    this.#buffer = Buffer.allocUnsafeSlow(maxBytes);
  }

  write(line: string): void {
    if (this.#broken) return;
    const bytes = Buffer.byteLength(line);
    if (this.#used + bytes > this.#maxBytes) this.flushSync();
    if (bytes > this.#maxBytes) this.#writeAll(Buffer.from(line));
    else this.#used += this.#buffer.write(line, this.#used);
    if (this.lastLevel >= WARN) this.flushSync();
    else if (this.#used > 0) this.#timer ??= setTimeout(() => this.flushSync(), this.#flushMs).unref();
  }

  /** Writes everything gathered so far, now. */
  flushSync(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#used === 0) return;
    const used = this.#used;
    this.#used = 0;
    this.#writeAll(this.#buffer.subarray(0, used));
  }

  /** pino's `logger.flush()`: writes what is gathered now (lifecycle lines such as "Stopping" should not wait). */
  flush(cb?: (error?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  #writeAll(data: Buffer): void {
    while (data.length > 0 && !this.#broken) {
      try {
        data = data.subarray(writeSync(this.#fd, data));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // A non-blocking pipe that is full: wait for the reader, as a blocking write would.
        if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        // Nobody reads stdout any more: logging stops, serving does not.
        else if (code === 'EPIPE') this.#broken = true;
        else throw error;
      }
    }
  }
}

let stdout: BatchedLogStream | undefined;

/** The process's one batched stdout stream, flushed when the process exits. */
export function batchedStdout(): BatchedLogStream {
  if (!stdout) {
    const stream = new BatchedLogStream(1);
    process.on('exit', () => stream.flushSync());
    stdout = stream;
  }
  return stdout;
}
