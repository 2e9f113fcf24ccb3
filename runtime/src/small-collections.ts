/**
 * Collections for the per-request hot path that do not churn V8 hash
 * tables. A long-lived Map or Set that goes from empty to one entry and back
 * on every request allocates a fresh backing table each time, and once the
 * collection has been promoted those tables are allocated in the old
 * generation: at a few thousand calls per second they were the largest source
 * of old-generation garbage left, and so of full collections.
 */

/** A set of objects that carry their own position; add and delete are O(1) and allocate nothing. */
export class SlotSet<T extends { slot: number }> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    if (item.slot >= 0 && this.#items[item.slot] === item) return;
    item.slot = this.#items.length;
    this.#items.push(item);
  }

  /** Removes `item`; false when it was not in the set. */
  delete(item: T): boolean {
    const at = item.slot;
    if (at < 0 || this.#items[at] !== item) return false;
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[at] = last;
      last.slot = at;
    }
    item.slot = -1;
    return true;
  }

  /** A snapshot of the members (safe to change the set while iterating it). */
  values(): T[] {
    return this.#items.slice();
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }
}

/**
 * Past this many entries a small collection spills the rest into a real Map
 * or Set, so a burst of concurrency costs hashing, not linear scans.
 */
const SMALL_LIMIT = 16;

/** A map for a handful of entries (linear search, no hash table behind it); a burst spills into a Map. */
export class SmallMap<K, V> {
  readonly #keys: K[] = [];
  readonly #values: V[] = [];
  #spill: Map<K, V> | undefined;

  get size(): number {
    return this.#keys.length + (this.#spill?.size ?? 0);
  }

  get(key: K): V | undefined {
    const i = this.#keys.indexOf(key);
    return i >= 0 ? this.#values[i] : this.#spill?.get(key);
  }

  has(key: K): boolean {
    return this.#keys.indexOf(key) >= 0 || (this.#spill?.has(key) ?? false);
  }

  set(key: K, value: V): void {
    const i = this.#keys.indexOf(key);
    if (i >= 0) this.#values[i] = value;
    else if (this.#spill?.has(key) || this.#keys.length >= SMALL_LIMIT) (this.#spill ??= new Map()).set(key, value);
    else {
      this.#keys.push(key);
      this.#values.push(value);
    }
  }

  delete(key: K): boolean {
    const i = this.#keys.indexOf(key);
    if (i < 0) return this.#spill?.delete(key) ?? false;
    const lastKey = this.#keys.pop()!;
    const lastValue = this.#values.pop()!;
    if (i < this.#keys.length) {
      this.#keys[i] = lastKey;
      this.#values[i] = lastValue;
    }
    return true;
  }

  clear(): void {
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#spill = undefined;
  }

  /** A snapshot of the entries. */
  entries(): Array<[K, V]> {
    const out = this.#keys.map((k, i): [K, V] => [k, this.#values[i]!]);
    if (this.#spill) out.push(...this.#spill.entries());
    return out;
  }

  /** A snapshot of the keys. */
  keys(): K[] {
    return this.#spill ? [...this.#keys, ...this.#spill.keys()] : this.#keys.slice();
  }

  /** A snapshot of the values. */
  values(): V[] {
    return this.#spill ? [...this.#values, ...this.#spill.values()] : this.#values.slice();
  }
}

/** A set for a handful of values: a SmallMap of its members. */
export class SmallSet<T> {
  readonly #members = new SmallMap<T, true>();

  get size(): number {
    return this.#members.size;
  }

  has(value: T): boolean {
    return this.#members.has(value);
  }

  add(value: T): this {
    this.#members.set(value, true);
    return this;
  }

  delete(value: T): boolean {
    return this.#members.delete(value);
  }

  clear(): void {
    this.#members.clear();
  }

  /** A snapshot of the values. */
  values(): T[] {
    return this.#members.keys();
  }
}
