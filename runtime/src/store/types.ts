/**
 * Storage seams for the legacy session layer and the modern event bus.
 * In-memory implementations serve a single process; Redis ones let any
 * replica serve any session.
 */
import type { InitializeParams, ServerChangeEvent } from '../backend/types.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';

export interface SessionRecord {
  id: string;
  /** Principal id the session is bound to; other principals get 404. */
  principal: string;
  protocolVersion: string;
  initialize: InitializeParams;
  /** Replica id that owns the live backend state (legacy owner routing). */
  owner?: string;
  createdAt: number;
  lastSeenAt: number;
  logLevel?: string;
  /** Resource URIs the client subscribed to. */
  subscriptions?: string[];
}

export interface SessionStore {
  /** Creates the record; rejects with SessionLimitError past maxSessions. */
  create(record: SessionRecord): Promise<void>;
  /** Reads and slides the idle TTL; undefined when unknown or expired. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Whether the record exists, without sliding its TTL (a replica checking whether others keep it in use). */
  exists(id: string): Promise<boolean>;
  update(id: string, patch: Partial<Omit<SessionRecord, 'id' | 'principal'>>): Promise<boolean>;
  /** Removes the record and everything keyed by the session (events). */
  delete(id: string): Promise<void>;
  count(): Promise<number>;
  /** Store reachable? Feeds `/ready`. */
  healthy(): boolean;
  /** Whether reads are served from a cache Redis keeps coherent (client tracking) right now; absent: never. */
  trackedCache?(): boolean;
  close(): Promise<void>;
}

export class SessionLimitError extends Error {
  override readonly name = 'SessionLimitError';
}

/**
 * A store's backing service (Redis) is unreachable or timed out. Requests that
 * need the store get 503 with `Retry-After`; nothing is lost and the store
 * recovers by itself once the service is back.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  /** Suggested `Retry-After` in seconds. */
  readonly retryAfterSeconds: number;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** A stored server→client message of one SSE stream of one session. */
export interface StoredEvent {
  eventId: string;
  message: JsonRpcMessage | null; // null = priming event
}

export interface EventStore {
  /**
   * Appends a message (null = priming) to a stream; returns its event id,
   * which encodes session and stream. `text`, when given, is the message's
   * JSON already serialized for the wire, so a store that keeps text reuses it.
   */
  append(sessionId: string, streamId: string, message: JsonRpcMessage | null, text?: string): Promise<string>;
  /**
   * Appends the whole of a new stream (messages in order, null = priming)
   * before any of it is delivered, in one store round trip (nothing is
   * appended to that stream afterwards); returns the event
   * ids. No client can be tailing a stream it has never seen an id of, so
   * nothing is pushed to live tails. `texts`, when given, are the messages'
   * JSON as for `append` (undefined entries are serialized by the store).
   */
  appendNew(
    sessionId: string,
    streamId: string,
    messages: ReadonlyArray<JsonRpcMessage | null>,
    texts?: ReadonlyArray<string | undefined>,
  ): Promise<string[]>;
  /**
   * Events of the same stream strictly after `lastEventId`. Returns undefined
   * when the id is malformed, unknown, expired, or belongs to another session.
   */
  after(sessionId: string, lastEventId: string): Promise<{ streamId: string; events: StoredEvent[] } | undefined>;
  /** Live tail of a stream after `afterEventId`; returns an unsubscribe function. */
  tail(sessionId: string, streamId: string, afterEventId: string, onEvent: (event: StoredEvent) => void): () => void;
  deleteSession(sessionId: string): Promise<void>;
  healthy(): boolean;
  close(): Promise<void>;
}

/** Fans change events out to every replica's listeners. */
export interface EventBus {
  publish(event: ServerChangeEvent): void;
  subscribe(listener: (event: ServerChangeEvent) => void): () => void;
  healthy(): boolean;
  close(): Promise<void>;
}
