/** A header-based Authenticator for tests: `x-user: <name>` → principal `apikey:<name>`. */
import type { Authenticator, RequestLimiter, LimitDecision } from '../../src/security/types.ts';

export function headerAuthenticator(wellKnown: Record<string, unknown> = {}): Authenticator {
  return {
    mode: 'apiKeys',
    async authenticate(request) {
      const user = request.headers['x-user'];
      if (typeof user !== 'string' || user === '') {
        return { ok: false, status: 401, headers: { 'www-authenticate': 'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"' }, message: 'Unauthorized: missing credentials' };
      }
      if (user === 'blocked') return { ok: false, status: 403, headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="mcp"' }, message: 'Forbidden: insufficient scope' };
      return { ok: true, principal: { id: `apikey:${user}`, kind: 'apiKey', scopes: [] } };
    },
    mayUseTool: () => true,
    wellKnown: () => wellKnown,
    close: async () => {},
  };
}

/** A limiter that admits `budget` requests, then refuses with `retryAfterSeconds`. */
export function budgetLimiter(budget: number, retryAfterSeconds = 7): RequestLimiter & { seen: Array<string | undefined> } {
  let left = budget;
  const seen: Array<string | undefined> = [];
  return {
    seen,
    async checkRequest(_principal, sessionId): Promise<LimitDecision> {
      seen.push(sessionId);
      if (left-- > 0) return { ok: true };
      return { ok: false, retryAfterSeconds, scope: 'perPrincipal' };
    },
    async checkTool() {
      return { ok: true };
    },
    async close() {},
  };
}
