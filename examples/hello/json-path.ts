/** A small path language for JSON documents: `a.b[0]["key with space"]`. */

export class PathError extends Error {
  override readonly name = 'PathError';
}

/** Splits a path into object keys and array indexes. */
export function parsePath(path: string): Array<string | number> {
  const parts: Array<string | number> = [];
  let i = 0;
  const text = path.trim();
  if (text === '' || text === '$' || text === '.') return parts;
  if (text.startsWith('$')) i = 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '.') {
      const m = /^\.([^.[\]]+)/.exec(text.slice(i));
      if (!m) throw new PathError(`expected a key after "." at position ${i + 1}`);
      parts.push(m[1] as string);
      i += m[0].length;
    } else if (c === '[') {
      const index = /^\[\s*(-?\d+)\s*\]/.exec(text.slice(i));
      const quoted = /^\[\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\]/.exec(text.slice(i));
      if (index) {
        parts.push(Number(index[1]));
        i += index[0].length;
      } else if (quoted) {
        const raw = quoted[1] as string;
        parts.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.slice(1, -1).replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else {
        throw new PathError(`expected [index] or ["key"] at position ${i + 1}`);
      }
    } else if (i === 0 || (i === 1 && text.startsWith('$'))) {
      const m = /^([^.[\]]+)/.exec(text.slice(i));
      parts.push((m as RegExpExecArray)[1] as string);
      i += (m as RegExpExecArray)[0].length;
    } else {
      throw new PathError(`unexpected "${c}" at position ${i + 1}`);
    }
  }
  return parts;
}

/** Follows `path` into `doc`; negative indexes count from the end. Throws PathError naming the missing step. */
export function select(doc: unknown, path: string): unknown {
  let current = doc;
  const walked: string[] = [];
  for (const part of parsePath(path)) {
    const label = typeof part === 'number' ? `[${part}]` : `.${part}`;
    if (typeof part === 'number') {
      if (!Array.isArray(current)) throw new PathError(`${walked.join('') || 'the document'} is not an array, cannot take ${label}`);
      const at = part < 0 ? current.length + part : part;
      if (at < 0 || at >= current.length) throw new PathError(`index ${part} is out of range at ${walked.join('') || 'the root'} (length ${current.length})`);
      current = current[at];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) throw new PathError(`${walked.join('') || 'the document'} is not an object, cannot take ${label}`);
      if (!Object.hasOwn(current, part)) {
        const keys = Object.keys(current).slice(0, 20);
        throw new PathError(`no key "${part}" at ${walked.join('') || 'the root'} (keys: ${keys.join(', ') || 'none'})`);
      }
      current = (current as Record<string, unknown>)[part];
    }
    walked.push(label);
  }
  return current;
}
