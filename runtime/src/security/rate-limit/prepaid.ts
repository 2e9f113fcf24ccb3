/**
 * Tool decisions made together with a request's own limits (one Redis round
 * trip), kept until the policy layer asks for them. A decision is a token
 * already taken (or refused) for one call of `tool` by `principal`: whichever
 * of that principal's concurrent calls of the tool asks first gets it, which
 * keeps the count exact. Entries a refused call never collected expire after
 * `ttlMs`; at most `maxKeys` principal/tool pairs are kept.
 *
 * A pair stays in the map after its decision is taken (its slot is emptied,
 * not deleted): a put and a take per call would otherwise add and remove the
 * key every time, and each rehash of a promoted Map's table is allocated in
 * the old generation (see small-collections.ts).
 */
import type { LimitDecision } from '../types.ts';

export interface PrepaidDecisions {
  put(principalId: string, tool: string, decision: LimitDecision): void;
  /** The oldest live decision for this principal and tool, removed; undefined when none. */
  take(principalId: string, tool: string): LimitDecision | undefined;
  clear(): void;
}

interface Entry {
  decision: LimitDecision;
  until: number;
}

/** Creates the store (default: 10 s per entry, 10,000 pairs, 64 entries per pair). */
export function prepaidDecisions(opts: { ttlMs?: number; maxKeys?: number; maxPerKey?: number; now?: () => number } = {}): PrepaidDecisions {
  const ttl = opts.ttlMs ?? 10_000;
  const maxKeys = opts.maxKeys ?? 10_000;
  const maxPerKey = opts.maxPerKey ?? 64;
  const now = opts.now ?? (() => performance.now());
  /** null: the pair's slot, emptied by a take. */
  const map = new Map<string, Entry | Entry[] | null>();
  const keyOf = (p: string, t: string) => `${p}\n${t}`;

  return {
    put(principalId, tool, decision) {
      const k = keyOf(principalId, tool);
      const e: Entry = { decision, until: now() + ttl };
      const cur = map.get(k);
      if (cur === undefined || cur === null) {
        if (cur === undefined && map.size >= maxKeys) map.delete(map.keys().next().value!);
        map.set(k, e);
      } else if (Array.isArray(cur)) {
        if (cur.length >= maxPerKey) cur.shift();
        cur.push(e);
      } else {
        map.set(k, [cur, e]);
      }
    },
    take(principalId, tool) {
      const k = keyOf(principalId, tool);
      const cur = map.get(k);
      if (cur === undefined || cur === null) return undefined;
      const t = now();
      if (!Array.isArray(cur)) {
        map.set(k, null);
        return cur.until >= t ? cur.decision : undefined;
      }
      while (cur.length) {
        const e = cur.shift()!;
        if (e.until >= t) {
          if (!cur.length) map.set(k, null);
          return e.decision;
        }
      }
      map.set(k, null);
      return undefined;
    },
    clear() {
      map.clear();
    },
  };
}
