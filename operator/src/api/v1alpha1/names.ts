/** Identity of the McpServer API: group, version, kind and the names kubectl uses. */
export const GROUP = 'berth.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'McpServer';
export const LIST_KIND = 'McpServerList';
export const PLURAL = 'mcpservers';
export const SINGULAR = 'mcpserver';
export const SHORT_NAMES = ['mcps'] as const;
export const CATEGORIES = ['berth'] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** The one field manager every write of the operator uses. */
export const FIELD_MANAGER = 'berth-operator';
/** Finalizer guarding cleanup outside the cluster (Redis keys and ACL user). */
export const FINALIZER = 'berth.dev/cleanup';
