/** Pins: the first-seen digest of every tool; a later difference is a rug pull. */
import { digestOf } from './canonical.ts';
import type { ToolDef } from './audit/types.ts';

export interface Pin {
  digest: string;
  tool: ToolDef;
  pinnedAt: string;
}

/** Up to `limit` dotted paths where `a` and `b` differ. */
export function diffPaths(a: unknown, b: unknown, path = '', out: string[] = [], limit = 8): string[] {
  if (out.length >= limit) return out;
  if (a === b) return out;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) {
    out.push(path || '(root)');
    return out;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of [...keys].sort()) {
    diffPaths(a[k], b[k], path ? (Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`) : k, out, limit);
    if (out.length >= limit) break;
  }
  return out;
}

/** In-memory pin store (per process: each replica pins what it first sees). */
export class PinStore {
  readonly #pins = new Map<string, Pin>();

  /** Compares a tool with its pin, pinning it when new. */
  check(tool: ToolDef): { digest: string; pin: Pin; changed: string[] | undefined } {
    const digest = digestOf(tool);
    let pin = this.#pins.get(tool.name);
    if (!pin) {
      pin = { digest, tool, pinnedAt: new Date().toISOString() };
      this.#pins.set(tool.name, pin);
    }
    return { digest, pin, changed: pin.digest === digest ? undefined : diffPaths(pin.tool, tool) };
  }

  get(name: string): Pin | undefined {
    return this.#pins.get(name);
  }

  /** All pins (for saving). */
  entries(): Array<[string, Pin]> {
    return [...this.#pins];
  }

  /** Restores pins saved earlier (e.g. `berth audit --pin-file`). */
  load(entries: Iterable<[string, Pin]>): void {
    for (const [name, pin] of entries) this.#pins.set(name, pin);
  }
}
