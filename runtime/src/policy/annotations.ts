/**
 * Annotation policy: annotations are claims, so combining the backend's with
 * an operator override can only make a tool look riskier, never safer.
 * (Clients auto-approve read-only tools; the session layer re-runs
 * `idempotentHint` tools after a replica loss — a false claim must not
 * unlock either.)
 */
import { destructiveVerb } from './audit/annotation-mismatch.ts';
import type { ToolDef } from './audit/types.ts';

/** For each boolean hint: its MCP default when absent, and which value is the riskier one. */
const HINTS: Record<string, { absent: boolean; risky: boolean }> = {
  readOnlyHint: { absent: false, risky: false },
  destructiveHint: { absent: true, risky: true },
  idempotentHint: { absent: false, risky: false },
  openWorldHint: { absent: true, risky: true },
};

/** Merges `override` into `backend`; hint changes that would lower risk are dropped and listed in `ignored`. */
export function mergeAnnotations(
  backend: Record<string, unknown> | undefined,
  override: Record<string, unknown> | undefined,
): { annotations: Record<string, unknown> | undefined; ignored: string[] } {
  if (!override) return { annotations: backend, ignored: [] };
  const out: Record<string, unknown> = { ...(backend ?? {}) };
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(override)) {
    const hint = HINTS[k];
    if (!hint) {
      out[k] = v;
      continue;
    }
    const current = typeof backend?.[k] === 'boolean' ? (backend[k] as boolean) : hint.absent;
    if (typeof v === 'boolean' && (v === hint.risky || v === current)) out[k] = v;
    else ignored.push(`${k}: ${JSON.stringify(v)}`);
  }
  return { annotations: out, ignored };
}

/**
 * The annotations a client should see: a tool whose name says it deletes
 * (etc.) loses a read-only / non-destructive claim.
 */
export function distrustContradictions(tool: ToolDef): ToolDef {
  const ann = tool.annotations;
  if (!ann || !destructiveVerb(tool)) return tool;
  if (ann['readOnlyHint'] !== true && ann['destructiveHint'] !== false) return tool;
  return { ...tool, annotations: { ...ann, readOnlyHint: false, destructiveHint: true } };
}

/** Whether a tool may destroy data, by MCP's defaults (not read-only and not marked non-destructive). */
export function isDestructive(tool: ToolDef): boolean {
  const ann = tool.annotations ?? {};
  return ann['readOnlyHint'] !== true && ann['destructiveHint'] !== false;
}
