/**
 * Collections for long-lived, per-request bookkeeping that V8's Map and Set
 * would turn into old-generation garbage.
 *
 * A Map or Set whose entries come and go rehashes into a new backing table
 * every few dozen deletions, and the old table keeps its entries and a link
 * to its successor (for iterators still walking it). While the collection's
 * table is young that costs nothing. Once a full collection has promoted it,
 * every retired table is a dead old-generation object that the scavenger
 * still treats as a root: it keeps the next table and all its entries alive,
 * they are promoted, retire in turn and keep the next one alive. Measured on
 * the stdio bench rung (64 calls in flight), the first full collection under
 * load raised promotion from about 0.5 to about 20 MB/s and held it there,
 * with a full collection every 2 s and the process at 141 MB instead of 100.
 *
 * Dictionary-mode objects rehash without that link, and arrays do not
 * rehash at all: the collections below use only those. A dictionary has a
 * cost of its own: it stores a new string key as an internalized string,
 * which V8 allocates in the old generation (about 67 bytes per key for a
 * session id plus a request id, measured), so SmallMap keeps churning keys
 * in arrays and spills into a DictMap only for a burst.
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
 * Past this many entries a small collection spills the rest into a DictMap,
 * so a burst of concurrency costs hashing, not linear scans.
 */
const SMALL_LIMIT = 16;

/** A map for a handful of entries (linear search, no hash table behind it); a burst spills into a DictMap. */
export class SmallMap<K extends string | number, V> {
  readonly #keys: K[] = [];
  readonly #values: V[] = [];
  #spill: DictMap<K, V> | undefined;

  get size(): number {
    return this.#keys.length + (this.#spill?.size ?? 0);
  }

  /** Whether entries of a burst are still held in the spill. */
  get spilling(): boolean {
    return this.#spill !== undefined;
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
    else if (this.#spill?.has(key) || this.#keys.length >= SMALL_LIMIT) (this.#spill ??= new DictMap()).set(key, value);
    else {
      this.#keys.push(key);
      this.#values.push(value);
    }
  }

  delete(key: K): boolean {
    const i = this.#keys.indexOf(key);
    if (i < 0) return this.#deleteSpilled(key);
    const lastKey = this.#keys.pop()!;
    const lastValue = this.#values.pop()!;
    if (i < this.#keys.length) {
      this.#keys[i] = lastKey;
      this.#values[i] = lastValue;
    }
    return true;
  }

  /**
   * Deletes from the spill and drops it once empty: a spill kept after the
   * burst that made it would send every later key through a dictionary
   * lookup, which leaves old-generation garbage too (see the header).
   */
  #deleteSpilled(key: K): boolean {
    const spill = this.#spill;
    if (!spill?.delete(key)) return false;
    if (spill.size === 0) this.#spill = undefined;
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
    if (this.#spill) for (const e of this.#spill.entries()) out.push(e);
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
export class SmallSet<T extends string | number> {
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

/** One DictMap entry: the key as given, so keys() returns numbers as numbers. */
interface DictEntry<K, V> {
  readonly key: K;
  value: V;
}

/**
 * A Map with string or number keys over a dictionary-mode object. Strings
 * are stored with a prefix, so the key 1 and the key "1" stay distinct and
 * no key can reach `__proto__`. Iteration order is not insertion order.
 */
export class DictMap<K extends string | number, V> {
  #entries: Record<string | number, DictEntry<K, V> | undefined> = Object.create(null) as Record<string | number, DictEntry<K, V> | undefined>;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: K): V | undefined {
    return this.#entries[slotOf(key)]?.value;
  }

  has(key: K): boolean {
    return this.#entries[slotOf(key)] !== undefined;
  }

  set(key: K, value: V): this {
    const slot = slotOf(key);
    const entry = this.#entries[slot];
    if (entry) entry.value = value;
    else {
      this.#entries[slot] = { key, value };
      this.#size++;
    }
    return this;
  }

  delete(key: K): boolean {
    const slot = slotOf(key);
    if (this.#entries[slot] === undefined) return false;
    delete this.#entries[slot];
    this.#size--;
    return true;
  }

  clear(): void {
    this.#entries = Object.create(null) as Record<string | number, DictEntry<K, V> | undefined>;
    this.#size = 0;
  }

  /** A snapshot of the entries. */
  entries(): Array<[K, V]> {
    const out: Array<[K, V]> = [];
    for (const slot in this.#entries) {
      const e = this.#entries[slot]!;
      out.push([e.key, e.value]);
    }
    return out;
  }

  /** A snapshot of the keys. */
  keys(): K[] {
    const out: K[] = [];
    for (const slot in this.#entries) out.push(this.#entries[slot]!.key);
    return out;
  }

  /** A snapshot of the values. */
  values(): V[] {
    const out: V[] = [];
    for (const slot in this.#entries) out.push(this.#entries[slot]!.value);
    return out;
  }

  [Symbol.iterator](): Iterator<[K, V]> {
    return this.entries()[Symbol.iterator]();
  }
}

/** The property a key is stored under: numbers as themselves, strings behind a prefix no number prints. */
const slotOf = (key: string | number): string | number => (typeof key === 'number' ? key : `s${key}`);
