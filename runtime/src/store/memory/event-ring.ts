/**
 * One session's retained events, oldest first, kept off the JS heap: the
 * numbers in one Float64Array, the JSON as UTF-8 in one byte arena, and only
 * the stream id as a string (shared by a stream's events). An event is
 * retained for up to the retention window, long enough to be promoted to the
 * old generation; as objects (an event record, its id, its JSON string) they
 * were the largest source of old-generation garbage on a busy legacy session,
 * and so of full collections.
 *
 * Sequence numbers are contiguous: the event at index k has seq
 * `firstSeq + k`, so no seq is stored.
 */

/** Lanes per event in `#nums`. */
const LANES = 4;
const AT = 0;
const PREV = 1;
const OFFSET = 2;
const LENGTH = 3;
/** LENGTH of a priming event (no message). */
const NO_MESSAGE = -1;
const MIN_BYTES = 256;
/** An arena above this size is given back once it is mostly empty (after a burst of large events). */
const SHRINK_ABOVE = 64 * 1024;

const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

export class EventRing {
  #capacity = 2;
  #head = 0;
  #size = 0;
  #firstSeq = 1;
  #nums = new Float64Array(2 * LANES);
  #streams: Array<string | undefined> = [undefined, undefined];
  #bytes: Buffer | undefined;
  /** Byte offset of the oldest retained event's JSON. */
  #byteStart = 0;
  #byteEnd = 0;

  get size(): number {
    return this.#size;
  }

  /** Seq of the oldest retained event (of the next one when empty). */
  get firstSeq(): number {
    return this.#firstSeq;
  }

  /**
   * Appends an event. `seq` must follow the last one (a gap is allowed only
   * when the ring is empty); `prev` is opaque to the ring.
   */
  push(seq: number, streamId: string, prev: number, at: number, json: string | null): void {
    if (this.#size === 0) this.#firstSeq = seq;
    else if (seq !== this.#firstSeq + this.#size) throw new Error(`event seq ${seq} does not follow ${this.#firstSeq + this.#size - 1}`);
    if (this.#size === this.#capacity) this.#grow();
    const slot = (this.#head + this.#size) & (this.#capacity - 1);
    const base = slot * LANES;
    const nums = this.#nums;
    nums[base + AT] = at;
    nums[base + PREV] = prev;
    if (json === null) {
      nums[base + OFFSET] = this.#byteEnd;
      nums[base + LENGTH] = NO_MESSAGE;
    } else {
      const offset = this.#writeJson(json);
      nums[base + OFFSET] = offset;
      nums[base + LENGTH] = this.#byteEnd - offset;
    }
    this.#streams[slot] = streamId;
    this.#size++;
  }

  /** Drops the oldest event. */
  shift(): void {
    if (this.#size === 0) return;
    this.#streams[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#capacity - 1);
    this.#size--;
    this.#firstSeq++;
    if (this.#size === 0) {
      this.#byteStart = 0;
      this.#byteEnd = 0;
    } else this.#byteStart = this.#num(0, OFFSET);
    const bytes = this.#bytes;
    if (bytes !== undefined && bytes.length > SHRINK_ABOVE && (this.#byteEnd - this.#byteStart) * 8 < bytes.length) {
      if (this.#size === 0) this.#bytes = undefined;
      else this.#relocate(0);
    }
  }

  /** The stream id of the k-th retained event (0 = oldest). */
  streamAt(k: number): string {
    return this.#streams[(this.#head + k) & (this.#capacity - 1)] as string;
  }

  /** When the k-th retained event was appended (ms). */
  atAt(k: number): number {
    return this.#num(k, AT);
  }

  /** The `prev` the k-th retained event was pushed with. */
  prevAt(k: number): number {
    return this.#num(k, PREV);
  }

  /** The event's message as JSON; null for a priming event. */
  jsonAt(k: number): string | null {
    const length = this.#num(k, LENGTH);
    if (length === NO_MESSAGE) return null;
    const offset = this.#num(k, OFFSET);
    return (this.#bytes as Buffer).toString('utf8', offset, offset + length);
  }

  /** Bytes held outside the JS heap (for tests and memory reports). */
  get arenaBytes(): number {
    return this.#bytes?.length ?? 0;
  }

  #num(k: number, lane: number): number {
    return this.#nums[((this.#head + k) & (this.#capacity - 1)) * LANES + lane] as number;
  }

  #grow(): void {
    const capacity = this.#capacity * 2;
    const nums = new Float64Array(capacity * LANES);
    const streams: Array<string | undefined> = new Array<string | undefined>(capacity).fill(undefined);
    for (let k = 0; k < this.#size; k++) {
      const from = (this.#head + k) & (this.#capacity - 1);
      nums.set(this.#nums.subarray(from * LANES, from * LANES + LANES), k * LANES);
      streams[k] = this.#streams[from];
    }
    this.#nums = nums;
    this.#streams = streams;
    this.#capacity = capacity;
    this.#head = 0;
  }

  /** Writes `json` at the arena's end (compacting or reallocating first when it does not fit); returns its offset. */
  #writeJson(json: string): number {
    // A UTF-8 encoding is at most three bytes per UTF-16 unit: most writes fit without measuring.
    if (this.#bytes === undefined || this.#byteEnd + json.length * 3 > this.#bytes.length) {
      const need = Buffer.byteLength(json);
      if (this.#bytes === undefined || this.#byteEnd + need > this.#bytes.length) this.#relocate(need);
    }
    const bytes = this.#bytes as Buffer;
    const offset = this.#byteEnd;
    this.#byteEnd += bytes.write(json, offset);
    return offset;
  }

  /**
   * Moves the live bytes to the start of an arena at least twice their size
   * plus `need` (the same arena when that size matches, so steady state
   * allocates nothing), rebasing offsets.
   */
  #relocate(need: number): void {
    const live = this.#byteEnd - this.#byteStart;
    const size = Math.max(MIN_BYTES, pow2AtLeast(2 * (live + need)));
    const start = this.#byteStart;
    if (this.#bytes !== undefined && size === this.#bytes.length) this.#bytes.copyWithin(0, start, this.#byteEnd);
    else {
      const bytes = Buffer.allocUnsafeSlow(size);
      this.#bytes?.copy(bytes, 0, start, this.#byteEnd);
      this.#bytes = bytes;
    }
    for (let k = 0; k < this.#size; k++) {
      const i = ((this.#head + k) & (this.#capacity - 1)) * LANES + OFFSET;
      this.#nums[i] = (this.#nums[i] as number) - start;
    }
    this.#byteStart = 0;
    this.#byteEnd = live;
  }
}
