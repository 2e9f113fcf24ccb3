/** Rule: prose over the word budget (context cost; long text is also where payloads hide). */
import type { Finding, Rule } from './types.ts';

const words = (s: string): number => s.split(/\s+/).filter(Boolean).length;

export const descriptionLength: Rule = (tool, fields, ctx) => {
  const out: Finding[] = [];
  for (const f of fields) {
    if (f.kind !== 'prose' || !f.path.endsWith('description')) continue;
    const n = words(f.text);
    if (n > ctx.maxDescriptionWords) {
      out.push({ rule: 'description-length', tool: tool.name, field: f.path, severity: 'low', message: `${n} words, over the budget of ${ctx.maxDescriptionWords}` });
    }
  }
  return out;
};
