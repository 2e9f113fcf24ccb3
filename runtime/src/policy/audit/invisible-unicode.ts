/** Rule: invisible characters (zero-width, bidi controls, Tags block) anywhere in a tool. */
import { INVISIBLE_RE, decodeTags } from '../unicode.ts';
import { excerpt } from './excerpt.ts';
import type { Finding, Rule } from './types.ts';

export const invisibleUnicode: Rule = (tool, fields) => {
  const out: Finding[] = [];
  for (const f of fields) {
    const found = f.text.match(INVISIBLE_RE);
    if (!found) continue;
    const counts = new Map<string, number>();
    for (const c of found) {
      const cp = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      counts.set(cp, (counts.get(cp) ?? 0) + 1);
    }
    const summary = [...counts].slice(0, 6).map(([cp, n]) => `${cp}×${n}`).join(', ');
    const hidden = decodeTags(f.text);
    const first = f.text.search(INVISIBLE_RE);
    out.push({
      rule: 'invisible-unicode',
      tool: tool.name,
      field: f.path,
      severity: 'high',
      message: `${found.length} invisible character(s): ${summary}${hidden ? `; Tag characters spell "${hidden.slice(0, 80)}"` : ''}`,
      excerpt: excerpt(f.text, first, 1),
    });
  }
  return out;
};
