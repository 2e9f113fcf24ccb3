/**
 * Tool failures as results the agent can act on (`isError: true`), never as
 * crashes. Each failure is classified — transient (retrying may help), bad
 * input (change the arguments), fatal (don't retry) — and the class is
 * spelled out at the start of the text and in `_meta`.
 */
import type { Era } from '../backend/types.ts';

export type FailureKind = 'transient' | 'bad_input' | 'fatal';

/** `_meta` key carrying `{ kind, retryable }` on results Berth synthesizes. */
export const FAILURE_META_KEY = 'dev.berth/failure';

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EBUSY',
  'EMFILE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const BAD_INPUT_STATUS = new Set([400, 404, 409, 413, 415, 422]);
const BAD_INPUT_NAMES = new Set(['ZodError', 'ValidationError', 'InvalidParamsError', 'SyntaxError']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'AbortError']);

const field = (error: object, key: string): unknown => (error as Record<string, unknown>)[key];

/** Classifies an exception or JSON-RPC error object thrown or returned by a tool or upstream. */
export function classifyFailure(error: unknown): FailureKind {
  if (typeof error !== 'object' || error === null) return 'fatal';
  if (field(error, 'retryable') === true) return 'transient';
  const code = field(error, 'code');
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return 'transient';
  if (code === -32602) return 'bad_input';
  if (code === -32001 || code === -32051) return 'transient';
  const status = field(error, 'status') ?? field(error, 'statusCode');
  if (typeof status === 'number') {
    if (TRANSIENT_STATUS.has(status)) return 'transient';
    if (BAD_INPUT_STATUS.has(status)) return 'bad_input';
  }
  const name = field(error, 'name');
  if (typeof name === 'string') {
    if (TRANSIENT_NAMES.has(name)) return 'transient';
    if (BAD_INPUT_NAMES.has(name)) return 'bad_input';
  }
  const cause = field(error, 'cause');
  if (cause !== undefined && cause !== error) {
    const inner = classifyFailure(cause);
    if (inner !== 'fatal') return inner;
  }
  return 'fatal';
}

const ADVICE: Record<FailureKind, string> = {
  transient: 'This is likely temporary; retrying may help.',
  bad_input: 'The arguments were not accepted; change them before retrying.',
  fatal: 'Retrying will not help.',
};

/** Advice sentence for a failure kind. */
export const retryAdvice = (kind: FailureKind): string => ADVICE[kind];

/** An `isError` tool result: `[kind] message advice`. Modern results carry `resultType`. */
export function toolFailureResult(kind: FailureKind, message: string, era: Era = 'legacy'): Record<string, unknown> {
  return {
    content: [{ type: 'text', text: `[${kind}] ${message} ${ADVICE[kind]}` }],
    isError: true,
    _meta: { [FAILURE_META_KEY]: { kind, retryable: kind === 'transient' } },
    ...(era === 'modern' && { resultType: 'complete' }),
  };
}

/** The result for a tool call cut off by `timeouts.toolCallSeconds`. */
export function toolTimeoutResult(tool: string, seconds: number, era: Era = 'legacy'): Record<string, unknown> {
  return toolFailureResult(
    'transient',
    `Tool "${tool}" did not finish within ${seconds} s and was cancelled; it may have partly run.`,
    era,
  );
}

/** The result for a tool call interrupted because this replica is shutting down. */
export function toolInterruptedResult(tool: string, era: Era = 'legacy'): Record<string, unknown> {
  return toolFailureResult(
    'transient',
    `Tool "${tool}" was interrupted because the server is restarting; it may have partly run and was not retried.`,
    era,
  );
}

/** Classifies an exception and wraps it as an `isError` result (for backends catching tool exceptions). */
export function toolExceptionResult(error: unknown, era: Era = 'legacy'): Record<string, unknown> {
  const message = error instanceof Error ? error.message : String(error);
  return toolFailureResult(classifyFailure(error), message, era);
}
