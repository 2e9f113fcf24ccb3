/**
 * `structuredContent` checked against the tool's `outputSchema` (JSON Schema,
 * via the SDK's ajv provider). The provider bundles its own ajv (about 1 MB
 * of heap), so it loads on the first result of a tool that declares an
 * outputSchema: `outputChecksReady()` before `outputChecker()`.
 */
import type { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { digestOf } from '../canonical.ts';

type Check = (value: unknown) => string | undefined;

let provider: AjvJsonSchemaValidator | undefined;
let loading: Promise<void> | undefined;
const cache = new Map<string, Check>();

/** Loads the validator on the first call; later calls get the same settled promise. */
export function outputChecksReady(): Promise<void> {
  return (loading ??= import('@modelcontextprotocol/server/validators/ajv').then((m) => {
    provider = new m.AjvJsonSchemaValidator();
  }));
}

/** A checker for `schema` returning an error message or undefined; compiled once per distinct schema. */
export function outputChecker(schema: unknown): Check {
  if (!provider) throw new Error('outputChecker before outputChecksReady() resolved');
  const key = digestOf(schema);
  let check = cache.get(key);
  if (!check) {
    try {
      const v = provider.getValidator(schema as Parameters<AjvJsonSchemaValidator['getValidator']>[0]);
      check = (value) => {
        const r = v(value);
        return r.valid ? undefined : r.errorMessage;
      };
    } catch (err) {
      const msg = `outputSchema does not compile: ${(err as Error).message}`;
      check = () => msg;
    }
    if (cache.size > 1000) cache.clear();
    cache.set(key, check);
  }
  return check;
}
