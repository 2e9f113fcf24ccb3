/**
 * The MCP endpoint (`spec.endpoint.path`): guards → auth → (body) → rate limit → era
 * router. POSTs are classified per message (modern 2026-07-28 vs 2025-era);
 * GET and DELETE belong to legacy sessions. Every error on this route is a
 * JSON-RPC error body, including fastify's own (413, 415, 400 parse errors).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { classify, type McpHeaders } from '../protocol/classify.ts';
import { ErrorCode } from '../protocol/jsonrpc.ts';
import { sharedMetrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import { StoreUnavailableError } from '../store/types.ts';
import { decodeToolDecision, TOOL_DECISION_HEADER } from './forwarded-limit.ts';
import { toolCallName } from '../protocol/tool-call-name.ts';
import type { RuntimeContext } from './context.ts';
import { echoableId, HttpErrors, sendError, type HttpErrorSpec } from './errors.ts';
import { guardHook, preflight, type OriginPolicy } from './guards.ts';
import type { LegacySessions } from './legacy.ts';
import type { ModernHandler } from './modern.ts';

export interface McpRouteOptions {
  rt: RuntimeContext;
  policy: OriginPolicy;
  legacy: LegacySessions;
  modern: ModernHandler;
  /** Server spans per request (only when tracing is configured). */
  tracing?: Tracing;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Maps fastify's own errors on the route to the error table. */
function tableEntryFor(error: FastifyError): HttpErrorSpec | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return HttpErrors.BODY_TOO_LARGE;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return HttpErrors.EMPTY_BODY;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return HttpErrors.UNSUPPORTED_MEDIA_TYPE;
    default:
      if (error instanceof SyntaxError || error.statusCode === 400) return HttpErrors.PARSE_ERROR;
      return undefined;
  }
}

/**
 * A session DELETE carries no body. Clients that send their usual
 * `Content-Type: application/json` with it anyway would otherwise meet
 * fastify's JSON parser and a parse error for the empty body.
 */
