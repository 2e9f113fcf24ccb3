/** Names, labels and paths shared by the render, the reconciler and the tests. */
import { API_VERSION, KIND } from '../api/v1alpha1/names.ts';
import type { McpServerStatus } from '../api/v1alpha1/status.ts';

export const HTTP_PORT = 8080;
export const CONFIG_DIR = '/etc/berth';
export const CONFIG_FILE = `${CONFIG_DIR}/config.json`;
export const CONFIG_KEY = 'config.json';
export const PACKAGES_DIR = '/var/lib/berth/packages';
export const SECRETS_DIR = '/var/run/berth/secrets';
export const CONFIGMAPS_DIR = '/var/run/berth/configmaps';
/** Working directory of the runtime image; the CLI is `node runtime/bin/berth.mjs`. */
export const IMAGE_WORKDIR = '/app';
export const RUNTIME_ENTRY = ['node', 'runtime/bin/berth.mjs'] as const;
export const RUNTIME_UID = 10001;

export const ANNOTATION_CONFIG_HASH = 'berth.dev/config-hash';
/** Changes when the tenant's credentials change, so pods restart with the new ones. */
export const ANNOTATION_CREDENTIALS_HASH = 'berth.dev/credentials-hash';
/** Hash of what the operator last applied to a child; lets it skip no-op writes. */
export const ANNOTATION_APPLIED_HASH = 'berth.dev/applied-hash';
/** Set to "true" on an McpServer to skip the Redis cleanup on deletion. */
export const ANNOTATION_SKIP_CLEANUP = 'berth.dev/skip-cleanup';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const RUNTIME_APP_NAME = 'berth-runtime';
export const MANAGED_BY = 'berth-operator';
/** Every object the operator creates carries this; informers watch only these. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** The McpServer object as read from the API. */
export interface McpServerObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec: unknown;
  status?: McpServerStatus;
}

/** Names of every child of one McpServer. */
export interface ChildNames {
  deployment: string;
  service: string;
  serviceAccount: string;
  networkPolicy: string;
  podDisruptionBudget: string;
  configMap: string;
  redisSecret: string;
  internalSecret: string;
}

export function childNames(name: string): ChildNames {
  return {
    deployment: name,
    service: name,
    serviceAccount: name,
    networkPolicy: name,
    podDisruptionBudget: name,
    configMap: `${name}-config`,
    redisSecret: `${name}-redis`,
    internalSecret: `${name}-internal`,
  };
}

/** Labels selecting the pods of one McpServer (immutable once a Deployment exists). */
export function selectorLabels(name: string): Record<string, string> {
  return { [LABEL_NAME]: RUNTIME_APP_NAME, [LABEL_INSTANCE]: name };
}

/** The selector as the string the scale subresource wants. */
export function selectorString(name: string): string {
  return Object.entries(selectorLabels(name))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Labels on every child and pod. */
export function commonLabels(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...extra,
    ...selectorLabels(name),
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: 'mcp-server',
    [LABEL_PART_OF]: 'berth',
  };
}

/** The owner reference every child carries. */
export function ownerReference(mcp: Pick<McpServerObject, 'metadata'>): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: mcp.metadata.name,
    uid: mcp.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Every key and channel of one McpServer starts with this (a Redis Cluster hash tag keeps them in one slot). */
export function redisKeyPrefix(namespace: string, name: string): string {
  return `berth:{${namespace}/${name}}:`;
}

/** The tenant's Redis ACL user. Namespaces and McpServer names are DNS labels, so dots separate them unambiguously. */
export function redisUserName(namespace: string, name: string): string {
  return `berth.${namespace}.${name}`;
}

/** In-cluster URL of the MCP endpoint. */
export function serviceUrl(namespace: string, name: string, path: string): string {
  return `http://${name}.${namespace}.svc:${HTTP_PORT}${path}`;
}
