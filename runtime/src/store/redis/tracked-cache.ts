/**
 * A read cache kept coherent by Redis invalidations (see tracking.ts). The
 * classic race — an invalidation overtaking the reply of a read that was
 * already in flight, on the other connection — is closed by remembering
 * which keys have reads in flight: an invalidation marks them, and a marked
 * read's value is not kept. Entries also carry their own deadline, so a
 * value is never served past the moment the caller says Redis must see a
 * read again. Cold reads of one key coalesce: a caller that finds a
 * `getOrLoad` read of the key in flight shares its answer instead of sending
 * its own, unless an invalidation spoils that read first.
 */
import type { InvalidationFeed } from './tracking.ts';

/** A read in flight; pass it back to `settle`. */
export interface ReadTicket {
  readonly key: string;
  readonly epoch: number;
  readonly flight: Flight;
}

interface Flight {
  reads: number;
  invalidated: boolean;
  /** The `getOrLoad` read of this flight, which later callers share, and the tracking epoch it was sent in. */
  shared?: { read: Promise<unknown>; epoch: number };
}

/** Caches values by Redis key while `feed` vouches that their invalidations arrive. */
export class TrackedCache<V> {
  readonly #feed: Pick<InvalidationFeed, 'active' | 'epoch'>;
  readonly #max: number;
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #flights = new Map<string, Flight>();
  #epoch = 0;

  /** `max` bounds the entries (the oldest go first). A feed with `onInvalidate` is listened to; otherwise call `invalidate`. */
  constructor(feed: Pick<InvalidationFeed, 'active' | 'epoch'> & Partial<Pick<InvalidationFeed, 'onInvalidate'>>, max: number) {
    this.#feed = feed;
    this.#max = max;
    feed.onInvalidate?.((key) => this.invalidate(key));
  }

  /**
   * The cached value of `key` (when `serve` allows it), else what `load`
   * reads: its `value` is returned, and kept for `keepMs` from before the
   * read (0: not kept) unless an invalidation arrives meanwhile. With `serve`,
   * a read of `key` already in flight is shared rather than repeated.
   */
  async getOrLoad(key: string, load: () => Promise<{ value: V | undefined; keepMs: number }>, serve = true): Promise<V | undefined> {
    const sent = Date.now();
    if (serve) {
      const hit = this.get(key, sent);
      if (hit !== undefined) return hit;
      const flight = this.#flights.get(key);
      const shared = flight?.shared;
      if (shared && this.#current(shared.epoch)) {
        const value = (await shared.read) as V | undefined;
        // Spoiled while in flight: a write may have landed before this caller asked.
        if (!flight!.invalidated && this.#current(shared.epoch)) return value;
      }
    }
    const ticket = this.begin(key);
    const read = this.#read(ticket, sent, load);
    if (serve && ticket.flight.shared === undefined) ticket.flight.shared = { read, epoch: ticket.epoch };
    return read;
  }

  /** Tracking is on and has not restarted since `epoch`, so invalidations of what was read then still arrive. */
  #current(epoch: number): boolean {
    return this.#feed.active() && epoch === this.#epoch + this.#feed.epoch();
  }

  async #read(ticket: ReadTicket, sent: number, load: () => Promise<{ value: V | undefined; keepMs: number }>): Promise<V | undefined> {
    let loaded: { value: V | undefined; keepMs: number };
    try {
      loaded = await load();
    } catch (err) {
      this.settle(ticket);
      throw err;
    }
    this.settle(ticket, loaded.keepMs > 0 ? loaded.value : undefined, sent + loaded.keepMs);
    return loaded.value;
  }

  /** The cached value, or undefined (miss, past its deadline, or tracking not active). */
  get(key: string, now: number): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (hit.until <= now || !this.#feed.active()) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  /** Call right before sending the read of `key`. */
  begin(key: string): ReadTicket {
    let flight = this.#flights.get(key);
    if (!flight) {
      flight = { reads: 0, invalidated: false };
      this.#flights.set(key, flight);
    }
    flight.reads++;
    return { key, epoch: this.#epoch + this.#feed.epoch(), flight };
  }

  /** Call when the read answered (or failed: pass no value). The value is kept until `until` unless invalidated meanwhile. */
  settle(ticket: ReadTicket, value?: V, until = 0): void {
    const { key, flight } = ticket;
    if (--flight.reads === 0 && this.#flights.get(key) === flight) this.#flights.delete(key);
    if (value === undefined || flight.invalidated || !this.#current(ticket.epoch)) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { value, until });
  }

  /** Forgets `key` (null: everything) and spoils the reads of it in flight. */
  invalidate(key: string | null): void {
    if (key === null) {
      this.#epoch++;
      this.#entries.clear();
      for (const flight of this.#flights.values()) flight.invalidated = true;
      this.#flights.clear();
      return;
    }
    this.#entries.delete(key);
    const flight = this.#flights.get(key);
    if (flight) {
      flight.invalidated = true;
      this.#flights.delete(key);
    }
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }
}
