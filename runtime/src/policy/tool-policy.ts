/**
 * Decides what happens to each tool of a backend listing: filtered by
 * allow/deny, overridden, audited, compared with its pin, gated when
 * destructive. Pure apart from the pin store it is given.
 */
import type { McpServerSpec } from '../config/spec.ts';
import { auditTool } from './audit/rules.ts';
import type { Finding, ToolDef } from './audit/types.ts';
import { distrustContradictions, isDestructive, mergeAnnotations } from './annotations.ts';
import { globMatch, isLiteral, lookup, matchesAny } from './glob.ts';
import type { PinStore } from './pins.ts';
import { stripInvisible } from './unicode.ts';

export type ToolState = 'ok' | 'warn' | 'blocked' | 'gated' | 'denied';

export interface ToolStatus {
  name: string;
  state: ToolState;
  /** Digest of the tool exactly as the backend listed it. */
  digest: string;
  pinnedDigest?: string;
  findings: Finding[];
  /** Why the state is what it is, and overrides that were ignored. */
  notes: string[];
  /** The tool as clients see it (after overrides, annotation policy and sanitizing). */
  tool: ToolDef;
}

export interface ToolPolicyOptions {
  tools: McpServerSpec['tools'];
  /** `auth.oauth.toolScopes` (an entry makes a destructive tool explicit). */
  toolScopes: Readonly<Record<string, readonly string[]>>;
  sanitize: McpServerSpec['output']['sanitize'];
}

/** Strips invisible characters from the prose of a tool (descriptions and titles at every level). */
export function sanitizeToolText(tool: ToolDef): ToolDef {
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return key === 'description' || key === 'title' ? stripInvisible(v) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(tool) as ToolDef;
}

function applyOverride(raw: ToolDef, opts: ToolPolicyOptions, notes: string[]): ToolDef {
  const ov = lookup(opts.tools.overrides, raw.name);
  let tool: ToolDef = raw;
  if (ov) {
    tool = { ...raw };
    if (ov.description !== undefined) tool.description = ov.description;
    if (ov.title !== undefined) tool.title = ov.title;
    if (ov.annotations) {
      const { annotations, ignored } = mergeAnnotations(raw.annotations, ov.annotations);
      if (annotations) tool.annotations = annotations;
      for (const i of ignored) notes.push(`override ignored (would lower risk): ${i}`);
    }
  }
  return tool;
}

/** Whether an operator named this tool explicitly: a literal allow entry or a toolScopes entry. */
function explicitlyAllowed(name: string, opts: ToolPolicyOptions): boolean {
  if (opts.tools.allow.some((g) => isLiteral(g) && g === name)) return true;
  return Object.keys(opts.toolScopes).some((k) => globMatch(k, name));
}

/** Evaluates one backend listing. */
export function evaluateTools(raw: readonly ToolDef[], opts: ToolPolicyOptions, pins: PinStore): ToolStatus[] {
  const { allow, deny, audit } = opts.tools;
  const admitted = raw.filter((t) => !matchesAny(deny, t.name) && (allow.length === 0 || matchesAny(allow, t.name)));
  const names = admitted.map((t) => t.name);
  const out: ToolStatus[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    const notes: string[] = [];
    if (seen.has(t.name)) {
      const dup: Finding = { rule: 'tool-shadowing', tool: t.name, field: 'name', severity: 'high', message: 'two tools share this name; only the first is served' };
      out.push({ name: t.name, state: 'denied', digest: '', findings: [dup], notes: ['duplicate tool name'], tool: t });
      continue;
    }
    seen.add(t.name);
    if (!admitted.includes(t)) {
      out.push({ name: t.name, state: 'denied', digest: '', findings: [], notes: ['not allowed by spec.tools.allow/deny'], tool: t });
      continue;
    }
    const overridden = applyOverride(t, opts, notes);
    const findings = auditTool(overridden, { toolNames: names, maxDescriptionWords: audit.maxDescriptionWords });
    // Audited as claimed; served with contradicting claims replaced by the riskier reading.
    let tool = distrustContradictions(overridden);
    if (tool !== overridden) notes.push('annotations contradict the tool name; treated as destructive');
    const { digest, pin, changed } = pins.check(t);
    if (audit.pin && changed) {
      findings.push({
        rule: 'rug-pull',
        tool: t.name,
        field: changed.join(', '),
        severity: 'high',
        message: `tool changed since it was pinned at ${pin.pinnedAt} (${pin.digest.slice(0, 19)}… → ${digest.slice(0, 19)}…)`,
      });
    }
    if (opts.sanitize !== 'off') tool = sanitizeToolText(tool);
    let state: ToolState = findings.length ? 'warn' : 'ok';
    if (audit.onFinding === 'block' && findings.some((f) => f.severity === 'high')) {
      state = 'blocked';
      notes.push('blocked by the tool audit');
    } else if (opts.tools.requireExplicitDestructive && isDestructive(tool) && !explicitlyAllowed(t.name, opts)) {
      state = 'gated';
      notes.push('destructive tool without an explicit allow or toolScopes entry');
    }
    const status: ToolStatus = { name: t.name, state, digest, findings, notes, tool };
    if (audit.pin) status.pinnedDigest = pin.digest;
    out.push(status);
  }
  return out;
}

/** Whether clients may see and call a tool in this state. */
export const isServed = (s: ToolState): boolean => s === 'ok' || s === 'warn';
