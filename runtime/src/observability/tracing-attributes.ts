/**
 * What spans carry, as pure functions. Only bounded, non-secret values:
 * methods, names, revisions, outcomes and a hash of the session id — never
 * headers, tokens, tool arguments or results.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, type JsonRpcResponse } from '../protocol/jsonrpc.ts';
import { classifyFailure, FAILURE_META_KEY } from '../protocol/tool-result.ts';
import type { ExchangeOutcome } from './tracing.ts';

/** The outcome class a backend span reports. */
export type BackendOutcome = 'ok' | 'isError' | 'transient' | 'fatal';

/** Attribute keys (OpenTelemetry semantic conventions where one exists). */
export const Attr = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
  errorType: 'error.type',
  mcpMethod: 'mcp.method.name',
  mcpProtocolVersion: 'mcp.protocol.version',
  toolName: 'gen_ai.tool.name',
  operationName: 'gen_ai.operation.name',
  jsonrpcErrorCode: 'rpc.jsonrpc.error_code',
  tenant: 'berth.tenant',
  era: 'berth.era',
  sessionHash: 'berth.session.hash',
  batchSize: 'berth.jsonrpc.batch_size',
  backendKind: 'berth.backend.kind',
  backendOutcome: 'berth.backend.outcome',
  exchangeOutcome: 'berth.exchange.outcome',
} as const;

/** A stable, non-reversible stand-in for a session id (correlates spans without exposing the bearer id). */
export function sessionHash(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 16);
}

/** The JSON-RPC method(s) of a request body: the method, the first method and the batch size, or nothing. */
export function jsonRpcMethodOf(body: unknown): { method?: string; tool?: string; batchSize?: number } {
  const messages = Array.isArray(body) ? body : [body];
  const first = messages[0] as { method?: unknown; params?: { name?: unknown } } | null | undefined;
  if (first === null || typeof first !== 'object' || typeof first.method !== 'string') return Array.isArray(body) ? { batchSize: body.length } : {};
  const out: { method?: string; tool?: string; batchSize?: number } = { method: first.method };
  if (first.method === 'tools/call' && typeof first.params?.name === 'string') out.tool = first.params.name;
  if (Array.isArray(body)) out.batchSize = body.length;
  return out;
}

/** Classifies how a backend exchange ended: ok, a tool's own `isError`, or a transient / fatal failure. */
export function backendOutcome(outcome: ExchangeOutcome, response?: JsonRpcResponse): BackendOutcome {
  switch (outcome) {
    case 'ok':
      return 'ok';
    case 'timeout':
    case 'interrupted':
    case 'cancelled':
      return 'transient';
    case 'tool_error': {
      // Results Berth synthesizes for failures carry their class in _meta; a tool's own isError does not.
      const meta = response && 'result' in response ? (response.result as { _meta?: Record<string, unknown> })._meta : undefined;
      const kind = (meta?.[FAILURE_META_KEY] as { kind?: unknown } | undefined)?.kind;
      if (kind === 'transient') return 'transient';
      if (kind === 'fatal') return 'fatal';
      return 'isError';
    }
    case 'error': {
      if (!response || !('error' in response)) return 'fatal';
      const { code } = response.error;
      if (code === ErrorCode.Unavailable || code === ErrorCode.RateLimited) return 'transient';
      return classifyFailure(response.error) === 'transient' ? 'transient' : 'fatal';
    }
  }
}
