/** The offline, deterministic audit: every rule over every text field of every tool. */
import { annotationMismatch } from './annotation-mismatch.ts';
import { descriptionLength } from './description-length.ts';
import { encodedPayload } from './encoded-payload.ts';
import { toolFields } from './fields.ts';
import { hiddenInstructions } from './hidden-instructions.ts';
import { invisibleUnicode } from './invisible-unicode.ts';
import { shadowing } from './shadowing.ts';
import type { Finding, Rule, RuleContext, ToolDef } from './types.ts';

export const RULES: ReadonlyArray<readonly [string, Rule]> = [
  ['hidden-instructions', hiddenInstructions],
  ['invisible-unicode', invisibleUnicode],
  ['encoded-payload', encodedPayload],
  ['tool-shadowing', shadowing],
  ['description-length', descriptionLength],
  ['annotation-mismatch', annotationMismatch],
];

/** Findings for one tool, in rule order. */
export function auditTool(tool: ToolDef, ctx: RuleContext): Finding[] {
  const fields = toolFields(tool);
  return RULES.flatMap(([, rule]) => rule(tool, fields, ctx));
}

/** Findings for a whole listing, plus duplicate tool names (two tools answering to one name). */
export function auditTools(tools: readonly ToolDef[], opts: { maxDescriptionWords: number }): Finding[] {
  const ctx: RuleContext = { toolNames: tools.map((t) => t.name), maxDescriptionWords: opts.maxDescriptionWords };
  const out = tools.flatMap((t) => auditTool(t, ctx));
  const seen = new Set<string>();
  for (const t of tools) {
    if (seen.has(t.name)) out.push({ rule: 'tool-shadowing', tool: t.name, field: 'name', severity: 'high', message: 'two tools share this name' });
    seen.add(t.name);
  }
  return out;
}

export type { Finding, RuleContext, Severity, ToolDef } from './types.ts';
