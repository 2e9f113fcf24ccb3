/**
 * Result shapes across eras. A 2026-07-28 client requires `resultType` on
 * every result and `ttlMs`/`cacheScope` on cacheable ones; a 2025-era
 * client has no such vocabulary. These pure functions convert one way or the
 * other, mirroring the SDK v2 encode contract (stamp, cache fields, deleted
 * fields, server identity).
 */
import { SERVER_INFO_META_KEY } from '../../protocol/meta-keys.ts';

/** Methods whose results carry cache hints on 2026-07-28. */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);
/** Methods whose results may be `input_required` (multi round-trip). */
export const INPUT_REQUIRED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Converts a 2025-era result into its 2026-07-28 wire form for `method`.
 * Cache hints default to "immediately stale, private": a bridged server
 * gives no freshness guarantee and policies may filter per principal.
 */
export function encodeModernResult(method: string, result: Record<string, unknown>, serverInfo?: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result };
  if (out.resultType !== 'input_required' || !INPUT_REQUIRED_METHODS.has(method)) out.resultType = 'complete';
  if (out.resultType === 'complete' && CACHEABLE.has(method)) {
    if (!(Number.isSafeInteger(out.ttlMs) && (out.ttlMs as number) >= 0)) out.ttlMs = 0;
    if (out.cacheScope !== 'public' && out.cacheScope !== 'private') out.cacheScope = 'private';
  }
  if (method === 'tools/list') Object.assign(out, withoutToolExecution(out));
  if (isObj(out.capabilities) && 'tasks' in out.capabilities) {
    const { tasks: _drop, ...rest } = out.capabilities;
    out.capabilities = rest;
  }
  if (serverInfo) {
    const meta = out._meta;
    if (meta === undefined) out._meta = { [SERVER_INFO_META_KEY]: serverInfo };
    else if (isObj(meta) && meta[SERVER_INFO_META_KEY] === undefined) out._meta = { ...meta, [SERVER_INFO_META_KEY]: serverInfo };
  }
  return out;
}

/**
 * A `tools/list` result without the tools' `execution` (task support): the
 * field is gone on 2026-07-28, and a shared server relays no tasks.
 */
export function withoutToolExecution(result: Record<string, unknown>): Record<string, unknown> {
  const tools = result.tools;
  if (!Array.isArray(tools) || !tools.some((t) => isObj(t) && 'execution' in t)) return result;
  return {
    ...result,
    tools: tools.map((t) => {
      if (!isObj(t) || !('execution' in t)) return t;
      const { execution: _drop, ...rest } = t;
      return rest;
    }),
  };
}

/** Maps a 2025-era error code to its 2026-07-28 equivalent (resource-not-found moved to -32602). */
export function encodeModernErrorCode(code: number): number {
  return code === -32002 ? -32602 : code;
}

/**
 * Converts a 2026-07-28 `complete` result to what a 2025-era client expects:
 * drops `resultType`, cache hints and the server identity stamp.
 */
export function decodeModernResult(result: Record<string, unknown>): Record<string, unknown> {
  const { resultType: _rt, ttlMs: _ttl, cacheScope: _cs, ...rest } = result;
  const meta = rest._meta;
  if (isObj(meta) && SERVER_INFO_META_KEY in meta) {
    const { [SERVER_INFO_META_KEY]: _si, ...m } = meta;
    if (Object.keys(m).length) rest._meta = m;
    else delete rest._meta;
  }
  return rest;
}

/** Whether a 2026-07-28 result asks the client for input (multi round-trip). */
export function isInputRequired(result: Record<string, unknown>): boolean {
  return result.resultType === 'input_required';
}
