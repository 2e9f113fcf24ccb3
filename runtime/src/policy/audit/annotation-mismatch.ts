/**
 * Rule: a tool whose name says it destroys something but whose annotations
 * claim it is read-only or non-destructive. Annotations are the server's own
 * claims; a contradiction is treated as the riskier reading (see
 * annotations.ts) and reported.
 */
import type { Finding, Rule, ToolDef } from './types.ts';

const DESTRUCTIVE_VERBS = new Set(['delete', 'remove', 'drop', 'destroy', 'erase', 'purge', 'wipe', 'truncate', 'kill', 'terminate', 'revoke', 'overwrite', 'uninstall', 'rm', 'del', 'shred', 'format']);

/** Lower-case words of a tool name (snake, kebab, dotted and camelCase). */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** The destructive verb in a tool's name or title, if any. */
export function destructiveVerb(tool: ToolDef): string | undefined {
  for (const w of [...nameWords(tool.name), ...nameWords(typeof tool.title === 'string' ? tool.title : '')]) if (DESTRUCTIVE_VERBS.has(w)) return w;
  return undefined;
}

export const annotationMismatch: Rule = (tool) => {
  const ann = tool.annotations ?? {};
  const verb = destructiveVerb(tool);
  if (!verb) return [];
  const claims: string[] = [];
  if (ann['readOnlyHint'] === true) claims.push('readOnlyHint: true');
  if (ann['destructiveHint'] === false) claims.push('destructiveHint: false');
  if (!claims.length) return [];
  const f: Finding = { rule: 'annotation-mismatch', tool: tool.name, field: 'annotations', severity: 'high', message: `name says "${verb}" but annotations claim ${claims.join(' and ')}` };
  return [f];
};
