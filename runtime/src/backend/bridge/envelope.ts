/**
 * The 2026-07-28 per-request `_meta` envelope: reading and building it, and
 * which revisions the bridge relays. The constants live in protocol/meta-keys.ts.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LEGACY_PROTOCOL_VERSIONS,
  LOG_LEVEL_META_KEY,
  META_PREFIX,
  MODERN_PROTOCOL_VERSION,
  PROTOCOL_VERSION_META_KEY,
} from '../../protocol/meta-keys.ts';

/** Whether `version` names a modern (sessionless) revision. */
export function isModernVersion(version: string | undefined): boolean {
  return typeof version === 'string' && version >= MODERN_PROTOCOL_VERSION;
}

/** Whether `version` is a 2025-era revision Berth can relay. */
export function isLegacyVersion(version: unknown): version is string {
  return typeof version === 'string' && (LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(version);
}

export interface Envelope {
  protocolVersion?: string;
  clientInfo?: Record<string, unknown>;
  clientCapabilities?: Record<string, unknown>;
  logLevel?: string;
}

function metaOf(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta;
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
}

/** Reads the reserved envelope keys of a modern request. */
export function readEnvelope(params: Record<string, unknown> | undefined): Envelope {
  const meta = metaOf(params);
  if (!meta) return {};
  const obj = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const env: Envelope = {};
  const pv = str(meta[PROTOCOL_VERSION_META_KEY]);
  if (pv !== undefined) env.protocolVersion = pv;
  const ci = obj(meta[CLIENT_INFO_META_KEY]);
  if (ci) env.clientInfo = ci;
  const cc = obj(meta[CLIENT_CAPABILITIES_META_KEY]);
  if (cc) env.clientCapabilities = cc;
  const ll = str(meta[LOG_LEVEL_META_KEY]);
  if (ll !== undefined) env.logLevel = ll;
  return env;
}

/**
 * Removes the reserved `io.modelcontextprotocol/*` keys from `params._meta`
 * (a 2025-era server would otherwise see them as foreign metadata). Keeps
 * `progressToken` and any extension keys. Returns `params` itself when there
 * is nothing to strip, so the common path allocates nothing.
 */
export function stripEnvelope(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = metaOf(params);
  if (!params || !meta) return params;
  let reserved = false;
  for (const k in meta) {
    if (k.startsWith(META_PREFIX)) {
      reserved = true;
      break;
    }
  }
  if (!reserved) return params;
  const kept: Record<string, unknown> = {};
  let any = false;
  for (const k in meta) {
    if (!k.startsWith(META_PREFIX)) {
      kept[k] = meta[k];
      any = true;
    }
  }
  const out: Record<string, unknown> = { ...params };
  if (any) out._meta = kept;
  else delete out._meta;
  return out;
}

/** Builds the envelope `_meta` keys a modern server expects on every request. */
export function buildEnvelope(env: Required<Pick<Envelope, 'clientInfo' | 'clientCapabilities'>> & { logLevel?: string }): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    [PROTOCOL_VERSION_META_KEY]: MODERN_PROTOCOL_VERSION,
    [CLIENT_INFO_META_KEY]: env.clientInfo,
    [CLIENT_CAPABILITIES_META_KEY]: env.clientCapabilities,
  };
  if (env.logLevel !== undefined) meta[LOG_LEVEL_META_KEY] = env.logLevel;
  return meta;
}

/** Returns `params` with `extra` merged into `_meta` (extra wins). */
export function withMeta(params: Record<string, unknown> | undefined, extra: Record<string, unknown>): Record<string, unknown> {
  const meta = metaOf(params);
  return { ...(params ?? {}), _meta: { ...(meta ?? {}), ...extra } };
}

/**
 * Picks the revision to answer a legacy `initialize` with: the older of the
 * client's request and the server's own revision (revisions are dates), so
 * neither side is promised features the other lacks; the server's revision
 * when the request names none Berth knows.
 */
export function negotiateLegacyVersion(requested: unknown, serverVersion: string): string {
  if (!isLegacyVersion(requested)) return serverVersion;
  return isLegacyVersion(serverVersion) && serverVersion < requested ? serverVersion : requested;
}
