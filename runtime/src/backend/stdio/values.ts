/**
 * Values for child environments and upstream headers: literals, or Secret /
 * ConfigMap keys mounted as files (`<dir>/<name>/<key>`). Read at each use so
 * rotated secrets reach new children and new connections.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeSettings } from '../../config/runtime-config.ts';

export interface ValueSpec {
  name: string;
  value?: string | undefined;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean | undefined } | undefined;
    configMapKeyRef?: { name: string; key: string; optional?: boolean | undefined } | undefined;
  } | undefined;
}

/** A referenced value that is missing and not optional. */
export class MissingValueError extends Error {
  override readonly name = 'MissingValueError';
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

function readRef(dir: string, ref: { name: string; key: string; optional?: boolean | undefined }, what: string, field: string): string | undefined {
  if (!SAFE_SEGMENT.test(ref.name) || !SAFE_SEGMENT.test(ref.key) || ref.name.startsWith('..') || ref.key.startsWith('..')) {
    throw new MissingValueError(`${field}: ${what} "${ref.name}" key "${ref.key}" is not a valid reference`);
  }
  try {
    return readFileSync(join(dir, ref.name, ref.key), 'utf8');
  } catch (err) {
    if (ref.optional) return undefined;
    throw new MissingValueError(`${field}: ${what} "${ref.name}" key "${ref.key}" is not available (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/**
 * Resolves one value. Returns undefined for an optional reference that is
 * missing; throws MissingValueError (naming `field`) for a required one.
 */
export function resolveValue(spec: ValueSpec, runtime: Pick<RuntimeSettings, 'secretsDir' | 'configMapsDir'>, field: string): string | undefined {
  if (spec.value !== undefined) return spec.value;
  const s = spec.valueFrom?.secretKeyRef;
  if (s) return readRef(runtime.secretsDir, s, 'Secret', field);
  const c = spec.valueFrom?.configMapKeyRef;
  if (c) return readRef(runtime.configMapsDir, c, 'ConfigMap', field);
  return '';
}

/** Resolves a list of values into name → value (optional missing ones omitted). */
export function resolveValues(specs: readonly ValueSpec[], runtime: Pick<RuntimeSettings, 'secretsDir' | 'configMapsDir'>, fieldPrefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  specs.forEach((spec, i) => {
    const v = resolveValue(spec, runtime, `${fieldPrefix}[${i}] (${spec.name})`);
    if (v !== undefined) out[spec.name] = v;
  });
  return out;
}
