/**
 * The one table of HTTP-level errors on the MCP endpoint: each has an HTTP
 * status, a JSON-RPC error code and a message, and is answered with a
 * JSON-RPC error body (never fastify's default error shape).
 */
import type { FastifyReply } from 'fastify';
import { ErrorCode, type RequestId } from '../protocol/jsonrpc.ts';
import type { ErrorCategory } from '../observability/metrics.ts';

export interface HttpErrorSpec {
  readonly status: number;
  readonly code: number;
  readonly message: string;
  readonly category: ErrorCategory;
}

/** Transport-level failures use -32000 (as the SDK's transports do). */
const TRANSPORT = -32000;

const e = (status: number, code: number, message: string, category: ErrorCategory): HttpErrorSpec =>
  Object.freeze({ status, code, message, category });

export const HttpErrors = Object.freeze({
  PARSE_ERROR: e(400, ErrorCode.ParseError, 'Parse error: the request body is not valid JSON', 'bad_request'),
  EMPTY_BODY: e(400, ErrorCode.ParseError, 'Parse error: the request body is empty', 'bad_request'),
  INVALID_MESSAGE: e(400, ErrorCode.InvalidRequest, 'Invalid Request: the body is not a valid JSON-RPC message', 'bad_request'),
  BATCH_NOT_SUPPORTED: e(400, ErrorCode.InvalidRequest, 'Invalid Request: JSON-RPC batches are not supported; send one message per POST', 'bad_request'),
  BODY_TOO_LARGE: e(413, TRANSPORT, 'Payload Too Large: the request body exceeds the limit', 'bad_request'),
  UNSUPPORTED_MEDIA_TYPE: e(415, TRANSPORT, 'Unsupported Media Type: Content-Type must be application/json', 'bad_request'),
  NOT_ACCEPTABLE_POST: e(406, TRANSPORT, 'Not Acceptable: Client must accept both application/json and text/event-stream', 'bad_request'),
  NOT_ACCEPTABLE_GET: e(406, TRANSPORT, 'Not Acceptable: Client must accept text/event-stream', 'bad_request'),
  METHOD_NOT_ALLOWED: e(405, TRANSPORT, 'Method not allowed.', 'bad_request'),
  NOT_FOUND: e(404, TRANSPORT, 'Not Found', 'bad_request'),
  HOST_NOT_ALLOWED: e(403, TRANSPORT, 'Forbidden: Host header not allowed', 'forbidden_origin'),
  ORIGIN_NOT_ALLOWED: e(403, TRANSPORT, 'Forbidden: Origin not allowed', 'forbidden_origin'),
  UNSUPPORTED_PROTOCOL_VERSION: e(400, TRANSPORT, 'Bad Request: Unsupported protocol version', 'bad_request'),
  SESSION_ID_REQUIRED: e(400, TRANSPORT, 'Bad Request: Mcp-Session-Id header is required', 'session'),
  SESSION_NOT_FOUND: e(404, ErrorCode.SessionNotFound, 'Session not found', 'session'),
  SESSION_ID_ON_INITIALIZE: e(400, ErrorCode.InvalidRequest, 'Invalid Request: initialize starts a new session and must not carry Mcp-Session-Id', 'bad_request'),
  INVALID_INITIALIZE: e(400, ErrorCode.InvalidParams, 'Invalid params: initialize needs protocolVersion, capabilities and clientInfo {name, version}', 'bad_request'),
  LAST_EVENT_ID_UNKNOWN: e(400, TRANSPORT, 'Bad Request: Last-Event-ID is unknown or expired; the stream cannot be resumed', 'bad_request'),
  DRAINING: e(503, ErrorCode.Unavailable, 'Service Unavailable: this server is restarting; retry shortly', 'unavailable'),
  SESSION_LIMIT: e(503, ErrorCode.Unavailable, 'Service Unavailable: the session limit is reached; retry later', 'unavailable'),
  STORE_UNAVAILABLE: e(503, ErrorCode.Unavailable, 'Service Unavailable: session storage is unreachable; retry shortly', 'unavailable'),
  RATE_LIMITED: e(429, ErrorCode.RateLimited, 'Too Many Requests: rate limit exceeded', 'rate_limited'),
  HEADER_MISMATCH: e(400, -32020, 'Bad Request: the request headers and body disagree', 'bad_request'),
  MODERN_UNSUPPORTED_VERSION: e(400, -32022, 'Unsupported protocol version', 'bad_request'),
  MISSING_CLIENT_CAPABILITY: e(400, -32021, 'Missing required client capability', 'bad_request'),
  INTERNAL: e(500, ErrorCode.InternalError, 'Internal error', 'internal'),
});

export type HttpErrorName = keyof typeof HttpErrors;

export interface ErrorOptions {
  id?: RequestId | null;
  /** Replaces the table's message. */
  message?: string;
  data?: unknown;
  headers?: Record<string, string>;
}

/** The JSON text of a JSON-RPC error response. */
export function errorBody(code: number, message: string, id: RequestId | null = null, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

/** Answers with a table error as a JSON-RPC error body. */
export function sendError(reply: FastifyReply, spec: HttpErrorSpec, options: ErrorOptions = {}): FastifyReply {
  reply.code(spec.status);
  if (options.headers) reply.headers(options.headers);
  if (spec.status === 405) reply.header('allow', 'GET, POST, DELETE');
  reply.header('content-type', 'application/json; charset=utf-8');
  return reply.send(errorBody(spec.code, options.message ?? spec.message, options.id ?? null, options.data));
}

/** Header on a draining replica's 503: a forwarding replica re-routes instead of relaying it. */
export const DRAINING_HEADER = 'berth-draining';

/**
 * 503 + Retry-After for a request that would start work on a draining
 * replica: the connection closes, and a proxying replica takes the
 * `berth-draining` header to mean nothing ran here (it routes elsewhere).
 */
export function sendDraining(reply: FastifyReply, id: RequestId | null): FastifyReply {
  return sendError(reply, HttpErrors.DRAINING, { id, headers: { 'retry-after': '1', connection: 'close', [DRAINING_HEADER]: '1' } });
}

/** The JSON-RPC id to echo on an error: the body's id when it is a single request, else null. */
export function echoableId(body: unknown): RequestId | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { id, method } = body as { id?: unknown; method?: unknown };
  if (typeof method !== 'string') return null;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
