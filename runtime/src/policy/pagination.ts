/**
 * Opaque cursors for the policy's own `tools/list` pagination. A cursor
 * carries the offset and a digest of the served names, so any replica can
 * continue a walk, and a listing that changed mid-walk is detected.
 */
import { createHash } from 'node:crypto';

export const PAGE_TOOLS = 100;

/** A short digest of the served tool names. */
export function namesDigest(names: readonly string[]): string {
  return createHash('sha256').update(names.join('\n')).digest('base64url').slice(0, 12);
}

export function encodeCursor(offset: number, digest: string): string {
  return Buffer.from(JSON.stringify({ o: offset, d: digest })).toString('base64url');
}

/** The offset in a cursor, or an error message. */
export function decodeCursor(cursor: unknown, digest: string, total: number): { offset: number } | { error: string } {
  if (typeof cursor !== 'string' || cursor.length > 256) return { error: 'invalid cursor' };
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown; d?: unknown };
    if (typeof v.o !== 'number' || !Number.isInteger(v.o) || v.o < 0 || v.o > total) return { error: 'invalid cursor' };
    if (v.d !== digest) return { error: 'the tool list changed during pagination; list again from the start' };
    return { offset: v.o };
  } catch {
    return { error: 'invalid cursor' };
  }
}

/** One page from `offset`: at most PAGE_TOOLS tools and (beyond the first) at most `maxBytes` of JSON. */
export function pageOf<T>(items: readonly T[], offset: number, maxBytes: number): { page: T[]; next?: number } {
  const page: T[] = [];
  let bytes = 2;
  let i = offset;
  for (; i < items.length && page.length < PAGE_TOOLS; i++) {
    const size = Buffer.byteLength(JSON.stringify(items[i]), 'utf8') + 1;
    if (page.length > 0 && bytes + size > maxBytes) break;
    page.push(items[i]!);
    bytes += size;
  }
  return i < items.length ? { page, next: i } : { page };
}
