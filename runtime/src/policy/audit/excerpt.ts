/** Short, safe excerpts for findings. */
import { revealInvisible } from '../unicode.ts';

/** Up to `max` characters around `at` with invisible characters made visible. */
export function excerpt(text: string, at = 0, length = 0, max = 120): string {
  const start = Math.max(0, at - 20);
  const end = Math.min(text.length, Math.max(at + length, start + max));
  const body = revealInvisible(text.slice(start, end)).replace(/\s+/g, ' ');
  return `${start > 0 ? '…' : ''}${body.length > max * 2 ? body.slice(0, max * 2) + '…' : body}${end < text.length ? '…' : ''}`;
}
