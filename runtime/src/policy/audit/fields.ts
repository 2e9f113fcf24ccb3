/** Collects every piece of text of a tool that reaches the model: names, prose and schema values. */
import type { TextField, ToolDef } from './types.ts';

const PROSE_KEYS = new Set(['description', 'title', '$comment']);
const VALUE_KEYS = new Set(['enum', 'const', 'default', 'examples', 'pattern', 'format']);

function walkValues(value: unknown, path: string, out: TextField[]): void {
  if (typeof value === 'string') out.push({ path, text: value, kind: 'value' });
  else if (Array.isArray(value)) value.forEach((v, i) => walkValues(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walkValues(v, `${path}.${k}`, out);
}

function walkSchema(node: unknown, path: string, out: TextField[], depth: number): void {
  if (depth > 64 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((n, i) => walkSchema(n, `${path}[${i}]`, out, depth + 1));
    return;
  }
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const p = `${path}.${key}`;
    if (PROSE_KEYS.has(key) && typeof value === 'string') out.push({ path: p, text: value, kind: 'prose' });
    else if (VALUE_KEYS.has(key)) walkValues(value, p, out);
    else if ((key === 'properties' || key === 'patternProperties' || key === '$defs' || key === 'definitions') && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [prop, sub] of Object.entries(value as Record<string, unknown>)) {
        out.push({ path: `${p}.${prop}`, text: prop, kind: 'value' });
        walkSchema(sub, `${p}.${prop}`, out, depth + 1);
      }
    } else if (typeof value === 'object') walkSchema(value, p, out, depth + 1);
    else if (typeof value === 'string' && key.startsWith('x-')) out.push({ path: p, text: value, kind: 'prose' });
  }
}

/** Every text field of `tool`, with a dotted path for reports. */
export function toolFields(tool: ToolDef): TextField[] {
  const out: TextField[] = [{ path: 'name', text: String(tool.name), kind: 'name' }];
  if (typeof tool.title === 'string') out.push({ path: 'title', text: tool.title, kind: 'prose' });
  if (typeof tool.description === 'string') out.push({ path: 'description', text: tool.description, kind: 'prose' });
  const ann = tool.annotations;
  if (ann && typeof ann === 'object' && typeof ann['title'] === 'string') out.push({ path: 'annotations.title', text: ann['title'], kind: 'prose' });
  walkSchema(tool.inputSchema, 'inputSchema', out, 0);
  walkSchema(tool.outputSchema, 'outputSchema', out, 0);
  return out;
}
