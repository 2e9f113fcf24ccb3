/**
 * In-memory EventStore: per session, one append-only log of the server→client
 * messages of all its SSE streams, bounded by count (`maxEvents`) and age
 * (`retentionSeconds`). Event ids are `<session>.<stream>.<seq>`, with `seq`
 * increasing per session, so an id names its session and stream and orders
 * events within the session.
 *
 * Resumption is exact or refused: `after()` answers undefined when any event
 * of the stream that followed the given id has been trimmed.
 */
import type { JsonRpcMessage } from '../../protocol/jsonrpc.ts';
import type { EventStore, StoredEvent } from '../types.ts';
import { EventRing } from './event-ring.ts';
import { DictMap } from '../../small-collections.ts';

export interface MemoryEventStoreOptions {
  /** Events kept per session (all streams together). */
  maxEvents: number;
  /** Events older than this are dropped. */
  retentionSeconds: number;
  now?: () => number;
  /** How often idle logs are swept; defaults to 30 s. */
  sweepIntervalMs?: number;
}

interface Tail {
  streamId: string;
  lastSeq: number;
  onEvent: (event: StoredEvent) => void;
  active: boolean;
}

interface Log {
  sessionId: string;
  seq: number;
  /**
   * Retained events, off the JS heap. Each event's `prev` is the seq of its
   * stream's event before it, or, for a stream's first event, the floor the
   * stream starts with: so the oldest retained event of a stream carries the
   * highest seq of that stream's trimmed events, and ids below it can't
   * resume.
   */
  ring: EventRing;
  /**
   * Each stream with retained events that may still grow: the seq of its last
   * event. Whole streams (appendNew) are complete when stored and never listed.
   * A DictMap: streams come and go with calls (see small-collections.ts).
   */
  lastSeqOf: DictMap<string, number>;
  /** Highest trimmed seq of streams that no longer have events; applies to streams re-created later. */
  orphanFloor: number;
  tails: Set<Tail>;
}

const messageOf = (json: string | null): JsonRpcMessage | null => (json === null ? null : (JSON.parse(json) as JsonRpcMessage));

interface ParsedId {
  sessionId: string;
  streamId: string;
  seq: number;
}

/** `<session>.<stream>.<seq>`: an event id names its session and stream. */
const eventIdOf = (sessionId: string, streamId: string, seq: number): string => `${sessionId}.${streamId}.${seq}`;

/** Splits `<session>.<stream>.<seq>`; undefined when malformed. */
export function parseEventId(eventId: string): ParsedId | undefined {
  const last = eventId.lastIndexOf('.');
  if (last <= 0) return undefined;
  const mid = eventId.lastIndexOf('.', last - 1);
  if (mid <= 0) return undefined;
  const seqText = eventId.slice(last + 1);
  if (!/^[0-9]{1,15}$/.test(seqText)) return undefined;
  const streamId = eventId.slice(mid + 1, last);
  if (streamId.length === 0) return undefined;
  return { sessionId: eventId.slice(0, mid), streamId, seq: Number(seqText) };
}

