/** Minimal JSON-RPC 2.0 shapes used across the runtime (wire-level, era-neutral). */
export type RequestId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcResult {
  jsonrpc: '2.0';
  id: RequestId;
  result: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcError {
  jsonrpc: '2.0';
  id: RequestId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcResult | JsonRpcError;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Standard and MCP error codes. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Server-defined range. */
  SessionNotFound: -32001,
  Unavailable: -32002,
  RateLimited: -32029,
  Unauthorized: -32040,
  Forbidden: -32043,
  UpstreamError: -32050,
  UpstreamTimeout: -32051,
} as const;

export const isRequest = (m: unknown): m is JsonRpcRequest =>
  typeof m === 'object' && m !== null && 'method' in m && 'id' in m && (m as { id: unknown }).id !== undefined && (m as { id: unknown }).id !== null;
export const isNotification = (m: unknown): m is JsonRpcNotification =>
  typeof m === 'object' && m !== null && 'method' in m && !('id' in m);
export const isResponse = (m: unknown): m is JsonRpcResponse =>
  typeof m === 'object' && m !== null && !('method' in m) && ('result' in m || 'error' in m);

/** Builds an error response. */
export function errorResponse(id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcError {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}
