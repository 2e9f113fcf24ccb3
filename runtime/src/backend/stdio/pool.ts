/**
 * The warm pool of shared stdio children (`instances.mode: shared`, and the
 * modern-era side of `perSession`). Requests go to the least-loaded ready
 * child; the pool grows up to `max` under load, shrinks back to `min` when
 * idle, and replaces children that die, with exponential backoff.
 */
import type { Logger } from 'pino';
import { PeerFailure, type PeerHealth } from '../bridge/peer.ts';
import type { ExitInfo, StdioChild } from './child.ts';

export interface PoolOptions {
  min: number;
  max: number;
  /** Creates (but does not start) a child. */
  create(onExit: (child: StdioChild, info: ExitInfo) => void): StdioChild;
  /** Called when a child becomes ready (e.g. to re-apply subscriptions). */
  onReady?(child: StdioChild): void;
  handshakeTimeoutMs: number;
  logger: Logger;
  /** Grow when the least-loaded child has this many requests in flight. */
  growAt?: number;
  /** Children above `min` idle this long are stopped. */
  idleMs?: number;
  /** First respawn delay; doubles per consecutive failure up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

const STABLE_MS = 30_000;

export class StdioPool {
  readonly #o: Required<Omit<PoolOptions, 'onReady'>> & Pick<PoolOptions, 'onReady'>;
  readonly #children = new Set<StdioChild>();
  #failures = 0;
  #lastError: string | undefined;
  #respawnTimer: NodeJS.Timeout | undefined;
  #reaper: NodeJS.Timeout | undefined;
  #waiters: Array<{ resolve: (c: StdioChild) => void; reject: (e: PeerFailure) => void; timer: NodeJS.Timeout }> = [];
  #closing = false;

  constructor(opts: PoolOptions) {
    this.#o = { growAt: 4, idleMs: 60_000, backoffMs: 500, maxBackoffMs: 30_000, ...opts };
  }

  /** All children (starting and ready). */
  get children(): readonly StdioChild[] {
    return [...this.#children];
  }

  /** Starts `min` children and waits for their handshakes to settle (success or not). */
  async start(): Promise<void> {
    const starts: Promise<unknown>[] = [];
    for (let i = 0; i < this.#o.min; i++) starts.push(this.#spawn().catch(() => undefined));
    await Promise.all(starts);
    this.#reaper = setInterval(() => this.#reapIdle(), Math.min(this.#o.idleMs, 30_000));
    this.#reaper.unref();
  }

  health(): PeerHealth {
    for (const c of this.#children) if (c.state === 'ready') return { ready: true };
    if (this.#o.min === 0 && this.#lastError === undefined) return { ready: true };
    if (this.#lastError) return { ready: false, reason: `no stdio server process is ready: ${this.#lastError}` };
    return { ready: false, reason: 'no stdio server process is ready yet' };
  }

  /**
   * A ready child for a request of `audience`, starting one when needed;
   * rejects with PeerFailure. Prefers the least-loaded child that serves
   * only this audience right now (so stdio messages without request context
   * stay attributable), then the least-loaded child. Grows the pool when no
   * child is exclusive or the best one is busy.
   */
  acquire(audience?: string): StdioChild | Promise<StdioChild> {
    if (this.#closing) return Promise.reject(new PeerFailure('unavailable', 'the server is shutting down'));
    let best: StdioChild | undefined;
    let exclusive: StdioChild | undefined;
    let starting = 0;
    for (const c of this.#children) {
      if (c.state === 'ready') {
        if (!best || c.load < best.load) best = c;
        if (audience !== undefined && c.servesOnly(audience) && (!exclusive || c.load < exclusive.load)) exclusive = c;
      } else if (c.state === 'starting') starting++;
    }
    if (best) {
      const pick = exclusive ?? best;
      const crowded = audience !== undefined ? !exclusive : false;
      if ((crowded || pick.load >= this.#o.growAt) && starting === 0 && this.#children.size < this.#o.max && this.#respawnTimer === undefined) {
        this.#spawn().catch(() => undefined);
      }
      // Returned synchronously so the caller registers its request before the next acquire.
      return pick;
    }
    if (starting === 0 && this.#respawnTimer === undefined && this.#children.size < this.#o.max) this.#spawn().catch(() => undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.timer !== timer);
        reject(new PeerFailure('unavailable', `no server process became ready${this.#lastError ? ` (${this.#lastError})` : ''}; retrying may help`));
      }, this.#o.handshakeTimeoutMs + 1000);
      timer.unref();
      this.#waiters.push({ resolve, reject, timer });
    });
  }

  /** Stops every child before `deadline`. */
  async close(deadline: number): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#respawnTimer);
    clearInterval(this.#reaper);
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new PeerFailure('unavailable', 'the server is shutting down'));
    }
    this.#waiters = [];
    await Promise.all([...this.#children].map((c) => c.close(deadline)));
  }

  async #spawn(): Promise<StdioChild> {
    const child = this.#o.create((c, info) => this.#onExit(c, info));
    this.#children.add(child);
    try {
      await child.start();
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw err;
    }
    if (this.#closing) {
      void child.close(Date.now() + 2000);
      throw new PeerFailure('unavailable', 'the server is shutting down');
    }
    this.#lastError = undefined;
    const stable = setTimeout(() => {
      if (child.state === 'ready') this.#failures = 0;
    }, STABLE_MS);
    stable.unref();
    this.#o.onReady?.(child);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.resolve(child);
    }
    return child;
  }

  #onExit(child: StdioChild, info: ExitInfo): void {
    this.#children.delete(child);
    if (this.#closing || info.expected) return;
    this.#failures++;
    if (info.reason) this.#lastError = info.reason;
    else if (!info.wasReady) this.#lastError = `the server process exited (${info.code !== null ? `code ${info.code}` : `signal ${info.signal}`}) during its handshake`;
    const needed = this.#children.size < this.#o.min || (this.#waiters.length > 0 && this.#children.size < this.#o.max);
    if (needed) this.#scheduleRespawn();
  }

  #scheduleRespawn(): void {
    if (this.#respawnTimer !== undefined || this.#closing) return;
    const delay = Math.min(this.#o.maxBackoffMs, this.#o.backoffMs * 2 ** Math.max(0, this.#failures - 1));
    this.#o.logger.info({ delayMs: delay, failures: this.#failures }, 'Scheduled a replacement stdio server process');
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = undefined;
      if (this.#closing) return;
      this.#spawn().catch(() => {
        if (this.#children.size < this.#o.min || this.#waiters.length > 0) this.#scheduleRespawn();
      });
    }, delay);
    this.#respawnTimer.unref();
  }

  #reapIdle(): void {
    if (this.#closing) return;
    const now = Date.now();
    let ready = 0;
    for (const c of this.#children) if (c.state === 'ready') ready++;
    for (const c of this.#children) {
      if (ready <= this.#o.min) break;
      if (c.state === 'ready' && c.load === 0 && now - c.lastUsed > this.#o.idleMs) {
        ready--;
        this.#o.logger.info({ child: c.id }, 'Stopped an idle stdio server process');
        void c.close(now + 5000);
      }
    }
  }
}