/** Creates an in-memory EventStore. */
export function createMemoryEventStore(options: MemoryEventStoreOptions): EventStore & { sessionCount(): number } {
  const now = options.now ?? Date.now;
  const retentionMs = options.retentionSeconds * 1000;
  const maxEvents = options.maxEvents;
  const logs = new DictMap<string, Log>();
  let closed = false;

  const dropHead = (log: Log): void => {
    const ring = log.ring;
    const seq = ring.firstSeq;
    const streamId = ring.streamAt(0);
    ring.shift();
    const last = log.lastSeqOf.get(streamId);
    if (last === seq) {
      // The stream's last event is gone: it has none left.
      if (seq > log.orphanFloor) log.orphanFloor = seq;
      log.lastSeqOf.delete(streamId);
    } else if (last === undefined && seq > log.orphanFloor) {
      // A whole stream's event: the floor rises with each one, which refuses
      // at least every resumption that trimming made inexact.
      log.orphanFloor = seq;
    }
  };

  const trim = (log: Log): void => {
    const ring = log.ring;
    while (ring.size > maxEvents) dropHead(log);
    const cutoff = now() - retentionMs;
    while (ring.size > 0 && ring.atAt(0) <= cutoff) dropHead(log);
  };

  const eventAt = (log: Log, k: number): StoredEvent => {
    const ring = log.ring;
    return { eventId: eventIdOf(log.sessionId, ring.streamAt(k), ring.firstSeq + k), message: messageOf(ring.jsonAt(k)) };
  };

  const drain = (log: Log, tail: Tail): void => {
    if (!tail.active) return;
    const ring = log.ring;
    for (let k = Math.max(0, tail.lastSeq + 1 - ring.firstSeq); k < ring.size && tail.active; k++) {
      tail.lastSeq = ring.firstSeq + k;
      if (ring.streamAt(k) !== tail.streamId) continue;
      try {
        tail.onEvent(eventAt(log, k));
      } catch {
        // A failing consumer must not break the log or other tails.
      }
    }
  };

  const logFor = (sessionId: string): Log => {
    let log = logs.get(sessionId);
    if (!log) {
      log = { sessionId, seq: 0, ring: new EventRing(), lastSeqOf: new DictMap(), orphanFloor: 0, tails: new Set() };
      logs.set(sessionId, log);
    }
    return log;
  };

  const sweep = (): void => {
    for (const [sessionId, log] of logs) {
      trim(log);
      if (log.ring.size === 0 && log.tails.size === 0) logs.delete(sessionId);
    }
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 30_000);
  timer.unref();

  /** Appends one event; `prev` undefined: the stream may grow, so it is listed in lastSeqOf. */
  const appendOne = (sessionId: string, streamId: string, message: JsonRpcMessage | null, text: string | undefined, prev?: number): string => {
    if (closed) throw new Error('event store closed');
    if (streamId.length === 0 || streamId.includes('.')) throw new Error(`invalid stream id ${JSON.stringify(streamId)}`);
    const log = logFor(sessionId);
    const seq = ++log.seq;
    log.ring.push(seq, streamId, prev ?? log.lastSeqOf.get(streamId) ?? log.orphanFloor, now(), message === null ? null : (text ?? JSON.stringify(message)));
    if (prev === undefined) log.lastSeqOf.set(streamId, seq);
    // Live delivery first: retention limits replay, never live tails.
    if (log.tails.size > 0) for (const tail of log.tails) if (tail.streamId === streamId) drain(log, tail);
    trim(log);
    return eventIdOf(sessionId, streamId, seq);
  };

  return {
    async append(sessionId: string, streamId: string, message: JsonRpcMessage | null, text?: string): Promise<string> {
      return appendOne(sessionId, streamId, message, text);
    },

    async appendNew(
      sessionId: string,
      streamId: string,
      messages: ReadonlyArray<JsonRpcMessage | null>,
      texts?: ReadonlyArray<string | undefined>,
    ): Promise<string[]> {
      const log = logFor(sessionId);
      let prev = log.lastSeqOf.get(streamId) ?? log.orphanFloor;
      return messages.map((message, i) => {
        const id = appendOne(sessionId, streamId, message, texts?.[i], prev);
        prev = log.seq;
        return id;
      });
    },

    async after(sessionId: string, lastEventId: string): Promise<{ streamId: string; events: StoredEvent[] } | undefined> {
      const parsed = parseEventId(lastEventId);
      if (!parsed || parsed.sessionId !== sessionId) return undefined;
      const log = logs.get(sessionId);
      if (!log || parsed.seq > log.seq || parsed.seq < 1) return undefined;
      trim(log);
      const ring = log.ring;
      let first = -1;
      // Whole streams are not listed in lastSeqOf, so the ring itself is searched.
      for (let k = 0; k < ring.size && first < 0; k++) if (ring.streamAt(k) === parsed.streamId) first = k;
      const floor = first < 0 ? log.orphanFloor : ring.prevAt(first);
      if (parsed.seq < floor) return undefined;
      const events: StoredEvent[] = [];
      if (first >= 0) for (let k = Math.max(first, parsed.seq + 1 - ring.firstSeq); k < ring.size; k++) if (ring.streamAt(k) === parsed.streamId) events.push(eventAt(log, k));
      return { streamId: parsed.streamId, events };
    },

    tail(sessionId: string, streamId: string, afterEventId: string, onEvent: (event: StoredEvent) => void): () => void {
      const log = logFor(sessionId);
      const parsed = parseEventId(afterEventId);
      const lastSeq = parsed && parsed.sessionId === sessionId ? parsed.seq : log.seq;
      const tail: Tail = { streamId, lastSeq, onEvent, active: true };
      log.tails.add(tail);
      queueMicrotask(() => drain(log, tail));
      return () => {
        tail.active = false;
        log.tails.delete(tail);
      };
    },

    async deleteSession(sessionId: string): Promise<void> {
      const log = logs.get(sessionId);
      if (!log) return;
      for (const tail of log.tails) tail.active = false;
      logs.delete(sessionId);
    },

    sessionCount: () => logs.size,
    healthy: () => !closed,
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      for (const log of logs.values()) for (const tail of log.tails) tail.active = false;
    },
  };
}
