/**
 * Event ids: `<sessionTag>.<streamTag>.<entryId>` where sessionTag is 96 bits
 * of SHA-256 over the session id (base64url), streamTag is the stream id in
 * base64url and entryId is the Redis Stream entry id (`<ms>-<seq>`). The id
 * names session and stream without revealing the session id, is visible ASCII,
 * and is a cursor into the session's Redis Stream.
 */
import { createHash } from 'node:crypto';

export interface ParsedEventId {
  sessionTag: string;
  streamId: string;
  entryId: string;
}

/** Recent sessions' tags: a warm session's calls reuse the hash instead of recomputing it per event. */
const TAG_CACHE_MAX = 4096;
const tags = new Map<string, string>();

/** The session part of an event id. */
export function sessionTag(sessionId: string): string {
  let tag = tags.get(sessionId);
  if (tag === undefined) {
    tag = createHash('sha256').update(sessionId).digest().subarray(0, 12).toString('base64url');
    if (tags.size >= TAG_CACHE_MAX) tags.delete(tags.keys().next().value as string);
    tags.set(sessionId, tag);
  }
  return tag;
}

/** The stream part of an event id. */
export function streamTag(streamId: string): string {
  return Buffer.from(streamId, 'utf8').toString('base64url');
}

/** Builds the event id of a stored entry. */
export function formatEventId(sessionId: string, streamId: string, entryId: string): string {
  return `${sessionTag(sessionId)}.${streamTag(streamId)}.${entryId}`;
}

/** Same, with precomputed tags (the hot path). */
export function formatEventIdFromTags(sTag: string, stTag: string, entryId: string): string {
  return `${sTag}.${stTag}.${entryId}`;
}

const ENTRY = /^\d{1,20}-\d{1,20}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Parses an event id; undefined when malformed. */
export function parseEventId(eventId: string): ParsedEventId | undefined {
  if (eventId.length > 1024) return undefined;
  const parts = eventId.split('.');
  if (parts.length !== 3) return undefined;
  const [sTag, stTag, entryId] = parts as [string, string, string];
  if (sTag.length !== 16 || !B64URL.test(sTag) || !B64URL.test(stTag) || !ENTRY.test(entryId)) return undefined;
  const streamId = Buffer.from(stTag, 'base64url').toString('utf8');
  if (streamTag(streamId) !== stTag) return undefined;
  return { sessionTag: sTag, streamId, entryId };
}

/** Compares two Redis Stream entry ids (`ms-seq`). */
export function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const ms = BigInt(am ?? '0') - BigInt(bm ?? '0');
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as ?? '0') - BigInt(bs ?? '0');
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
