/**
 * Authentication of the internal hop between replicas: an HMAC-SHA256 over
 * the forwarding replica, a timestamp, the method, path and session id, keyed
 * with the shared internal token. It only proves "another replica of this
 * McpServer routed this here"; the client's own credentials travel with the
 * request and are checked again by the owner.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARDED_BY = 'x-berth-forwarded-by';
export const FORWARDED_AT = 'x-berth-forwarded-at';
export const FORWARDED_SIG = 'x-berth-forwarded-sig';

/** Signatures older or newer than this are refused (replays, skewed clocks). */
export const MAX_SKEW_MS = 30_000;

function mac(token: string, from: string, at: string, method: string, path: string, sessionId: string): string {
  return createHmac('sha256', token).update(`${from}\n${at}\n${method.toUpperCase()}\n${path}\n${sessionId}`).digest('base64url');
}

/** Headers that mark a request as forwarded by replica `from`. */
export function signForward(token: string, from: string, method: string, path: string, sessionId: string, now = Date.now()): Record<string, string> {
  const at = String(now);
  return { [FORWARDED_BY]: from, [FORWARDED_AT]: at, [FORWARDED_SIG]: mac(token, from, at, method, path, sessionId) };
}

export type ForwardCheck = 'absent' | 'valid' | 'invalid';

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Checks the forwarding headers of a request against any of `tokens` (current and previous). */
export function verifyForward(
  tokens: readonly string[],
  headers: Record<string, string | string[] | undefined>,
  method: string,
  path: string,
  sessionId: string,
  now = Date.now(),
): ForwardCheck {
  const from = one(headers[FORWARDED_BY]);
  const at = one(headers[FORWARDED_AT]);
  const sig = one(headers[FORWARDED_SIG]);
  if (from === undefined && at === undefined && sig === undefined) return 'absent';
  if (!from || !at || !sig || !/^\d{1,16}$/.test(at) || Math.abs(now - Number(at)) > MAX_SKEW_MS) return 'invalid';
  const given = Buffer.from(sig);
  for (const token of tokens) {
    if (!token) continue;
    const expected = Buffer.from(mac(token, from, at, method, path, sessionId));
    if (expected.length === given.length && timingSafeEqual(expected, given)) return 'valid';
  }
  return 'invalid';
}
