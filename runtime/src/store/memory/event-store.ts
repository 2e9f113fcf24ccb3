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

export interface MemoryEventStoreOptions {
  /** Events kept per session (all streams together). */
  maxEvents: number;
  /** Events older than this are dropped. */
  retentionSeconds: number;
  now?: () => number;
  /** How often idle logs are swept; defaults to 30 s. */
  sweepIntervalMs?: number;
}

interface Ev {
  seq: number;
  streamId: string;
  eventId: string;
  /**
   * The message as JSON (null for a priming event). Kept serialized: a
   * retained object graph per event would be promoted and later dropped,
   * the largest source of full collections on a busy legacy session; a
   * string is one flat object. Parsed again only for replay and tails.
   */
  json: string | null;
  at: number;
}

const messageOf = (ev: Ev): JsonRpcMessage | null => (ev.json === null ? null : (JSON.parse(ev.json) as JsonRpcMessage));

interface Tail {
  streamId: string;
  lastSeq: number;
  onEvent: (event: StoredEvent) => void;
  active: boolean;
}

interface StreamInfo {
  /** Highest seq of this stream's trimmed events (ids below it can't resume). */
  trimmedUpTo: number;
  count: number;
}

interface Log {
  seq: number;
  events: Ev[];
  head: number;
  streams: Map<string, StreamInfo>;
  /** trimmedUpTo of streams that no longer have events; applies to streams re-created later. */
  orphanFloor: number;
  tails: Set<Tail>;
}

interface ParsedId {
  sessionId: string;
  streamId: string;
  seq: number;
}

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
  const logs = new Map<string, Log>();
  let closed = false;

  const dropHead = (log: Log): void => {
    const ev = log.events[log.head];
    if (!ev) return;
    log.events[log.head] = undefined as unknown as Ev;
    log.head++;
    const info = log.streams.get(ev.streamId);
    if (info) {
      info.trimmedUpTo = ev.seq;
      info.count--;
      if (info.count === 0) {
        if (info.trimmedUpTo > log.orphanFloor) log.orphanFloor = info.trimmedUpTo;
        log.streams.delete(ev.streamId);
      }
    }
  };

  const trim = (log: Log): void => {
    const cutoff = now() - retentionMs;
    while (log.events.length - log.head > maxEvents) dropHead(log);
    while (log.head < log.events.length && (log.events[log.head] as Ev).at <= cutoff) dropHead(log);
    if (log.head > 64 && log.head * 2 > log.events.length) {
      log.events = log.events.slice(log.head);
      log.head = 0;
    }
  };

  const drain = (log: Log, tail: Tail): void => {
    if (!tail.active) return;
    const events = log.events;
    let i = events.length - 1;
    while (i >= log.head && (events[i] as Ev).seq > tail.lastSeq) i--;
    for (let j = i + 1; j < events.length && tail.active; j++) {
      const ev = events[j] as Ev;
      tail.lastSeq = ev.seq;
      if (ev.streamId !== tail.streamId) continue;
      try {
        tail.onEvent({ eventId: ev.eventId, message: messageOf(ev) });
      } catch {
        // A failing consumer must not break the log or other tails.
      }
    }
  };

  const logFor = (sessionId: string): Log => {
    let log = logs.get(sessionId);
    if (!log) {
      log = { seq: 0, events: [], head: 0, streams: new Map(), orphanFloor: 0, tails: new Set() };
      logs.set(sessionId, log);
    }
    return log;
  };

  const sweep = (): void => {
    for (const [sessionId, log] of logs) {
      trim(log);
      if (log.head >= log.events.length && log.tails.size === 0) logs.delete(sessionId);
    }
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 30_000);
  timer.unref();

  const appendOne = (sessionId: string, streamId: string, message: JsonRpcMessage | null): string => {
    if (closed) throw new Error('event store closed');
    if (streamId.length === 0 || streamId.includes('.')) throw new Error(`invalid stream id ${JSON.stringify(streamId)}`);
    const log = logFor(sessionId);
    const seq = ++log.seq;
    const eventId = `${sessionId}.${streamId}.${seq}`;
    log.events.push({ seq, streamId, eventId, json: message === null ? null : JSON.stringify(message), at: now() });
    let info = log.streams.get(streamId);
    if (!info) {
      info = { trimmedUpTo: log.orphanFloor, count: 0 };
      log.streams.set(streamId, info);
    }
    info.count++;
    // Live delivery first: retention limits replay, never live tails.
    if (log.tails.size > 0) for (const tail of log.tails) if (tail.streamId === streamId) drain(log, tail);
    trim(log);
    return eventId;
  };

  return {
    async append(sessionId: string, streamId: string, message: JsonRpcMessage | null): Promise<string> {
      return appendOne(sessionId, streamId, message);
    },

    async appendNew(sessionId: string, streamId: string, messages: ReadonlyArray<JsonRpcMessage | null>): Promise<string[]> {
      return messages.map((message) => appendOne(sessionId, streamId, message));
    },

    async after(sessionId: string, lastEventId: string): Promise<{ streamId: string; events: StoredEvent[] } | undefined> {
      const parsed = parseEventId(lastEventId);
      if (!parsed || parsed.sessionId !== sessionId) return undefined;
      const log = logs.get(sessionId);
      if (!log || parsed.seq > log.seq || parsed.seq < 1) return undefined;
      trim(log);
      const floor = log.streams.get(parsed.streamId)?.trimmedUpTo ?? log.orphanFloor;
      if (parsed.seq < floor) return undefined;
      const events: StoredEvent[] = [];
      for (let i = log.head; i < log.events.length; i++) {
        const ev = log.events[i] as Ev;
        if (ev.seq > parsed.seq && ev.streamId === parsed.streamId) events.push({ eventId: ev.eventId, message: messageOf(ev) });
      }
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
