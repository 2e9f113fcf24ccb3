/** MCP logging levels (RFC 5424 order) and the per-audience filter. */

const ORDER = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof ORDER)[number];

/** Whether `level` is a known MCP logging level. */
export function isLogLevel(level: unknown): level is LogLevel {
  return typeof level === 'string' && (ORDER as readonly string[]).includes(level);
}

/**
 * Whether a `notifications/message` at `level` reaches an audience whose
 * threshold is `threshold`. `undefined` threshold: `allowByDefault` decides
 * (2025-era sessions get everything until `logging/setLevel`; a 2026-07-28
 * request without the logLevel key gets nothing).
 */
export function passesLogLevel(level: unknown, threshold: string | undefined, allowByDefault: boolean): boolean {
  if (threshold === undefined) return allowByDefault;
  const t = ORDER.indexOf(threshold as LogLevel);
  const l = ORDER.indexOf(level as LogLevel);
  if (t < 0) return allowByDefault;
  return l < 0 ? true : l >= t;
}
