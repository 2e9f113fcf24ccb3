/**
 * Request guards of the MCP endpoint, evaluated before the body is read:
 * DNS-rebinding protection (Host and Origin allow-lists), Accept (406),
 * Content-Type (415) and `MCP-Protocol-Version` (400). Decisions are pure
 * functions; `guardHook` applies them and sets CORS headers for allowed
 * cross-origin callers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { McpServerSpec } from '../config/spec.ts';
import { isServedVersion, LEGACY_VERSIONS, MODERN_VERSIONS } from '../protocol/versions.ts';
import { HttpErrors, sendError } from './errors.ts';

export interface OriginPolicy {
  /** The server listens on a loopback address only. */
  readonly loopback: boolean;
  /** Exact Host values or bare hostnames (lowercase); empty = default rule. */
  readonly allowedHosts: ReadonlySet<string>;
  /** Exact origins (lowercase); empty = default rule. */
  readonly allowedOrigins: ReadonlySet<string>;
  readonly anyOrigin: boolean;
  /** Origin of `endpoint.publicUrl`, always allowed. */
  readonly publicOrigin: string | undefined;
}

const LOCALHOST_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Whether a listen address is loopback-only. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || h.startsWith('127.');
}

const stripSlash = (s: string): string => (s.endsWith('/') ? s.slice(0, -1) : s);

/** Builds the Host/Origin policy from the endpoint spec and the listen address. */
export function buildOriginPolicy(endpoint: McpServerSpec['endpoint'], listenHost: string): OriginPolicy {
  let publicOrigin: string | undefined;
  if (endpoint.publicUrl) {
    try {
      publicOrigin = new URL(endpoint.publicUrl).origin.toLowerCase();
    } catch {
      publicOrigin = undefined;
    }
  }
  return {
    loopback: isLoopbackAddress(listenHost),
    allowedHosts: new Set(endpoint.allowedHosts.map((h) => h.toLowerCase())),
    allowedOrigins: new Set(endpoint.allowedOrigins.filter((o) => o !== '*').map((o) => stripSlash(o.toLowerCase()))),
    anyOrigin: endpoint.allowedOrigins.includes('*'),
    publicOrigin,
  };
}

/** The hostname of a Host header value, without port (IPv6 keeps brackets). */
export function hostnameOf(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** Whether the Host header is acceptable. */
export function hostAllowed(policy: OriginPolicy, host: string | undefined): boolean {
  if (policy.allowedHosts.size > 0) {
    if (!host) return false;
    const h = host.toLowerCase();
    return policy.allowedHosts.has(h) || policy.allowedHosts.has(hostnameOf(h));
  }
  if (policy.loopback) return host !== undefined && LOCALHOST_NAMES.has(hostnameOf(host));
  return true;
}

/** Whether an Origin header (present only on browser requests) is acceptable. */
export function originAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (policy.anyOrigin) return true;
  const o = stripSlash(origin.toLowerCase());
  if (policy.allowedOrigins.has(o) || o === policy.publicOrigin) return true;
  if (policy.allowedOrigins.size > 0) return false;
  let url: URL;
  try {
    url = new URL(o);
  } catch {
    return false;
  }
  if (policy.loopback) return LOCALHOST_NAMES.has(url.hostname) || LOCALHOST_NAMES.has(`[${url.hostname}]`);
  return host !== undefined && url.host === host.toLowerCase();
}

/** Whether an Accept header admits `type` (`*\/*` and `type/*` count). */
export function accepts(accept: string | undefined, type: string): boolean {
  if (!accept) return false;
  if (accept.includes(type) || accept.includes('*/*')) return true;
  return accept.includes(`${type.slice(0, type.indexOf('/'))}/*`);
}

/** Whether a Content-Type's media type is application/json. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const ct = contentType.length > 16 ? contentType.slice(0, 16).toLowerCase() : contentType.toLowerCase();
  if (ct !== 'application/json') return false;
  if (contentType.length === 16) return true;
  const next = contentType.charCodeAt(16);
  return next === 59 /* ; */ || next === 32 || next === 9;
}

const SUPPORTED_TEXT = [...MODERN_VERSIONS, ...LEGACY_VERSIONS].join(', ');

const EXPOSED_HEADERS = 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After';
const ALLOWED_HEADERS =
  'Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID';

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The onRequest hook of the MCP routes. */
export function guardHook(policy: OriginPolicy): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return function guard(request, reply, done) {
    const host = header(request, 'host');
    if (!hostAllowed(policy, host)) {
      sendError(reply, HttpErrors.HOST_NOT_ALLOWED, { message: `Forbidden: Host header not allowed: ${host ?? '(none)'}` });
      return;
    }
    const origin = header(request, 'origin');
    if (!originAllowed(policy, origin, host)) {
      sendError(reply, HttpErrors.ORIGIN_NOT_ALLOWED, { message: `Forbidden: Origin not allowed: ${origin}` });
      return;
    }
    if (origin !== undefined) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
    const method = request.method;
    if (method === 'POST') {
      const accept = header(request, 'accept');
      if (!accepts(accept, 'application/json') || !accepts(accept, 'text/event-stream')) {
        sendError(reply, HttpErrors.NOT_ACCEPTABLE_POST);
        return;
      }
      if (!isJsonContentType(header(request, 'content-type'))) {
        sendError(reply, HttpErrors.UNSUPPORTED_MEDIA_TYPE);
        return;
      }
    } else if (method === 'GET') {
      if (!accepts(header(request, 'accept'), 'text/event-stream')) {
        sendError(reply, HttpErrors.NOT_ACCEPTABLE_GET);
        return;
      }
    } else if (method === 'OPTIONS') {
      // CORS preflight: answered by its own route, before auth.
      done();
      return;
    }
    const version = header(request, 'mcp-protocol-version');
    if (version !== undefined && !isServedVersion(version.trim())) {
      sendError(reply, HttpErrors.UNSUPPORTED_PROTOCOL_VERSION, {
        message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_TEXT})`,
        data: { supported: [...MODERN_VERSIONS, ...LEGACY_VERSIONS], requested: version },
      });
      return;
    }
    done();
  };
}

/** Answers a CORS preflight for an allowed origin. */
export function preflight(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('access-control-allow-methods', 'GET, POST, DELETE');
  reply.header('access-control-allow-headers', header(request, 'access-control-request-headers') ?? ALLOWED_HEADERS);
  reply.header('access-control-max-age', '600');
  reply.code(204).send();
}
