/** Rule: long base64 runs, which hide text from a human reviewer but not from the model. */
import { excerpt } from './excerpt.ts';
import type { Finding, Rule } from './types.ts';

const RUN = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
/** Runs this long are reported even when they decode to binary. */
const ALWAYS = 200;

/** Share of printable ASCII (plus tab/newline) in the decoded bytes. */
function printableShare(bytes: Buffer): number {
  if (bytes.length === 0) return 0;
  let ok = 0;
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 9 || b === 10 || b === 13) ok++;
  return ok / bytes.length;
}

/** The decoded text when `run` is base64 of mostly printable text, else undefined. */
export function decodedText(run: string): string | undefined {
  // Plain words and hex digests are not payloads: require a mix of cases and digits or symbols.
  if (/^[0-9a-f]+$/i.test(run) || !/[A-Z]/.test(run) || !/[a-z]/.test(run)) return undefined;
  const bytes = Buffer.from(run.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return printableShare(bytes) >= 0.85 ? bytes.toString('latin1') : undefined;
}

export const encodedPayload: Rule = (tool, fields) => {
  const out: Finding[] = [];
  for (const f of fields) {
    if (f.kind === 'name') continue;
    for (const m of f.text.matchAll(RUN)) {
      const run = m[0];
      const text = decodedText(run);
      if (text === undefined && run.length < ALWAYS) continue;
      out.push({
        rule: 'encoded-payload',
        tool: tool.name,
        field: f.path,
        severity: 'high',
        message: text !== undefined ? `base64 run of ${run.length} characters decoding to text: "${text.slice(0, 60).replace(/\s+/g, ' ')}"` : `base64 run of ${run.length} characters`,
        excerpt: excerpt(f.text, m.index ?? 0, 40, 60),
      });
      break;
    }
  }
  return out;
};
