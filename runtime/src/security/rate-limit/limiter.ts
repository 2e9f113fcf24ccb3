/**
 * Request-level (global, per principal, per session) and per-tool rate limits.
 *
 * With Redis: one EVALSHA per HTTP request runs the atomic bucket script, so
 * the limits are exact across every replica of the McpServer. When the HTTP
 * layer already knows the request is a tools/call (the body is parsed before
 * the check), it names the tool and the tool's bucket is decided in the same
 * script call; that decision is kept for the policy layer's `checkTool`,
 * which then costs nothing. A request no rule applies to never reaches Redis.
 * Busy buckets (200 tokens or more) also lease a few tokens per replica and
 * spend them without a round trip; see lease.ts for what that trades.
 *
 * Without Redis, or while it is unreachable (not `ready`, a command error, or
 * no answer within `timeoutMs`): the same buckets are kept in process memory.
 * Each replica then enforces the full limit on its own, so the McpServer-wide
 * admission can reach replicas × limit until Redis is back; the local buckets
 * are never reconciled with Redis. This keeps the service available rather
 * than failing every request closed. The outage is logged once when it starts
 * and once when it ends.
 */
import { hash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Principal } from '../../backend/types.ts';
import type { RuntimeConfig } from '../../config/runtime-config.ts';
import type { RateLimitSpec } from '../../config/spec.ts';
import { lookup } from '../../policy/glob.ts';
import type { LimitDecision, RequestLimiter } from '../types.ts';
import { paramsOf, retryAfterSeconds, takeAll, type BucketSpec, type BucketState } from './bucket.ts';
import { deadlines } from './deadlines.ts';
import { leases } from './lease.ts';
import { prepaidDecisions } from './prepaid.ts';
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
  /** Largest token lease per bucket and replica (default 100; 0 = every decision asks Redis). */
  maxLease?: number;
  /** How long leased tokens stay usable (default 1 s). */
  leaseMs?: number;
}

export interface RateLimiter extends RequestLimiter {
  /** Where the last decision was made. */
  mode(): 'redis' | 'local';
}

interface LeasedSpec extends BucketSpec {
  /** Lease size this bucket asks for (0 = none). */
  lease: number;
}

/** {request denied, its wait µs, tool denied, its wait µs, lease granted per bucket…} */
type ScriptResult = [number, string, number, string, ...number[]];

const hashId = (s: string): string => hash('sha256', s, 'base64url').slice(0, 22);
const OK: LimitDecision = Object.freeze({ ok: true });
/** Most principals / tools whose bucket specs are kept ready-made. */
const SPEC_CACHE = 10_000;

/** The prefix for limiter keys; adds a hash tag when the configured prefix lacks one so every script stays in one slot. */
export function limiterPrefix(keyPrefix: string, tenant: { namespace: string; name: string }): string {
  const open = keyPrefix.indexOf('{');
  // Redis hashes the text between the first `{` and the next `}` when it is non-empty.
  const tagged = open >= 0 && keyPrefix.indexOf('}', open + 1) > open + 1;
  return tagged ? `${keyPrefix}rl:` : `${keyPrefix}rl:{${tenant.namespace}/${tenant.name}}:`;
}

/** A small insertion-ordered memo (oldest dropped first). */
function memo<V>(max: number, make: (k: string) => V): (k: string) => V {
  const m = new Map<string, V>();
  return (k) => {
    let v = m.get(k);
    if (v === undefined) {
      v = make(k);
      if (m.size >= max) m.delete(m.keys().next().value!);
      m.set(k, v);
    }
    return v;
  };
}

