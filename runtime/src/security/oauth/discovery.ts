/** Authorization-server metadata discovery (OpenID Connect Discovery 1.0, RFC 8414). */

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  [k: string]: unknown;
}

/** Candidate metadata URLs for an issuer, in the order MCP clients try them. */
export function metadataCandidates(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  const out = [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
    `${u.origin}${path}/.well-known/openid-configuration`,
  ];
  // The OpenID form is what most providers serve; try it first, dedupe for path-less issuers.
  return [...new Set([out[2]!, out[0]!, out[1]!])];
}

/**
 * Fetches the issuer's metadata from the first candidate that answers 200 and
 * whose `issuer` equals the configured one exactly (a mismatch would let a
 * different server's keys sign tokens we accept).
 */
export async function discoverIssuer(issuer: string, fetchImpl: FetchLike, timeoutMs: number): Promise<IssuerMetadata> {
  const problems: string[] = [];
  for (const url of metadataCandidates(issuer)) {
    try {
      const res = await fetchImpl(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 200) {
        problems.push(`${url}: HTTP ${res.status}`);
        await res.body?.cancel();
        continue;
      }
      const doc = (await res.json()) as IssuerMetadata;
      if (!doc || typeof doc !== 'object' || doc.issuer !== issuer) {
        problems.push(`${url}: issuer ${JSON.stringify(doc?.issuer)} does not match ${issuer}`);
        continue;
      }
      return doc;
    } catch (err) {
      problems.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new Error(`authorization server metadata not found for ${issuer} (${problems.join('; ')})`);
}
