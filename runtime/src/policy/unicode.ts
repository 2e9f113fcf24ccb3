/**
 * Characters that render as nothing (or reorder text) yet reach the model:
 * zero-width and joiners, bidi embeddings/overrides/isolates, invisible
 * operators and fillers, the Tags block (U+E0000–E007F, "ASCII smuggling")
 * and the variation-selector supplement. Emoji presentation selectors
 * U+FE00–FE0F are deliberately left alone: they are common and inert.
 */
const CLASS =
  '\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFEFF\\uFFA0\\uFFF9-\\uFFFB' +
  '\\u{1D173}-\\u{1D17A}\\u{E0000}-\\u{E007F}\\u{E0100}-\\u{E01EF}';

/** Matches one invisible character (global). */
export const INVISIBLE_RE = new RegExp(`[${CLASS}]`, 'gu');
const TEST_RE = new RegExp(`[${CLASS}]`, 'u');

/** Whether `text` contains any invisible character. */
export function hasInvisible(text: string): boolean {
  return TEST_RE.test(text);
}

/** Removes invisible characters. */
export function stripInvisible(text: string): string {
  return TEST_RE.test(text) ? text.replace(INVISIBLE_RE, '') : text;
}

/** Text hidden in Unicode Tag characters, decoded to ASCII ("" when none). */
export function decodeTags(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xe0020 && cp <= 0xe007e) out += String.fromCharCode(cp - 0xe0000);
  }
  return out;
}

/** Renders invisible characters as `<U+XXXX>` so excerpts in reports show what is hidden. */
export function revealInvisible(text: string): string {
  return text.replace(INVISIBLE_RE, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
}
