/**
 * A forwarded legacy request (one replica → the session's owner) is limited
 * once, on the replica the client reached: the owner admits a verified forward
 * without charging the request buckets again, and takes the tool decision the
 * forwarding replica already made from this header instead of charging the
 * tool bucket a second time. The forwarding replica always sets the header
 * (`none` when it decided nothing), so a value a client sent never reaches
 * the owner.
 */
import type { LimitDecision } from '../security/types.ts';

export const TOOL_DECISION_HEADER = 'x-berth-forward-tool-limit';

/** The header value for a tool decision (or its absence). */
export function encodeToolDecision(decision: LimitDecision | undefined): string {
  if (decision === undefined) return 'none';
  if (decision.ok) return 'ok';
  return `refused;${encodeURIComponent(decision.scope)};${decision.retryAfterSeconds}`;
}

/** The tool decision carried by a verified forward; undefined for `none` or anything malformed. */
export function decodeToolDecision(value: string | undefined): LimitDecision | undefined {
  if (value === 'ok') return { ok: true };
  const m = value === undefined ? null : /^refused;([^;]{1,200});(\d{1,7}(?:\.\d{1,6})?)$/.exec(value);
  if (!m) return undefined;
  return { ok: false, scope: decodeURIComponent(m[1]!), retryAfterSeconds: Number(m[2]) };
}
