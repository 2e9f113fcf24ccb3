/**
 * Era translation of the handshake: a 2025-era server's InitializeResult
 * becomes a 2026-07-28 DiscoverResult, and a modern server's DiscoverResult
 * becomes the InitializeResult a legacy client receives.
 */
import { negotiateLegacyVersion } from './envelope.ts';
import { MODERN_PROTOCOL_VERSION } from '../../protocol/meta-keys.ts';
import { encodeModernResult } from './modern-result.ts';

/** The parts of a 2025-era InitializeResult the bridge uses. */
export interface InitializeResultLike {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string; [k: string]: unknown };
  instructions?: string;
  [k: string]: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Validates the shape of an `initialize` result from a server; undefined when unusable. */
export function asInitializeResult(result: unknown): InitializeResultLike | undefined {
  if (!isObj(result) || typeof result.protocolVersion !== 'string' || !isObj(result.capabilities)) return undefined;
  const si = result.serverInfo;
  const serverInfo = isObj(si) && typeof si.name === 'string' ? { ...si, name: si.name, version: typeof si.version === 'string' ? si.version : '0' } : { name: 'unknown', version: '0' };
  return { ...result, protocolVersion: result.protocolVersion, capabilities: result.capabilities, serverInfo } as InitializeResultLike;
}

/**
 * Capabilities without `tasks`: Berth does not relay the experimental
 * 2025-11-25 tasks (they do not exist on 2026-07-28, and a shared server
 * could not keep one client's tasks from another).
 */
export function withoutTasks(capabilities: Record<string, unknown>): Record<string, unknown> {
  if (!('tasks' in capabilities)) return capabilities;
  const { tasks: _drop, ...rest } = capabilities;
  return rest;
}

/** Synthesizes a `server/discover` result (2026-07-28 wire form) from a 2025-era handshake. */
export function discoverFromInitialize(init: InitializeResultLike): Record<string, unknown> {
  const result: Record<string, unknown> = {
    supportedVersions: [MODERN_PROTOCOL_VERSION],
    capabilities: withoutTasks(init.capabilities),
  };
  if (typeof init.instructions === 'string') result.instructions = init.instructions;
  return encodeModernResult('server/discover', result, init.serverInfo);
}

/** Builds the InitializeResult a legacy client gets, from the server's own handshake. */
export function initializeForClient(init: InitializeResultLike, requestedVersion: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {
    protocolVersion: negotiateLegacyVersion(requestedVersion, init.protocolVersion),
    capabilities: withoutTasks(init.capabilities),
    serverInfo: init.serverInfo,
  };
  if (typeof init.instructions === 'string') out.instructions = init.instructions;
  return out;
}

/** Builds a legacy InitializeResult from a modern server's DiscoverResult. */
export function initializeFromDiscover(discover: Record<string, unknown>, requestedVersion: unknown, fallbackServerInfo: { name: string; version: string }): InitializeResultLike {
  const meta = isObj(discover._meta) ? discover._meta : {};
  const si = meta['io.modelcontextprotocol/serverInfo'];
  const serverInfo = isObj(si) && typeof si.name === 'string' && typeof si.version === 'string' ? (si as InitializeResultLike['serverInfo']) : fallbackServerInfo;
  const out: InitializeResultLike = {
    protocolVersion: negotiateLegacyVersion(requestedVersion, '2025-11-25'),
    capabilities: isObj(discover.capabilities) ? discover.capabilities : {},
    serverInfo,
  };
  if (typeof discover.instructions === 'string') out.instructions = discover.instructions;
  return out;
}
