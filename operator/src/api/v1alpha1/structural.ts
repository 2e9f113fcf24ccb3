/**
 * zod → Kubernetes structural OpenAPI v3. The apiserver accepts a subset of
 * JSON Schema (no $ref, no unions of objects, no `additionalProperties:
 * false`, no `const`/`propertyNames`, every node typed); this converts the
 * draft-04 output of `z.toJSONSchema` into that subset and fails loudly on
 * anything it does not know, so a schema change can't silently weaken the CRD.
 */
import { z } from 'zod';

/** A JSONSchemaProps node as the apiserver stores it. */
export interface SchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  default?: unknown;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, SchemaProps>;
  additionalProperties?: SchemaProps;
  items?: SchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: ValidationRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** A CEL rule as in x-kubernetes-validations. */
export interface ValidationRule {
  rule: string;
  message: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

const PASSTHROUGH = new Set([
  'type',
  'description',
  'default',
  'enum',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
]);
const DROPPED = new Set(['$schema', 'propertyNames', 'title']);

/** zod schema → draft-04 JSON Schema of its input type (defaults become optional fields with `default`). */
export function zodToJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-04',
    io: 'input',
    unrepresentable: 'throw',
    reused: 'inline',
    override: (ctx) => {
      // Go's RE2 has no regex flags; carry zod's `/i` as an inline `(?i)`.
      const checks = (ctx.zodSchema as { _zod?: { def?: { checks?: Array<{ _zod: { def: { pattern?: unknown } } }> } } })._zod?.def?.checks ?? [];
      const patterns = checks.map((c) => c._zod.def.pattern).filter((p): p is RegExp => p instanceof RegExp);
      const js = ctx.jsonSchema as Record<string, unknown>;
      if (patterns.length === 1 && patterns[0]!.flags.includes('i') && typeof js.pattern === 'string') {
        js.pattern = `(?i)${js.pattern}`;
      }
    },
  }) as Record<string, unknown>;
}

/** Converts draft-04 JSON Schema to a structural schema; `path` names the node in errors. */
export function toStructural(js: Record<string, unknown>, path = '$'): SchemaProps {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(js)) {
    if (DROPPED.has(key)) continue;
    if (key === 'const') {
      out.enum = [value];
    } else if (PASSTHROUGH.has(key)) {
      out[key] = value;
    } else if (key === 'properties') {
      const props: Record<string, SchemaProps> = {};
      for (const [name, sub] of Object.entries(value as Record<string, Record<string, unknown>>)) {
        props[name] = toStructural(sub, `${path}.${name}`);
      }
      out.properties = props;
    } else if (key === 'items') {
      out.items = toStructural(value as Record<string, unknown>, `${path}[]`);
    } else if (key === 'additionalProperties') {
      if (value === false) continue; // pruning drops unknown fields anyway
      if (value === true || isEmptySchema(value)) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
      } else {
        out.additionalProperties = toStructural(value as Record<string, unknown>, `${path}.*`);
      }
    } else {
      throw new Error(`${path}: JSON Schema keyword "${key}" has no structural equivalent`);
    }
  }
  if (isEmptySchema(js)) {
    // z.unknown(): any JSON value is kept as written.
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (out.type === 'integer') {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`${path}: every node of a structural schema needs a type`);
  }
  if (out.properties && out.additionalProperties) {
    throw new Error(`${path}: properties and additionalProperties are mutually exclusive`);
  }
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  return out as SchemaProps;
}

function isEmptySchema(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).filter((k) => k !== 'description' && k !== 'default').length === 0;
}

/**
 * Returns the node at a dotted path (`spec.source.module`); `*` steps into
 * additionalProperties and a `[]` suffix into items (`env[].name`). Throws when the path is absent.
 */
export function nodeAt(root: SchemaProps, dotted: string): SchemaProps {
  let node = root;
  for (const part of dotted.split('.')) {
    const items = part.match(/(\[\])*$/)![0].length / 2;
    const step = part.slice(0, part.length - items * 2);
    let next: SchemaProps | undefined = step === '*' ? node.additionalProperties : node.properties?.[step];
    for (let i = 0; i < items; i++) next = next?.items;
    if (!next) throw new Error(`schema path ${dotted}: no "${part}"`);
    node = next;
  }
  return node;
}

/** Walks every node depth-first with its dotted path. */
export function walk(node: SchemaProps, visit: (node: SchemaProps, path: string) => void, path = ''): void {
  visit(node, path);
  for (const [name, sub] of Object.entries(node.properties ?? {})) walk(sub, visit, path ? `${path}.${name}` : name);
  if (node.additionalProperties) walk(node.additionalProperties, visit, `${path}.*`);
  if (node.items) walk(node.items, visit, `${path}[]`);
}
