/**
 * Rule: one tool's text steering how *other* tools are used (tool shadowing):
 * naming another tool of the listing inside a conditional or imperative
 * ("when send_email is called…", "never use x, always…"), or directing
 * behaviour around other/all tools in general (aimed at other servers' tools,
 * which Berth can't see). A plain pointer such as "Use read_text_file
 * instead" is not a finding.
 */
import { stripInvisible } from '../unicode.ts';
import { excerpt } from './excerpt.ts';
import type { Finding, Rule } from './types.ts';

const CONDITIONAL = /\b(when|whenever|before|after|each\s+time|every\s+time|while|once|if)\b/i;
const INVOKE = /\b(call(s|ed|ing)?|use[sd]?|using|invoke[sd]?|invoking|run(s|ning)?|execut(e|es|ed|ing)|trigger(s|ed|ing)?)\b/i;
const IMPERATIVE = /\b(instead\s+of|rather\s+than|never|do\s+not|don'?t|must|always|also|replace[sd]?|redirect\w*|bcc|cc)\b/i;
const GENERIC = [
  /\b(when|whenever|before|after|each\s+time|every\s+time)\b[^.\n]{0,60}\b(any|another|other|all|every)\s+(other\s+)?(tools?|functions?|servers?)\b/i,
  /\b(all|any|every)\s+(other\s+)?tools?\s+(must|should|need\s+to|are\s+required)\b/i,
  /\binstead\s+of\s+(the\s+)?(other|any|another)\s+tools?\b/i,
  /\b(other|another)\s+(mcp\s+)?servers?'?s?\s+tools?\b/i,
];

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * How a tool name is recognised in prose. Names that are also plain words
 * ("add", "search") count only when quoted or called a tool; distinctive
 * names (snake_case, kebab-case, dotted, camelCase, digits) count anywhere.
 */
function mentionRe(name: string): RegExp {
  const n = escapeRe(name);
  if (/[_.\-0-9]|[a-z][A-Z]/.test(name)) return new RegExp(`(^|[^A-Za-z0-9_-])${n}(?![A-Za-z0-9_-])`);
  return new RegExp(`[\`'"“‘]${n}[\`'"”’]|\\btool\\s+[\`'"]?${n}\\b|\\b${n}[\`'"]?\\s+tool\\b`, 'i');
}

/** Sentences of `text` (split on ., !, ?, newlines). */
function sentences(text: string): Array<{ s: string; at: number }> {
  const out: Array<{ s: string; at: number }> = [];
  const re = /[^.!?\n]+[.!?]?/g;
  for (const m of text.matchAll(re)) out.push({ s: m[0], at: m.index ?? 0 });
  return out;
}

export const shadowing: Rule = (tool, fields, ctx) => {
  const out: Finding[] = [];
  const others = ctx.toolNames.filter((n) => n !== tool.name && n.length >= 3);
  const nameRes = others.map((n) => ({ name: n, re: mentionRe(n) }));
  for (const f of fields) {
    if (f.kind !== 'prose') continue;
    const text = stripInvisible(f.text);
    let hit = false;
    for (const { s, at } of sentences(text)) {
      for (const { name, re } of nameRes) {
        if (!re.test(s)) continue;
        const conditional = CONDITIONAL.test(s) && INVOKE.test(s);
        if (conditional || IMPERATIVE.test(s)) {
          out.push({ rule: 'tool-shadowing', tool: tool.name, field: f.path, severity: 'high', message: `steers the use of another tool "${name}"`, excerpt: excerpt(text, at, s.length) });
          hit = true;
          break;
        }
      }
      if (hit) break;
    }
    if (hit) continue;
    for (const re of GENERIC) {
      const m = re.exec(text);
      if (m) {
        out.push({ rule: 'tool-shadowing', tool: tool.name, field: f.path, severity: 'high', message: 'directs behaviour around other tools', excerpt: excerpt(text, m.index, m[0].length) });
        break;
      }
    }
  }
  return out;
};
