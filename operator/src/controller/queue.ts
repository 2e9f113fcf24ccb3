/**
 * The work queue: keys (namespace/name) deduplicated while waiting, never
 * handed to two workers at once (a key re-added while processed waits for
 * `done`), delayed adds, and rate-limited retries with per-key exponential
 * backoff under an overall token bucket.
 */

export interface QueueOptions {
  /** First retry delay; doubles per consecutive failure of the key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall retry rate (token bucket) across keys. */
  qps?: number;
  burst?: number;
  now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private tokens: number;
  private lastRefill: number;
  private readonly opts: Required<QueueOptions>;

  constructor(opts: QueueOptions = {}) {
    this.opts = { baseDelayMs: 500, maxDelayMs: 300_000, qps: 20, burst: 100, now: () => Date.now(), ...opts };
    this.tokens = this.opts.burst;
    this.lastRefill = this.opts.now();
  }

  /** Keys waiting (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length;
  }

  /** Keys scheduled for later. */
  get delayed(): number {
    return this.timers.size;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  /** Queues `key` now (no-op if it already waits). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Queues `key` after `ms`; an earlier pending schedule wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.opts.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** The delay the next rate-limited add of `key` gets (and counts the failure). */
  nextDelay(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = Math.min(this.opts.baseDelayMs * 2 ** n, this.opts.maxDelayMs);
    // Token bucket shared by all keys.
    const now = this.opts.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : (-this.tokens / this.opts.qps) * 1000;
    return Math.max(perKey, bucket);
  }

  /** Re-queues a failed key with backoff. */
  addRateLimited(key: string): number {
    const delay = this.nextDelay(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Consecutive failures of `key` so far. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Clears the backoff of `key` after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key, waiting until one is available; undefined after shutdown or when `signal` aborts. */
  get(signal?: AbortSignal): Promise<string | undefined> {
    if (this.shuttingDown || signal?.aborted) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => {
      const waiter = (k: string | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(k);
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Marks `key` processed; if it was re-added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; waiting `get`s resolve undefined. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
