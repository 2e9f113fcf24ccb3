/** Protocol revisions Berth serves, per era. */
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSION } from './meta-keys.ts';

/** The first revision of the stateless (per-request `_meta` envelope) era. */
export const FIRST_MODERN_VERSION = MODERN_PROTOCOL_VERSION;

/** Stateless revisions served on the modern path. */
export const MODERN_VERSIONS: readonly string[] = Object.freeze([FIRST_MODERN_VERSION]);

/** Session-based revisions served by the legacy session layer (newest first). */
export const LEGACY_VERSIONS: readonly string[] = Object.freeze([...LEGACY_PROTOCOL_VERSIONS]);

/** The revision assumed when a legacy request names none (spec: 2025-03-26). */
export const DEFAULT_LEGACY_VERSION: string = DEFAULT_NEGOTIATED_PROTOCOL_VERSION;

const modern = new Set(MODERN_VERSIONS);
const legacy = new Set(LEGACY_VERSIONS);

/** Whether a revision string belongs to the modern era (ISO dates compare lexically). */
export const isModernVersion = (version: string): boolean => version >= FIRST_MODERN_VERSION;

/** Whether `version` is a revision this runtime serves in either era. */
export const isServedVersion = (version: string): boolean => modern.has(version) || legacy.has(version);

export const isServedModernVersion = (version: string): boolean => modern.has(version);
export const isServedLegacyVersion = (version: string): boolean => legacy.has(version);

/**
 * Whether a legacy client understands SSE events with empty data (priming
 * events carrying only an id): fixed in 2025-11-25; older clients may try to
 * parse the empty payload.
 */
export const supportsPrimingEvents = (version: string): boolean => legacy.has(version) && version >= '2025-11-25';
