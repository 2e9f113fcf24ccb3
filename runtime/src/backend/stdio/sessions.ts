/**
 * One stdio child per legacy session (`instances.mode: perSession`), for
 * servers that keep per-connection state. The child is started on the
 * session's first request and initialized with that session's own
 * `initialize` params; it is stopped when the session closes or idles.
 */
import type { Logger } from 'pino';
import type { InitializeParams } from '../types.ts';
import { PeerFailure } from '../bridge/peer.ts';
import type { ExitInfo, StdioChild } from './child.ts';

export interface SessionChildrenOptions {
  max: number;
  idleMs: number;
  create(initialize: InitializeParams, onExit: (child: StdioChild, info: ExitInfo) => void): StdioChild;
  logger: Logger;
}

interface Entry {
  child: StdioChild;
  ready: Promise<StdioChild>;
}

export class SessionChildren {
  readonly #o: SessionChildrenOptions;
  readonly #bySession = new Map<string, Entry>();
  #reaper: NodeJS.Timeout | undefined;
  #closing = false;
  #lastError: string | undefined;

  constructor(opts: SessionChildrenOptions) {
    this.#o = opts;
    this.#reaper = setInterval(() => this.#reapIdle(), Math.max(1000, Math.min(opts.idleMs / 2, 30_000)));
    this.#reaper.unref();
  }

  get size(): number {
    return this.#bySession.size;
  }

  /** Why the last session child failed to start, if it did. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** The ready child of `sessionId`, if any (no start). */
  existing(sessionId: string): StdioChild | undefined {
    const e = this.#bySession.get(sessionId);
    return e && e.child.state === 'ready' ? e.child : undefined;
  }

  /** The session's child, started and initialized with `initialize` when missing. */
  get(sessionId: string, initialize: InitializeParams): StdioChild | Promise<StdioChild> {
    if (this.#closing) return Promise.reject(new PeerFailure('unavailable', 'the server is shutting down'));
    const e = this.#bySession.get(sessionId);
    if (e) {
      e.child.lastUsed = Date.now();
      return e.child.state === 'ready' ? e.child : e.ready;
    }
    if (this.#bySession.size >= this.#o.max) {
      return Promise.reject(new PeerFailure('unavailable', `this server runs at most ${this.#o.max} per-session processes and all are in use; retry later`));
    }
    const child = this.#o.create(initialize, (c, info) => {
      const cur = this.#bySession.get(sessionId);
      if (cur?.child === c) this.#bySession.delete(sessionId);
      if (!info.expected && info.reason) this.#lastError = info.reason;
    });
    const ready = child.start().then(
      () => {
        this.#lastError = undefined;
        return child;
      },
      (err: unknown) => {
        this.#lastError = (err as Error).message;
        throw err;
      },
    );
    ready.catch(() => undefined);
    this.#bySession.set(sessionId, { child, ready });
    return ready;
  }

  /** Stops the session's child. */
  async close(sessionId: string, deadline = Date.now() + 5000): Promise<void> {
    const e = this.#bySession.get(sessionId);
    if (!e) return;
    this.#bySession.delete(sessionId);
    await e.child.close(deadline);
  }

  /** Stops every session child before `deadline`. */
  async closeAll(deadline: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#reaper);
    const all = [...this.#bySession.values()];
    this.#bySession.clear();
    await Promise.all(all.map((e) => e.child.close(deadline)));
  }

  #reapIdle(): void {
    const now = Date.now();
    for (const [sid, e] of this.#bySession) {
      if (e.child.state === 'ready' && e.child.load === 0 && now - e.child.lastUsed > this.#o.idleMs) {
        this.#o.logger.info({ session: sid, child: e.child.id }, 'Stopped the stdio server process of an idle session');
        void this.close(sid);
      }
    }
  }
}
