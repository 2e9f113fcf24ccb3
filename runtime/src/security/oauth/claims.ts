/** Pure helpers turning validated token claims into a Principal and checking scopes. */
import type { Principal } from '../../backend/types.ts';
import { globMatch } from '../../policy/glob.ts';

/** Scopes from `scope` (space-delimited, RFC 9068/8693) or `scp` (string or array, common in the field). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const v of [claims['scope'], claims['scp']]) {
    if (typeof v === 'string') for (const s of v.split(/\s+/)) if (s) out.add(s);
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string' && s) out.add(s);
  }
  return [...out];
}

/** The scopes of `required` that `granted` lacks. */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  return required.filter((s) => !granted.includes(s));
}

/**
 * Principal `oauth:<iss>#<sub>`. Client-credentials tokens from some servers
 * carry no `sub` (introspection especially); `client_id` then names the caller.
 * The token itself is deliberately not kept: nothing downstream can forward it.
 */
export function principalFromClaims(claims: Record<string, unknown>, issuer: string): Principal | undefined {
  const sub = typeof claims['sub'] === 'string' && claims['sub'] ? claims['sub'] : undefined;
  const clientId = typeof claims['client_id'] === 'string' ? claims['client_id'] : typeof claims['azp'] === 'string' ? claims['azp'] : undefined;
  const who = sub ?? clientId;
  if (!who) return undefined;
  const p: Principal = { id: `oauth:${issuer}#${who}`, kind: 'oauth', scopes: Object.freeze(scopesOf(claims)) };
  if (clientId) p.clientId = clientId;
  if (typeof claims['exp'] === 'number') p.expiresAt = claims['exp'];
  return Object.freeze(p);
}

/** Scopes a principal needs for a tool: the union of every `toolScopes` entry (name or glob) matching it. */
export function toolScopesFor(toolScopes: Readonly<Record<string, readonly string[]>>, tool: string): string[] {
  const out = new Set<string>();
  for (const [pattern, scopes] of Object.entries(toolScopes)) if (globMatch(pattern, tool)) for (const s of scopes) out.add(s);
  return [...out];
}
