/** Tool-name globs (`*` any run of characters, `?` one character), as used by spec.tools and per-tool maps. */

const cache = new Map<string, RegExp>();

function compile(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 's');
    if (cache.size > 4096) cache.clear();
    cache.set(glob, re);
  }
  return re;
}

/** Whether `name` matches `glob`. */
export function globMatch(glob: string, name: string): boolean {
  return glob === name || compile(glob).test(name);
}

/** Whether `name` matches any of `globs`. */
export function matchesAny(globs: readonly string[], name: string): boolean {
  for (const g of globs) if (globMatch(g, name)) return true;
  return false;
}

/** Whether a glob is a plain name (no wildcard), i.e. an explicit mention of one tool. */
export function isLiteral(glob: string): boolean {
  return !/[*?]/.test(glob);
}

/** The value of the entry that names `name` exactly, else the first glob entry matching it. */
export function lookup<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  if (Object.hasOwn(table, name)) return table[name];
  for (const [k, v] of Object.entries(table)) if (!isLiteral(k) && globMatch(k, name)) return v;
  return undefined;
}