/** Creates the limiter for `config.spec.rateLimits`. */
export function createRateLimiter(config: RuntimeConfig, deps: RateLimiterDeps): RateLimiter {
  const limits = config.spec.rateLimits;
  // `b:` names the string-valued bucket format (older releases kept hashes under other names).
  const prefix = `${limiterPrefix(deps.keyPrefix, config.tenant)}b:`;
  const log = deps.logger.child({ component: 'rate-limit' });
  const timeoutMs = deps.timeoutMs ?? 250;
  const maxLocal = deps.maxLocalBuckets ?? 50_000;
  const local = new Map<string, BucketState>();
  const race = deadlines(timeoutMs);
  const prepaid = prepaidDecisions();
  const leased = leases({ maxLease: deps.maxLease, leaseMs: deps.leaseMs });
  let outage = false;
  let lastMode: 'redis' | 'local' = deps.redis ? 'redis' : 'local';

  const bucket = (rl: RateLimitSpec, key: string, scope: string): LeasedSpec => {
    const p = paramsOf(rl);
    return { ...p, key: prefix + key, scope, lease: leased.want(p) };
  };
  const globalSpec = limits.global ? bucket(limits.global, 'g', 'global') : undefined;
  const principalSpec = memo(SPEC_CACHE, (id) => bucket(limits.perPrincipal!, `p:${hashId(id)}`, 'principal'));
  const toolSpec = memo(SPEC_CACHE, (tool): LeasedSpec | null => {
    const rl = lookup(limits.tools, tool);
    // One bucket per tool, shared by all callers: it protects the tool's backend; fairness between callers is perPrincipal's job.
    return rl ? bucket(rl, `t:${hashId(tool)}`, `tool:${tool}`) : null;
  });

  function requestSpecs(principal: Principal, sessionId: string | undefined): LeasedSpec[] {
    const specs: LeasedSpec[] = [];
    if (globalSpec) specs.push(globalSpec);
    if (limits.perPrincipal) specs.push(principalSpec(principal.id));
    if (limits.perSession && sessionId) specs.push(bucket(limits.perSession, `s:${hashId(sessionId)}`, 'session'));
    return specs;
  }

  const refusal = (spec: BucketSpec, waitMs: number): LimitDecision => ({ ok: false, retryAfterSeconds: retryAfterSeconds(waitMs), scope: spec.scope });

  function takeLocalGroup(specs: readonly BucketSpec[], now: number): LimitDecision {
    const r = takeAll(
      specs.map((s) => local.get(s.key)),
      specs,
      now,
    );
    specs.forEach((s, i) => {
      local.delete(s.key);
      local.set(s.key, r.next[i]!);
    });
    while (local.size > maxLocal) local.delete(local.keys().next().value!);
    return r.allowed ? OK : refusal(specs[r.denied]!, r.waitMs);
  }

  /** The in-memory twin of the script: the tool group only when the request group admits. */
  function takeLocal(req: readonly BucketSpec[], tool: readonly BucketSpec[]): [LimitDecision, LimitDecision] {
    lastMode = 'local';
    const now = performance.now();
    const r = req.length ? takeLocalGroup(req, now) : OK;
    if (!r.ok || !tool.length) return [r, OK];
    return [r, takeLocalGroup(tool, now)];
  }

  async function evalBuckets(redis: Redis | Cluster, numKeys: number, args: Array<string | number>): Promise<ScriptResult> {
    try {
      return (await redis.evalsha(BUCKET_SHA, numKeys, ...args)) as ScriptResult;
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return (await redis.eval(BUCKET_LUA, numKeys, ...args)) as ScriptResult;
    }
  }

  function enterOutage(reason: string): void {
    if (outage) return;
    outage = true;
    log.warn({ reason }, 'Redis unreachable: rate limits fall back to per-replica local buckets');
  }

  /** Decides the request group and then the tool group (see script.ts); both OK when neither has a bucket. */
  async function take(req: readonly LeasedSpec[], tool: readonly LeasedSpec[]): Promise<[LimitDecision, LimitDecision]> {
    const n = req.length + tool.length;
    if (n === 0) return [OK, OK];
    const redis = deps.redis;
    if (!redis) return takeLocal(req, tool);
    if (redis.status !== 'ready') {
      enterOutage(`connection ${redis.status}`);
      return takeLocal(req, tool);
    }
    const all = tool.length ? [...req, ...tool] : req;
    if (leased.takeAll(all)) return [OK, OK];
    const refill = refillAwaited(all);
    if (refill) {
      await refill;
      if (leased.takeAll(all)) return [OK, OK];
    }
    const args: Array<string | number> = [];
    for (const s of all) args.push(s.key);
    args.push(req.length);
    const asked: string[] = [];
    for (const s of all) {
      const want = leased.ask(s.key, s.lease);
      if (want > 0) asked.push(s.key);
      args.push(s.rate, s.capacity, want);
    }
    try {
      const res = await race(evalBuckets(redis, n, args));
      const [rDenied, rWait, tDenied, tWait] = res;
      for (let i = 0; i < n; i++) {
        const granted = Number(res[4 + i] ?? 0);
        if (granted > 0) leased.grant(all[i]!.key, granted);
      }
      if (outage) {
        outage = false;
        log.info('Redis reachable again: rate limits are shared across replicas');
      }
      lastMode = 'redis';
      const r = Number(rDenied) === 0 ? OK : refusal(req[Number(rDenied) - 1]!, Number(rWait) / 1000);
      const t = Number(tDenied) === 0 ? OK : refusal(tool[Number(tDenied) - 1]!, Number(tWait) / 1000);
      return [r, t];
    } catch (err) {
      enterOutage((err as Error).message);
      return takeLocal(req, tool);
    } finally {
      // Ends the asks that got nothing (or failed); the ones granted above already woke their waiters.
      for (const k of asked) leased.grant(k, 0);
    }
  }

  /**
   * A pending refill that could give every bucket of a decision a leased
   * token: each bucket either holds a token already or has an ask in flight.
   * Waiting for it costs no more than a round trip of one's own, and spares
   * Redis one script per concurrent miss; the decision checks the lease again
   * afterwards.
   */
  function refillAwaited(all: readonly LeasedSpec[]): Promise<void> | undefined {
    let wait: Promise<void> | undefined;
    for (const s of all) {
      if (leased.holds(s.key)) continue;
      wait = leased.refill(s.key);
      if (wait === undefined) return undefined;
    }
    return wait;
  }

  return {
    mode: () => lastMode,
    async checkRequest(principal: Principal, sessionId: string | undefined, tool?: string): Promise<LimitDecision> {
      const t = tool === undefined ? null : toolSpec(tool);
      const [r, td] = await take(requestSpecs(principal, sessionId), t ? [t] : []);
      // The tool's decision is kept only when its bucket was looked at (the request was admitted).
      if (t && r.ok) prepaid.put(principal.id, tool!, td);
      return r;
    },
    handOff(principal: Principal, tool: string): LimitDecision | undefined {
      return toolSpec(tool) ? prepaid.take(principal.id, tool) : undefined;
    },
    adopt(principal: Principal, tool: string, decision: LimitDecision): void {
      if (toolSpec(tool)) prepaid.put(principal.id, tool, decision);
    },
    async checkTool(principal: Principal, tool: string): Promise<LimitDecision> {
      const t = toolSpec(tool);
      if (!t) return OK;
      const pre = prepaid.take(principal.id, tool);
      if (pre) return pre;
      return (await take([], [t]))[1];
    },
    async close(): Promise<void> {
      local.clear();
      prepaid.clear();
      leased.clear();
      race.close();
    },
  };
}
