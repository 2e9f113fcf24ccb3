/**
 * Wire constants of the MCP revisions Berth serves: the 2026-07-28
 * per-request `_meta` envelope keys and the revision lists. They mirror the
 * SDK v2 constants of the same names but are spelled out here: the SDK's
 * entry point weighs about 16 MB resident, and a runtime whose backend is
 * stdio or remote never needs the rest of it (see protocol/classify.ts).
 * A test holds every value equal to the SDK's.
 */

export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** 2025-era revisions, newest first (the SDK's SUPPORTED_PROTOCOL_VERSIONS). */
export const LEGACY_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;
export const LATEST_LEGACY_PROTOCOL_VERSION = '2025-11-25';
/** The revision assumed when a legacy request names none (the SDK's DEFAULT_NEGOTIATED_PROTOCOL_VERSION). */
export const DEFAULT_NEGOTIATED_PROTOCOL_VERSION = '2025-03-26';

export const META_PREFIX = 'io.modelcontextprotocol/';
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_INFO_META_KEY = 'io.modelcontextprotocol/clientInfo';
export const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const LOG_LEVEL_META_KEY = 'io.modelcontextprotocol/logLevel';
export const SERVER_INFO_META_KEY = 'io.modelcontextprotocol/serverInfo';
export const SUBSCRIPTION_ID_META_KEY = 'io.modelcontextprotocol/subscriptionId';
