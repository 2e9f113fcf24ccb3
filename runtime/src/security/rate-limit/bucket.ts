/**
 * Token-bucket arithmetic shared by the Redis script (mirrored in Lua) and the
 * in-process fallback. A limit of N per second (or minute) with burst B is a
 * bucket of N + B tokens refilled at N per second (or minute): a quiet caller
 * may send N + B at once, then N per window.
 */
import type { RateLimitSpec } from '../../config/spec.ts';

export interface BucketParams {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size. */
  capacity: number;
}

export interface BucketSpec extends BucketParams {
  key: string;
  /** What the bucket limits, reported on refusal: `global`, `principal`, `session`, `tool:<name>`. */
  scope: string;
}

/** Bucket parameters of one configured limit. */
export function paramsOf(rl: RateLimitSpec): BucketParams {
  const perWindow = rl.requestsPerSecond ?? rl.requestsPerMinute ?? 1;
  const windowSeconds = rl.requestsPerSecond !== undefined ? 1 : 60;
  return { rate: perWindow / windowSeconds, capacity: Math.max(1, Math.floor(perWindow)) + rl.burst };
}

export interface BucketState {
  tokens: number;
  /** Last refill, milliseconds on the clock the caller uses. */
  at: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Index of the bucket that refused (the one with the longest wait), -1 when allowed. */
  denied: number;
  /** Milliseconds until the refusing bucket holds one token. */
  waitMs: number;
  next: BucketState[];
}

/** Takes one token from every bucket, or from none when any is empty (all-or-nothing). */
export function takeAll(states: ReadonlyArray<BucketState | undefined>, params: readonly BucketParams[], now: number): TakeResult {
  const next: BucketState[] = [];
  let denied = -1;
  let waitMs = 0;
  params.forEach((p, i) => {
    const s = states[i] ?? { tokens: p.capacity, at: now };
    const tokens = now > s.at ? Math.min(p.capacity, s.tokens + ((now - s.at) / 1000) * p.rate) : s.tokens;
    next.push({ tokens, at: Math.max(now, s.at) });
    if (tokens < 1) {
      const w = ((1 - tokens) / p.rate) * 1000;
      if (w > waitMs) {
        waitMs = w;
        denied = i;
      }
    }
  });
  if (denied < 0) for (const s of next) s.tokens -= 1;
  return { allowed: denied < 0, denied, waitMs, next };
}

/** Retry-After in whole seconds (at least 1) from a wait in milliseconds. */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
