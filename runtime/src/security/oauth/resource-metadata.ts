/** RFC 9728 protected-resource metadata and its well-known locations. */

export const PRM_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** The two well-known paths a client may try: path-scoped first, then the root one. */
export function metadataPaths(resourcePath: string): string[] {
  const scoped = resourcePath === '/' || resourcePath === '' ? PRM_WELL_KNOWN : `${PRM_WELL_KNOWN}${resourcePath.replace(/\/+$/, '')}`;
  return scoped === PRM_WELL_KNOWN ? [PRM_WELL_KNOWN] : [scoped, PRM_WELL_KNOWN];
}

/** The absolute metadata URL advertised in challenges, derived from the endpoint's public URL. */
export function metadataUrlFor(publicUrl: string): string {
  const u = new URL(publicUrl);
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${PRM_WELL_KNOWN}${path}`;
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
}

/** The metadata document for one McpServer. */
export function protectedResourceMetadata(opts: {
  resource: string;
  issuer: string;
  scopes: readonly string[];
  resourceName?: string;
}): ProtectedResourceMetadata {
  const doc: ProtectedResourceMetadata = {
    resource: opts.resource,
    authorization_servers: [opts.issuer],
    bearer_methods_supported: ['header'],
  };
  if (opts.scopes.length) doc.scopes_supported = [...new Set(opts.scopes)].sort();
  if (opts.resourceName) doc.resource_name = opts.resourceName;
  return doc;
}
