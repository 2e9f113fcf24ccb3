/** `structuredContent` checked against the tool's `outputSchema` (JSON Schema, via the SDK's ajv provider). */
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { digestOf } from '../canonical.ts';

type Check = (value: unknown) => string | undefined;

const provider = new AjvJsonSchemaValidator();
const cache = new Map<string, Check>();

/** A checker for `schema` returning an error message or undefined; compiled once per distinct schema. */
export function outputChecker(schema: unknown): Check {
  const key = digestOf(schema);
  let check = cache.get(key);
  if (!check) {
    try {
      const v = provider.getValidator(schema as Parameters<typeof provider.getValidator>[0]);
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
