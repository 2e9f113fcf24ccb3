/**
 * Request-level (global, per principal, per session) and per-tool rate limits.
 *
 * With Redis: one EVALSHA per decision runs the atomic bucket script, so the
 * limits are exact across every replica of the McpServer.
 *
 * Without Redis, or while it is unreachable (not `ready`, a command error, or
 * no answer within `timeoutMs`): the same buckets are kept in process memory.
 * Each replica then enforces the full limit on its own, so the McpServer-wide
 * admission can reach replicas × limit until Redis is back; the local buckets
 * are never reconciled with Redis. This keeps the service available rather
 * than failing every request closed. The outage is logged once when it starts
 * and once when it ends.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Principal } from '../../backend/types.ts';
import type { RuntimeConfig } from '../../config/runtime-config.ts';
import type { RateLimitSpec } from '../../config/spec.ts';
import { lookup } from '../../policy/glob.ts';
import type { LimitDecision, RequestLimiter } from '../types.ts';
import { paramsOf, retryAfterSeconds, takeAll, type BucketSpec, type BucketState } from './bucket.ts';
import { BUCKET_LUA, BUCKET_SHA } from './script.ts';

export interface RateLimiterDeps {
  redis?: Redis | Cluster;
  /** The McpServer's key prefix (with a `{hash tag}`); limiter keys are `<prefix>rl:…`. */
  keyPrefix: string;
  logger: Logger;
  /** A Redis answer slower than this counts as an outage for that decision (default 250 ms). */
  timeoutMs?: number;
  /** Most buckets kept in memory by the fallback (default 50,000). */
  maxLocalBuckets?: number;
}

export interface RateLimiter extends RequestLimiter {
  /** Where the last decision was made. */
  mode(): 'redis' | 'local';
}

const hashId = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 22);

/** The prefix for limiter keys; adds a hash tag when the configured prefix lacks one so every script stays in one slot. */
export function limiterPrefix(keyPrefix: string, tenant: { namespace: string; name: string }): string {
  const open = keyPrefix.indexOf('{');
  // Redis hashes the text between the first `{` and the next `}` when it is non-empty.
  const tagged = open >= 0 && keyPrefix.indexOf('}', open + 1) > open + 1;
  return tagged ? `${keyPrefix}rl:` : `${keyPrefix}rl:{${tenant.namespace}/${tenant.name}}:`;
}

/** Creates the limiter for `config.spec.rateLimits`. */
export function createRateLimiter(config: RuntimeConfig, deps: RateLimiterDeps): RateLimiter {
  const limits = config.spec.rateLimits;
  const prefix = limiterPrefix(deps.keyPrefix, config.tenant);
  const log = deps.logger.child({ component: 'rate-limit' });
  const timeoutMs = deps.timeoutMs ?? 250;
  const maxLocal = deps.maxLocalBuckets ?? 50_000;
  const local = new Map<string, BucketState>();
  let outage = false;
  let lastMode: 'redis' | 'local' = deps.redis ? 'redis' : 'local';

  const bucket = (rl: RateLimitSpec, key: string, scope: string): BucketSpec => ({ ...paramsOf(rl), key: prefix + key, scope });

  function takeLocal(specs: readonly BucketSpec[]): LimitDecision {
    lastMode = 'local';
    const now = performance.now();
    const states = specs.map((s) => local.get(s.key));
    const r = takeAll(states, specs, now);
    specs.forEach((s, i) => {
      local.delete(s.key);
      local.set(s.key, r.next[i]!);
    });
    while (local.size > maxLocal) local.delete(local.keys().next().value!);
    return r.allowed ? { ok: true } : { ok: false, retryAfterSeconds: retryAfterSeconds(r.waitMs), scope: specs[r.denied]!.scope };
  }

  async function evalBuckets(redis: Redis | Cluster, specs: readonly BucketSpec[]): Promise<[number, string]> {
    const keys = specs.map((s) => s.key);
    const args = specs.flatMap((s) => [String(s.rate), String(s.capacity)]);
    try {
      return (await redis.evalsha(BUCKET_SHA, keys.length, ...keys, ...args)) as [number, string];
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return (await redis.eval(BUCKET_LUA, keys.length, ...keys, ...args)) as [number, string];
    }
  }

  function withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  function enterOutage(reason: string): void {
    if (outage) return;
    outage = true;
    log.warn({ reason }, 'Redis unreachable: rate limits fall back to per-replica local buckets');
  }

  async function take(specs: readonly BucketSpec[]): Promise<LimitDecision> {
    if (specs.length === 0) return { ok: true };
    const redis = deps.redis;
    if (!redis) return takeLocal(specs);
    if (redis.status !== 'ready') {
      enterOutage(`connection ${redis.status}`);
      return takeLocal(specs);
    }
    try {
      const [denied, waitMicros] = await withTimeout(evalBuckets(redis, specs));
      if (outage) {
        outage = false;
        log.info('Redis reachable again: rate limits are shared across replicas');
      }
      lastMode = 'redis';
      if (Number(denied) === 0) return { ok: true };
      return { ok: false, retryAfterSeconds: retryAfterSeconds(Number(waitMicros) / 1000), scope: specs[Number(denied) - 1]!.scope };
    } catch (err) {
      enterOutage((err as Error).message);
      return takeLocal(specs);
    }
  }

  return {
    mode: () => lastMode,
    checkRequest(principal: Principal, sessionId: string | undefined): Promise<LimitDecision> {
      const specs: BucketSpec[] = [];
      if (limits.global) specs.push(bucket(limits.global, 'g', 'global'));
      if (limits.perPrincipal) specs.push(bucket(limits.perPrincipal, `p:${hashId(principal.id)}`, 'principal'));
      if (limits.perSession && sessionId) specs.push(bucket(limits.perSession, `s:${hashId(sessionId)}`, 'session'));
      return take(specs);
    },
    checkTool(_principal: Principal, tool: string): Promise<LimitDecision> {
      const rl = lookup(limits.tools, tool);
      // One bucket per tool, shared by all callers: it protects the tool's backend; fairness between callers is perPrincipal's job.
      return take(rl ? [bucket(rl, `t:${hashId(tool)}`, `tool:${tool}`)] : []);
    },
    async close(): Promise<void> {
      local.clear();
    },
  };
}
