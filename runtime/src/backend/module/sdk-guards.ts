/**
 * The SDK classifies every message it moves with its JSON-RPC type guards
 * (`isJSONRPCRequest` and friends), and each guard is a full zod parse that
 * builds a validated copy and, for the many "no" answers, a ZodError with a
 * stack trace — about 12% of a modern module-backed call's CPU in the
 * profile, and much of its garbage. The guards read only `.success`. This gives the guard schemas
 * a `safeParse` that answers at once when the verdict is certain from a few
 * property reads, and hands everything else to zod; `data` and `error` are
 * still zod's own, computed on first read, so a caller that wants the parsed
 * value or the issues sees exactly what zod says.
 */
import { specTypeSchemas } from '@modelcontextprotocol/server';
import { isObject, isPlainRequest, REQUEST_KEYS } from './sdk-compat.ts';

/** true: zod accepts; false: zod rejects; undefined: ask zod. */
type Verdict = boolean | undefined;

type Parse = (value: unknown, params?: unknown) => { success: boolean; data?: unknown; error?: unknown };

interface SafeParsing {
  safeParse: Parse;
}

const isId = (id: unknown): boolean => typeof id === 'string' || Number.isSafeInteger(id);

function onlyKeys(message: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key in message) if (!allowed.has(key)) return false;
  return true;
}

const NOTIFICATION = new Set(['jsonrpc', 'method', 'params']);
const RESULT = new Set(['jsonrpc', 'id', 'result']);
const ERROR = new Set(['jsonrpc', 'id', 'error']);

/** JSONRPCRequestSchema (strict: jsonrpc "2.0", string or safe-integer id, string method, optional params). */
export function requestVerdict(m: unknown): Verdict {
  // The common case first, in one pass; only a non-plain message is checked for a certain "no".
  if (isPlainRequest(m)) return true;
  return !isObject(m) || m.jsonrpc !== '2.0' || typeof m.method !== 'string' || !isId(m.id) || !onlyKeys(m, REQUEST_KEYS) ? false : undefined;
}

/** JSONRPCNotificationSchema (strict: no id). */
export function notificationVerdict(m: unknown): Verdict {
  if (!isObject(m) || m.jsonrpc !== '2.0' || typeof m.method !== 'string' || !onlyKeys(m, NOTIFICATION)) return false;
  const params = m.params;
  if (params === undefined) return true;
  if (!isObject(params)) return false;
  // _meta's progressToken and related-task keys have their own schemas: zod decides.
  return params._meta === undefined ? true : undefined;
}

/** JSONRPCResultResponseSchema (strict; result a loose object whose _meta, if any, is an object). */
export function resultVerdict(m: unknown): Verdict {
  if (!isObject(m) || m.jsonrpc !== '2.0' || !isId(m.id) || !isObject(m.result) || !onlyKeys(m, RESULT)) return false;
  const meta = m.result._meta;
  return meta === undefined || isObject(meta) ? true : undefined;
}

/** JSONRPCErrorResponseSchema (strict; optional id; error { integer code, string message, data? }). */
export function errorVerdict(m: unknown): Verdict {
  if (!isObject(m) || m.jsonrpc !== '2.0' || !isObject(m.error) || !onlyKeys(m, ERROR)) return false;
  if (m.id !== undefined && !isId(m.id)) return false;
  return Number.isSafeInteger(m.error.code) && typeof m.error.message === 'string' ? true : undefined;
}

/** JSONRPCResponseSchema: a result or an error response. */
export function responseVerdict(m: unknown): Verdict {
  const result = resultVerdict(m);
  if (result === true) return true;
  const error = errorVerdict(m);
  if (error === true) return true;
  return result === false && error === false ? false : undefined;
}

/** A safeParse answer whose `data` / `error` come from zod when first read (one object, no closures: the guards drop it at once). */
class LazyAnswer {
  readonly success: boolean;
  readonly #parse: Parse;
  readonly #value: unknown;
  readonly #params: unknown;
  #full: { data?: unknown; error?: unknown } | undefined;

  constructor(success: boolean, parse: Parse, value: unknown, params: unknown) {
    this.success = success;
    this.#parse = parse;
    this.#value = value;
    this.#params = params;
  }

  get data(): unknown {
    return this.success ? this.#zod().data : undefined;
  }

  get error(): unknown {
    return this.success ? undefined : this.#zod().error;
  }

  #zod(): { data?: unknown; error?: unknown } {
    return (this.#full ??= this.#parse(this.#value, this.#params));
  }
}

function shortCircuit(schema: SafeParsing, verdict: (m: unknown) => Verdict): void {
  const original: Parse = schema.safeParse.bind(schema);
  schema.safeParse = (value, params) => {
    const v = verdict(value);
    return v === undefined ? original(value, params) : new LazyAnswer(v, original, value, params);
  };
}

let installed = false;

/** Gives the SDK's JSON-RPC guard schemas their certain-verdict fast path (once per process). */
export function installFastGuards(): void {
  if (installed) return;
  installed = true;
  const s = specTypeSchemas as unknown as Record<string, SafeParsing | undefined>;
  const table: Array<[string, (m: unknown) => Verdict]> = [
    ['JSONRPCRequest', requestVerdict],
    ['JSONRPCNotification', notificationVerdict],
    ['JSONRPCResultResponse', resultVerdict],
    ['JSONRPCErrorResponse', errorVerdict],
    ['JSONRPCResponse', responseVerdict],
  ];
  for (const [name, verdict] of table) {
    const schema = s[name];
    // A differently shaped SDK keeps its own path.
    if (schema && typeof schema.safeParse === 'function') shortCircuit(schema, verdict);
  }
}
