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

/** A map for a handful of entries (linear search), with no hash table behind it. */
export class SmallMap<K, V> {
  readonly #keys: K[] = [];
  readonly #values: V[] = [];

  get size(): number {
    return this.#keys.length;
  }

  get(key: K): V | undefined {
    const i = this.#keys.indexOf(key);
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: K): boolean {
    return this.#keys.indexOf(key) >= 0;
  }

  set(key: K, value: V): void {
    const i = this.#keys.indexOf(key);
    if (i >= 0) {
      this.#values[i] = value;
      return;
    }
    this.#keys.push(key);
    this.#values.push(value);
  }

  delete(key: K): boolean {
    const i = this.#keys.indexOf(key);
    if (i < 0) return false;
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
  }

  /** A snapshot of the entries. */
  entries(): Array<[K, V]> {
    return this.#keys.map((k, i) => [k, this.#values[i]!]);
  }

  /** A snapshot of the values. */
  values(): V[] {
    return this.#values.slice();
  }
}

/** A set for a handful of values (linear search), with no hash table behind it. */
export class SmallSet<T> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  has(value: T): boolean {
    return this.#items.indexOf(value) >= 0;
  }

  add(value: T): this {
    if (this.#items.indexOf(value) < 0) this.#items.push(value);
    return this;
  }

  delete(value: T): boolean {
    const i = this.#items.indexOf(value);
    if (i < 0) return false;
    const last = this.#items.pop()!;
    if (i < this.#items.length) this.#items[i] = last;
    return true;
  }

  clear(): void {
    this.#items.length = 0;
  }

  /** A snapshot of the values. */
  values(): T[] {
    return this.#items.slice();
  }
}