function ignoreEmptyBodyType(request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  const h = request.headers;
  if (h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0')) delete h['content-type'];
  done();
}

/** Registers the MCP routes (call inside an encapsulated plugin). */
export async function mcpRoutes(app: FastifyInstance, options: McpRouteOptions): Promise<void> {
  const { rt, policy, legacy, modern } = options;
  const path = rt.spec.endpoint.path;
  const maxBody = rt.spec.endpoint.maxBodyBytes;
  options.tracing?.instrument(app, path);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      rt.metrics.errors.inc({ category: 'unavailable' });
      rt.logger.warn({ err: error, method: request.method }, 'A store is unavailable');
      if (reply.sent || reply.raw.headersSent) return;
      sendError(reply, HttpErrors.STORE_UNAVAILABLE, { headers: { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) } });
      return;
    }
    const entry = tableEntryFor(error);
    rt.metrics.errors.inc({ category: entry?.category ?? 'internal' });
    if (!entry) rt.logger.error({ err: error, method: request.method }, 'Unexpected error on the MCP endpoint');
    if (reply.sent || reply.raw.headersSent) return;
    const message = entry === HttpErrors.BODY_TOO_LARGE ? `Payload Too Large: the request body exceeds ${maxBody} bytes` : undefined;
    sendError(reply, entry ?? HttpErrors.INTERNAL, message === undefined ? {} : { message });
  });

  const guard = guardHook(policy);

  /** A bounded label for a refused authentication: the RFC 6750 error code, else whether credentials were missing. */
  function authFailureReason(status: number, headers: Record<string, string>): string {
    if (status === 403) return 'insufficient_scope';
    if (status === 503) return 'unavailable';
    const challenge = Object.entries(headers).find(([k]) => k.toLowerCase() === 'www-authenticate')?.[1] ?? '';
    const code = /error="([a-z_]+)"/.exec(challenge)?.[1];
    return code === 'invalid_token' || code === 'invalid_request' ? code : 'missing_credentials';
  }

  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    // While draining, keep-alive clients reconnect (to another replica) after this response.
    if (rt.state !== 'ready') reply.header('connection', 'close');
    const q = request.url.indexOf('?');
    const outcome = await rt.auth.authenticate({ headers: request.headers, path: q === -1 ? request.url : request.url.slice(0, q) });
    if (!outcome.ok) {
      rt.metrics.errors.inc({ category: 'auth' });
      sharedMetrics.authFailures.inc({ reason: authFailureReason(outcome.status, outcome.headers) });
      const spec: HttpErrorSpec = {
        status: outcome.status,
        code: outcome.status === 401 ? ErrorCode.Unauthorized : outcome.status === 503 ? ErrorCode.Unavailable : ErrorCode.Forbidden,
        message: outcome.message,
        category: 'auth',
      };
      return sendError(reply, spec, { headers: outcome.headers });
    }
    request.principal = outcome.principal;
    return undefined;
  }

  /**
   * Rate limits, after the body is parsed (it is bounded by maxBodyBytes): a
   * tools/call's own tool limit is then decided in the same Redis round trip.
   */
  async function limit(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const principal = request.principal;
    if (!principal) return sendError(reply, HttpErrors.INTERNAL);
    const tool = toolCallName(request.body);
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId !== undefined && rt.cluster?.isVerifiedForward(request, sessionId)) {
      // Limited on the replica the client reached; its tool decision travels with the request.
      const carried = decodeToolDecision(header(request, TOOL_DECISION_HEADER));
      if (carried && tool !== undefined) rt.limiter.adopt?.(principal, tool, carried);
      return undefined;
    }
    const decision = await rt.limiter.checkRequest(principal, sessionId, tool !== undefined && rt.auth.mayUseTool(principal, tool) ? tool : undefined);
    if (!decision.ok) {
      rt.metrics.errors.inc({ category: 'rate_limited' });
      sharedMetrics.rateLimited.inc({ scope: decision.scope });
      const retryAfter = Math.max(1, Math.ceil(decision.retryAfterSeconds));
      return sendError(reply, HttpErrors.RATE_LIMITED, {
        headers: { 'retry-after': String(retryAfter) },
        data: { scope: decision.scope, retryAfterSeconds: retryAfter },
      });
    }
    return undefined;
  }

  const onRequest = [guard, authenticate];
  const preHandler = limit;

  /**
   * Serves one POST; every path ends with the reply sent, hijacked, or handed
   * to an exchange that sends it. It (and what it awaits) never resolves with
   * `reply`: that is a thenable, and fastify's Reply.then would hang
   * end-of-stream listeners on the response to settle it.
   */
  async function servePost(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = request.body;
    const principal = request.principal;
    if (!principal) return void sendError(reply, HttpErrors.INTERNAL);
    const headers: McpHeaders = {
      protocolVersion: header(request, 'mcp-protocol-version'),
      method: header(request, 'mcp-method'),
      name: header(request, 'mcp-name'),
    };
    const classified = classify('POST', headers, body);
    const route = classified instanceof Promise ? await classified : classified;
    switch (route.kind) {
      case 'reject':
        rt.metrics.errors.inc({ category: 'bad_request' });
        return void sendError(reply, { status: route.httpStatus, code: route.code, message: route.message, category: 'bad_request' }, {
          id: echoableId(body),
          data: route.data,
        });
      case 'modern':
        return modern(reply, route, headers, principal);
      case 'legacy':
        return legacy.post(request, reply, route, body, headers, principal);
    }
  }

  app.route({
    method: 'POST',
    url: path,
    onRequest,
    preHandler,
    // Not async and returning nothing, so fastify leaves the reply to us.
    handler: (request, reply) => {
      servePost(request, reply).catch((error: unknown) => {
        if (reply.sent) reply.log.error({ err: error }, 'Request failed after its reply was sent');
        else reply.send(error as Error);
      });
    },
  });

  app.route({
    method: 'GET',
    url: path,
    onRequest,
    preHandler,
    handler: async (request, reply) => (request.principal ? legacy.get(request, reply, request.principal) : sendError(reply, HttpErrors.INTERNAL)),
  });

  app.route({
    method: 'DELETE',
    url: path,
    onRequest: [ignoreEmptyBodyType, ...onRequest],
    preHandler,
    handler: async (request, reply) => (request.principal ? legacy.delete(request, reply, request.principal) : sendError(reply, HttpErrors.INTERNAL)),
  });

  app.route({ method: 'OPTIONS', url: path, onRequest: guard, handler: async (request, reply) => preflight(request, reply) });

  app.route({
    method: ['PUT', 'PATCH', 'HEAD', 'TRACE'],
    url: path,
    handler: async (_request, reply) => sendError(reply, HttpErrors.METHOD_NOT_ALLOWED),
  });
}
