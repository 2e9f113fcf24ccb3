/** `WWW-Authenticate: Bearer …` challenges (RFC 6750 §3, RFC 9728 §5.1). */

export interface ChallengeParams {
  resourceMetadata?: string;
  scope?: readonly string[];
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  errorDescription?: string;
}

/** Quoted-string per RFC 9110: escape `\` and `"`, drop control characters. */
function quote(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\\"]/g, '\\$&')}"`;
}

/** Builds the header value. Without `error` it is the plain "please authenticate" challenge. */
export function bearerChallenge(p: ChallengeParams): string {
  const parts: string[] = [];
  if (p.error) parts.push(`error=${quote(p.error)}`);
  if (p.errorDescription) parts.push(`error_description=${quote(p.errorDescription)}`);
  if (p.scope && p.scope.length > 0) parts.push(`scope=${quote(p.scope.join(' '))}`);
  if (p.resourceMetadata) parts.push(`resource_metadata=${quote(p.resourceMetadata)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

/** Extracts the token from `Authorization: Bearer <token>`; `undefined` if absent, `null` if malformed. */
export function bearerToken(headers: Record<string, string | string[] | undefined>): string | undefined | null {
  const raw = headers['authorization'];
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) return null;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(raw);
  return m ? m[1]! : null;
}
