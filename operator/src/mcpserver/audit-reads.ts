/**
 * Tool-audit reads kept off the reconcile workers. A runtime that is slow to
 * answer `GET /admin/audit` (a hung pod, a NetworkPolicy dropping the
 * operator's packets, a resolver that does not answer) used to hold a worker
 * for the whole read timeout; with a few workers and a thousand McpServers
 * that stalled every other reconcile. Now a pass waits only briefly: a read
 * that finishes in time goes into this pass's status, a slower one finishes
 * in the background and queues its McpServer again. Reads are also bounded
 * in number, so a resync of every McpServer does not open a socket each.
 */
import type { AuditObservation } from './status.ts';

/** Reads one runtime's audit document. */
export type AuditRead = (url: string, timeoutMs: number, token: string) => Promise<AuditObservation>;

export interface AuditReadsOptions {
  read: AuditRead;
  /** Time between reads of a runtime that answered (ms). */
  refreshMs: number;
  /** Per-read timeout handed to `read` (ms). */
  timeoutMs: number;
  /** How long a reconcile pass waits for a read it started or found running (ms). */
  waitMs: number;
  /** Reads in flight at once; further due reads wait their turn. */
  concurrency: number;
  /** A read finished after its pass stopped waiting: reconcile `key` again. */
  onRead: (key: string) => void;
  now?: () => number;
}

/** What a pass puts in the status, and when the next read is due. */
export interface AuditTake {
  /** A read this pass has not written yet; undefined keeps the previous condition. */
  audit?: AuditObservation;
  /** Until the next read is due (ms); undefined while a read is in flight (its end queues the key). */
  nextInMs?: number;
}

interface KeyState {
  /** The last finished read. */
  last?: { configHash: string; at: number; ok: boolean };
  /** A finished read no pass has taken yet. */
  unread?: { configHash: string; audit: AuditObservation };
  inflight?: Promise<void>;
  /** The in-flight read has a slot in the pool (it is not waiting for one). */
  reading?: boolean;
}

/** A runtime that could not be read is tried again within a minute, whatever the refresh. */
const UNAVAILABLE_RETRY_MS = 60_000;

/** Per-McpServer audit reads: when one is due, a bounded pool running them, and their results. */
export class AuditReads {
  readonly #opts: Required<AuditReadsOptions>;
  readonly #keys = new Map<string, KeyState>();
  readonly #waiting: Array<() => void> = [];
  #running = 0;

  constructor(opts: AuditReadsOptions) {
    this.#opts = { now: () => Date.now(), ...opts };
  }

  /** Reads in flight right now (for tests and metrics). */
  get running(): number {
    return this.#running;
  }

  /** The audit for this pass of `key` (whose pods run `configHash`), starting a read when one is due. */
  async take(key: string, configHash: string, url: string, token: string): Promise<AuditTake> {
    const state = this.#keys.get(key) ?? {};
    this.#keys.set(key, state);
    if (!state.inflight && this.#due(state, configHash)) state.inflight = this.#start(key, state, configHash, url, token);
    // A read still waiting for a pool slot will not answer in time: don't hold the worker for it.
    if (state.inflight && !state.reading) return {};
    if (state.inflight) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#opts.waitMs);
      });
      const finished = await Promise.race([state.inflight.then(() => true as const), gaveUp]);
      clearTimeout(timer);
      if (!finished) return {};
      // It read what the pods served before a rollout: read what they serve now.
      if (state.last?.configHash !== configHash) {
        state.unread = undefined;
        state.inflight = this.#start(key, state, configHash, url, token);
        return {};
      }
    }
    const unread = state.unread?.configHash === configHash ? state.unread.audit : undefined;
    state.unread = undefined;
    return { ...(unread ? { audit: unread } : {}), nextInMs: this.#untilDue(state) };
  }

  /** Drops what is known of `key` (its McpServer is gone); a read in flight finishes unseen. */
  forget(key: string): void {
    this.#keys.delete(key);
  }

  #due(state: KeyState, configHash: string): boolean {
    return !state.last || state.last.configHash !== configHash || this.#untilDue(state) <= 0;
  }

  #untilDue(state: KeyState): number {
    if (!state.last) return 0;
    const every = state.last.ok ? this.#opts.refreshMs : Math.min(this.#opts.refreshMs, UNAVAILABLE_RETRY_MS);
    return state.last.at + every - this.#opts.now();
  }

  /** Starts the read now when the pool has room (so the pass can wait for it), else when a slot frees. */
  #start(key: string, state: KeyState, configHash: string, url: string, token: string): Promise<void> {
    const claim = (): void => {
      this.#running++;
      state.reading = true;
    };
    if (this.#running < this.#opts.concurrency) {
      claim();
      return this.#read(key, state, configHash, url, token);
    }
    return new Promise<void>((resolve) => this.#waiting.push(() => (claim(), resolve()))).then(() => this.#read(key, state, configHash, url, token));
  }

  async #read(key: string, state: KeyState, configHash: string, url: string, token: string): Promise<void> {
    let audit: AuditObservation;
    try {
      audit = await this.#opts.read(url, this.#opts.timeoutMs, token);
    } catch (err) {
      audit = { kind: 'unavailable', message: (err as Error).message };
    } finally {
      this.#release();
    }
    state.last = { configHash, at: this.#opts.now(), ok: audit.kind === 'ok' };
    state.unread = { configHash, audit };
    state.inflight = undefined;
    state.reading = false;
    // A pass still waiting takes it first (its continuation runs before this check).
    setImmediate(() => {
      if (state.unread && this.#keys.get(key) === state) this.#opts.onRead(key);
    });
  }

  #release(): void {
    this.#running--;
    this.#waiting.shift()?.();
  }
}
