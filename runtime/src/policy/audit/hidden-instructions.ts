/** Rule: phrases and tags that address the model (tool poisoning, coercive injection). */
import { matchInjection } from '../patterns.ts';
import { decodeTags, stripInvisible } from '../unicode.ts';
import { excerpt } from './excerpt.ts';
import type { Finding, Rule } from './types.ts';

export const hiddenInstructions: Rule = (tool, fields) => {
  const out: Finding[] = [];
  for (const f of fields) {
    // Match on the text as the model would read it, with zero-width padding removed.
    const text = stripInvisible(f.text);
    for (const { pattern, match } of matchInjection(text)) {
      out.push({
        rule: 'hidden-instructions',
        tool: tool.name,
        field: f.path,
        severity: 'high',
        message: `${pattern.message} (${pattern.id})`,
        excerpt: excerpt(text, text.indexOf(match), match.length),
      });
    }
    // Text smuggled in Unicode Tag characters is invisible to people but read by models.
    const smuggled = decodeTags(f.text);
    if (smuggled) {
      for (const { pattern, match } of matchInjection(smuggled)) {
        out.push({ rule: 'hidden-instructions', tool: tool.name, field: f.path, severity: 'high', message: `${pattern.message} (${pattern.id}), hidden in Unicode Tag characters`, excerpt: excerpt(smuggled, smuggled.indexOf(match), match.length) });
      }
    }
  }
  return out;
};
