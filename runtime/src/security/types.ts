/** Seams for authentication and request-level rate limits, used by the HTTP layer. */
import type { Logger } from 'pino';
import type { Principal } from '../backend/types.ts';

/** The parts of an HTTP request auth needs (framework-neutral). */
export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Absolute URL path of the request. */
  path: string;
}

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | {
      ok: false;
      /** 401 or 403; 503 when the credentials could not be checked (authorization server unreachable). */
      status: 401 | 403 | 503;
      /** e.g. WWW-Authenticate, or Retry-After with 503. */
      headers: Record<string, string>;
      /** Human-readable reason (goes into the JSON-RPC error body). */
      message: string;
    };

export interface Authenticator {
  readonly mode: 'oauth' | 'apiKeys' | 'none';
  authenticate(request: AuthRequest): Promise<AuthOutcome>;
  /** Whether `principal` may see/call `tool` (per-tool scopes). */
  mayUseTool(principal: Principal, tool: string): boolean;
  /** Extra routes such as RFC 9728 metadata: path -> JSON document. */
  wellKnown(): Record<string, unknown>;
  close(): Promise<void>;
}

export type LimitDecision = { ok: true } | { ok: false; retryAfterSeconds: number; scope: string };

/** Request-level limits (global, per principal, per session) and per-tool limits. */
export interface RequestLimiter {
  /**
   * The request's own limits. `tool` names the tool of a tools/call the
   * principal may use: its limit is then decided in the same step (one Redis
   * round trip) and kept for the `checkTool` of that call.
   */
  checkRequest(principal: Principal, sessionId: string | undefined, tool?: string): Promise<LimitDecision>;
  /** The tool's limit; answered from `checkRequest`'s decision when it named the tool. */
  checkTool(principal: Principal, tool: string): Promise<LimitDecision>;
  /** Removes and returns the tool decision `checkRequest` kept (a call leaving for the session's owner). */
  handOff?(principal: Principal, tool: string): LimitDecision | undefined;
  /** Keeps a tool decision made on another replica for this replica's `checkTool` of the call. */
  adopt?(principal: Principal, tool: string, decision: LimitDecision): void;
  close(): Promise<void>;
}

/** Principal for `auth.none`. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', kind: 'anonymous', scopes: Object.freeze([]) as readonly string[] });

/** The authenticator for an explicit `auth.none`, with the warning every such runtime logs (`logger` carries the tenant). */
export function reportedNoneAuthenticator(logger: Pick<Logger, 'warn'>): Authenticator {
  logger.warn('Authentication is disabled (auth.none): every caller is anonymous');
  return noneAuthenticator();
}

/** The authenticator for an explicit `auth.none`. */
export function noneAuthenticator(): Authenticator {
  return {
    mode: 'none',
    authenticate: async () => ({ ok: true, principal: ANONYMOUS }),
    mayUseTool: () => true,
    wellKnown: () => ({}),
    close: async () => {},
  };
}

/** A limiter that admits everything (no `spec.rateLimits`). */
export function unlimited(): RequestLimiter {
  return { checkRequest: async () => ({ ok: true }), checkTool: async () => ({ ok: true }), close: async () => {} };
}
