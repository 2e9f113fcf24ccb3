/**
 * A bounded pool of era-pinned module instances with exclusive checkout:
 * an instance is lent to one exchange at a time and returned afterwards.
 * Idle legacy instances are preferred when they already carry the caller's
 * `initialize` binding; otherwise the most recently used idle instance of
 * the era is lent (and rebound by the caller). Callers wait FIFO when every
 * instance is busy and the pool is at its bound.
 */
import type { Era } from '../types.ts';

export interface PoolOptions {
  /** Instances kept warm per era. */
  min: number;
  /** Upper bound on instances (both eras together). */
  max: number;
  /** Callers allowed to wait for an instance; beyond this, acquire fails at once. */
  maxWaiting: number;
  /** Idle instances above `min` are closed after this long unused. */
  idleMs: number;
}

export const DEFAULT_POOL: PoolOptions = { min: 1, max: 64, maxWaiting: 4096, idleMs: 60_000 };

/** What the pool needs from an instance. */
export interface Poolable {
  readonly era: Era;
  readonly dead: boolean;
  binding: string | undefined;
  lastUsedAt: number;
  close(): Promise<void>;
}

/** Creates and warms an instance of `era`, optionally pre-bound to `binding` params. */
export type Spawn<T extends Poolable> = (era: Era, hint: unknown) => Promise<T>;

export class PoolSaturatedError extends Error {
  override readonly name = 'PoolSaturatedError';
}
export class PoolClosedError extends Error {
  override readonly name = 'PoolClosedError';
}

