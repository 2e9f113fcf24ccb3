/**
 * Context budget: JSON text is minified, and results over `output.maxBytes`
 * are cut with a marker saying how much was removed.
 */

/** Minifies `text` when it is a JSON object or array; anything else is returned unchanged. */
export function minifyJsonText(text: string): string {
  const t = text.trimStart();
  if (!(t.startsWith('{') || t.startsWith('['))) return text;
  try {
    const min = JSON.stringify(JSON.parse(text));
    return min.length < text.length ? min : text;
  } catch {
    return text;
  }
}

export const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The longest prefix of `text` that fits in `bytes` UTF-8 bytes, never splitting a character. */
export function utf8Prefix(text: string, bytes: number): string {
  if (bytes <= 0) return '';
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = bytes;
  // Back up to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** The marker appended where output was cut. */
export function truncationMarker(cutBytes: number, totalBytes: number, maxBytes: number): string {
  return `\n[berth: output truncated: ${cutBytes} of ${totalBytes} bytes cut to fit output.maxBytes=${maxBytes}]`;
}

/** Room kept for the marker inside the budget. */
export const MARKER_RESERVE = 112;
