/**
 * Turns a tool's thrown error into text an agent can act on: what failed
 * and whether retrying can help. Pure functions plus one instrumentation
 * hook on McpServer instances.
 */

export type FailureKind = 'transient' | 'badInput' | 'fatal';

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const INVALID_PARAMS = -32602;
const URL_ELICITATION_REQUIRED = -32042;

function prop(error: unknown, key: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[key] : undefined;
}

/** Classifies a thrown value; explicit `retryable`/`transient` flags on the error win. */
export function classifyFailure(error: unknown): { kind: FailureKind; detail?: string } {
  const retryable = prop(error, 'retryable') ?? prop(error, 'transient');
  if (retryable === true) return { kind: 'transient' };
  if (retryable === false) return { kind: 'fatal' };
  const code = prop(error, 'code');
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return { kind: 'transient', detail: code };
  if (code === INVALID_PARAMS) return { kind: 'badInput' };
  const status = prop(error, 'status') ?? prop(error, 'statusCode');
  if (typeof status === 'number' && TRANSIENT_STATUS.has(status)) return { kind: 'transient', detail: `HTTP ${status}` };
  if (typeof status === 'number' && status >= 400 && status < 500) return { kind: 'badInput', detail: `HTTP ${status}` };
  const name = prop(error, 'name');
  if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'transient', detail: String(name) };
  if (name === 'ZodError' || error instanceof RangeError || error instanceof SyntaxError) return { kind: 'badInput' };
  const cause = prop(error, 'cause');
  if (cause !== undefined && cause !== error) {
    const inner = classifyFailure(cause);
    if (inner.kind === 'transient') return inner;
  }
  return { kind: 'fatal' };
}

const HINTS: Record<FailureKind, (detail?: string) => string> = {
  transient: (detail) => `This looks temporary${detail ? ` (${detail})` : ''}: retrying the same call later may succeed.`,
  badInput: (detail) => `The arguments were rejected${detail ? ` (${detail})` : ''}: fix them before calling again; retrying unchanged will fail the same way.`,
  fatal: () => 'The tool itself failed: retrying the same call is unlikely to help.',
};

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** The text of the `isError` result for a tool that threw. */
export function describeToolFailure(tool: string | undefined, error: unknown): string {
  const { kind, detail } = classifyFailure(error);
  const what = tool ? `Tool "${tool}" failed` : 'The tool failed';
  return `${what}: ${messageOf(error).trim() || 'unknown error'}\n${HINTS[kind](detail)}`;
}

const MARK = Symbol.for('berth.toolFailureHint');
const VALIDATION_PREFIX = 'Input validation error';

/**
 * Adds the retry hint to SDK-produced input-validation failures (they are
 * rejected before the tool runs, so instrumentation never sees them).
 * Returns the result unchanged when nothing applies.
 */
export function annotateValidationFailure(result: Record<string, unknown>): Record<string, unknown> {
  if (result.isError !== true || !Array.isArray(result.content) || result.content.length !== 1) return result;
  const first = result.content[0] as { type?: unknown; text?: unknown };
  if (first.type !== 'text' || typeof first.text !== 'string' || !first.text.startsWith(VALIDATION_PREFIX)) return result;
  return { ...result, content: [{ ...first, text: `${first.text}\n${HINTS.badInput()}` }] };
}

interface InstrumentableMcpServer {
  executeToolHandler?: (tool: unknown, args: unknown, ctx: unknown) => Promise<unknown>;
  [MARK]?: true;
}

/**
 * Wraps the McpServer's tool executor so a throw carries the classified,
 * named description. `currentTool` names the tool of the exchange the
 * instance is serving (instances serve one exchange at a time). A no-op for
 * low-level `Server` instances and SDK builds without the executor seam.
 */
export function instrumentToolErrors(mcpServer: object, currentTool: () => string | undefined): boolean {
  const target = mcpServer as InstrumentableMcpServer;
  const original = target.executeToolHandler;
  if (typeof original !== 'function' || target[MARK]) return false;
  target.executeToolHandler = async function (this: unknown, tool, args, ctx) {
    try {
      return await original.call(this, tool, args, ctx);
    } catch (error) {
      // URL elicitation is signalled by a throw the SDK must see as-is.
      if (prop(error, 'code') === URL_ELICITATION_REQUIRED) throw error;
      const wrapped = new Error(describeToolFailure(currentTool(), error));
      (wrapped as Error & { code?: unknown }).code = prop(error, 'code');
      throw wrapped;
    }
  };
  target[MARK] = true;
  return true;
}