interface Waiter<T> {
  era: Era;
  binding: string | undefined;
  hint: unknown;
  resolve: (instance: T) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class InstancePool<T extends Poolable> {
  readonly #options: PoolOptions;
  readonly #spawn: Spawn<T>;
  readonly #live = new Set<T>();
  /** Idle instances; the end of the array is the most recently returned. */
  readonly #idle: T[] = [];
  readonly #waiters: Waiter<T>[] = [];
  #spawning = 0;
  #closed = false;
  #reaper: NodeJS.Timeout | undefined;
  /** Last spawn failure, cleared by a successful spawn. */
  lastSpawnError: Error | undefined;

  constructor(options: PoolOptions, spawn: Spawn<T>) {
    this.#options = options;
    this.#spawn = spawn;
    if (options.idleMs > 0) {
      this.#reaper = setInterval(() => this.#reap(), Math.max(1000, Math.floor(options.idleMs / 2)));
      this.#reaper.unref();
    }
  }

  /** Live instances (busy + idle). */
  get size(): number {
    return this.#live.size;
  }
  get idleCount(): number {
    return this.#idle.length;
  }
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Warms `min` instances of `era`; rejects with the first spawn failure. */
  async warm(era: Era, hint: unknown): Promise<void> {
    const have = [...this.#live].filter((i) => i.era === era).length;
    const jobs: Promise<void>[] = [];
    for (let n = have; n < this.#options.min && this.#total() < this.#options.max; n++) {
      jobs.push(this.#create(era, hint).then((instance) => this.release(instance)));
    }
    await Promise.all(jobs);
  }

  /** Lends an instance of `era` exclusively; prefers one already bound to `binding`. */
  acquire(era: Era, binding: string | undefined, hint: unknown, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new PoolClosedError('the module backend is closing'));
    const idle = this.#takeIdle(era, binding);
    if (idle) return Promise.resolve(idle);
    if (this.#total() < this.#options.max) return this.#create(era, hint);
    const other = this.#idle.findIndex((i) => i.era !== era);
    if (other >= 0) {
      const [victim] = this.#idle.splice(other, 1);
      if (victim) this.#discard(victim);
      return this.#create(era, hint);
    }
    if (this.#waiters.length >= this.#options.maxWaiting) {
      return Promise.reject(new PoolSaturatedError(`all ${this.#options.max} module instances are busy and ${this.#waiters.length} requests are waiting`));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        era,
        binding,
        hint,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(abortError(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Returns an instance after an exchange. */
  release(instance: T): void {
    if (instance.dead || !this.#live.has(instance)) return;
    if (this.#closed) {
      this.#discard(instance);
      return;
    }
    instance.lastUsedAt = Date.now();
    const same = this.#waiters.findIndex((w) => w.era === instance.era);
    if (same >= 0) {
      const [waiter] = this.#waiters.splice(same, 1);
      if (waiter) {
        this.#hand(waiter, instance);
        return;
      }
    }
    const first = this.#waiters.shift();
    if (first) {
      // A waiter of the other era: serve it with a fresh instance of its era,
      // trading this one in when the pool is at its bound.
      if (this.#total() < this.#options.max) this.#idle.push(instance);
      else this.#discard(instance);
      this.#create(first.era, first.hint).then(
        (fresh) => this.#hand(first, fresh),
        (error: Error) => this.#fail(first, error),
      );
      return;
    }
    this.#idle.push(instance);
  }

  /** Takes an instance out of service for good (cancelled mid-flight, crashed). */
  retire(instance: T): void {
    this.#discard(instance);
    this.#serveWaiterWithFreshInstance();
  }

  /** An instance reported it is gone on its own. */
  forget(instance: T): void {
    if (!this.#live.delete(instance)) return;
    const at = this.#idle.indexOf(instance);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#serveWaiterWithFreshInstance();
  }

  /** Stops lending: waiters are rejected; idle instances closed. Busy ones close on release. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reaper) clearInterval(this.#reaper);
    for (const waiter of this.#waiters.splice(0)) this.#fail(waiter, new PoolClosedError('the module backend is closing'));
    await Promise.all(this.#idle.splice(0).map((i) => this.#discardAsync(i)));
  }

  /** Closes every instance, busy or not (end of drain). */
  async destroy(): Promise<void> {
    await this.close();
    await Promise.all([...this.#live].map((i) => this.#discardAsync(i)));
  }

  #total(): number {
    return this.#live.size + this.#spawning;
  }

  #takeIdle(era: Era, binding: string | undefined): T | undefined {
    let fallback = -1;
    for (let at = this.#idle.length - 1; at >= 0; at--) {
      const candidate = this.#idle[at] as T;
      if (candidate.era !== era) continue;
      if (binding === undefined || candidate.binding === binding) {
        this.#idle.splice(at, 1);
        return candidate;
      }
      if (fallback < 0) fallback = at;
    }
    if (fallback < 0) return undefined;
    const [taken] = this.#idle.splice(fallback, 1);
    return taken;
  }

  async #create(era: Era, hint: unknown): Promise<T> {
    this.#spawning++;
    try {
      const instance = await this.#spawn(era, hint);
      this.lastSpawnError = undefined;
      if (instance.dead) throw new Error('the server instance closed during start-up');
      this.#live.add(instance);
      if (this.#closed) {
        this.#discard(instance);
        throw new PoolClosedError('the module backend is closing');
      }
      return instance;
    } catch (error) {
      this.lastSpawnError = error as Error;
      throw error;
    } finally {
      this.#spawning--;
    }
  }

  #hand(waiter: Waiter<T>, instance: T): void {
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (waiter.signal?.aborted) {
      this.release(instance);
      return;
    }
    waiter.resolve(instance);
  }

  #fail(waiter: Waiter<T>, error: Error): void {
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.reject(error);
  }

  #serveWaiterWithFreshInstance(): void {
    if (this.#closed || this.#total() >= this.#options.max) return;
    const first = this.#waiters.shift();
    if (!first) return;
    this.#create(first.era, first.hint).then(
      (fresh) => this.#hand(first, fresh),
      (error: Error) => this.#fail(first, error),
    );
  }

  #discard(instance: T): void {
    void this.#discardAsync(instance);
  }

  async #discardAsync(instance: T): Promise<void> {
    this.#live.delete(instance);
    const at = this.#idle.indexOf(instance);
    if (at >= 0) this.#idle.splice(at, 1);
    await instance.close().catch(() => {});
  }

  #reap(): void {
    const cutoff = Date.now() - this.#options.idleMs;
    for (const era of ['modern', 'legacy'] as const) {
      let keep = [...this.#live].filter((i) => i.era === era).length;
      for (const instance of [...this.#idle]) {
        if (keep <= this.#options.min) break;
        if (instance.era === era && instance.lastUsedAt < cutoff) {
          this.#discard(instance);
          keep--;
        }
      }
    }
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'aborted while waiting for a module instance');
}
