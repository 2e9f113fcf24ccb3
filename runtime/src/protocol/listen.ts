/**
 * `subscriptions/listen` wire rules (2026-07-28), as the SDK's listen router
 * applies them: the requested filter, the honored subset narrowed by the
 * server's capabilities, which events a filter accepts, and subscription-id
 * stamping. Pure functions; the HTTP layer does the streaming.
 */
import { SERVER_INFO_META_KEY, SUBSCRIPTION_ID_META_KEY } from './meta-keys.ts';
import type { ServerChangeEvent } from '../backend/types.ts';
import type { JsonRpcNotification, RequestId } from './jsonrpc.ts';

export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

interface Capabilities {
  tools?: { listChanged?: boolean };
  prompts?: { listChanged?: boolean };
  resources?: { listChanged?: boolean; subscribe?: boolean };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `params.notifications`; undefined when absent or malformed (answer -32602). */
export function parseListenFilter(params: Record<string, unknown> | undefined): ListenFilter | undefined {
  const raw = params?.notifications;
  if (!isPlainObject(raw)) return undefined;
  const filter: ListenFilter = {};
  for (const key of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') return undefined;
    filter[key] = v;
  }
  const subs = raw.resourceSubscriptions;
  if (subs !== undefined) {
    if (!Array.isArray(subs) || !subs.every((s) => typeof s === 'string')) return undefined;
    filter.resourceSubscriptions = subs as string[];
  }
  return filter;
}

/** The part of `requested` the server can deliver, given its advertised capabilities. */
export function honoredSubset(requested: ListenFilter, capabilities: Capabilities): ListenFilter {
  const honored: ListenFilter = {};
  if (requested.toolsListChanged === true && capabilities.tools?.listChanged === true) honored.toolsListChanged = true;
  if (requested.promptsListChanged === true && capabilities.prompts?.listChanged === true) honored.promptsListChanged = true;
  if (requested.resourcesListChanged === true && capabilities.resources?.listChanged === true) honored.resourcesListChanged = true;
  if (requested.resourceSubscriptions && requested.resourceSubscriptions.length > 0 && capabilities.resources?.subscribe === true) {
    honored.resourceSubscriptions = [...requested.resourceSubscriptions];
  }
  return honored;
}

/** Whether a (honored) filter accepts an event. */
export function filterAccepts(filter: ListenFilter, event: ServerChangeEvent): boolean {
  switch (event.kind) {
    case 'tools_list_changed':
      return filter.toolsListChanged === true;
    case 'prompts_list_changed':
      return filter.promptsListChanged === true;
    case 'resources_list_changed':
      return filter.resourcesListChanged === true;
    case 'resource_updated':
      return filter.resourceSubscriptions?.includes(event.uri) === true;
  }
}

/** The wire notification for a change event. */
export function changeNotification(event: ServerChangeEvent): JsonRpcNotification {
  switch (event.kind) {
    case 'tools_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/tools/list_changed' };
    case 'prompts_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/prompts/list_changed' };
    case 'resources_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/resources/list_changed' };
    case 'resource_updated':
      return { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: event.uri } };
  }
}

/** Copies a notification with the subscription id stamped into `params._meta`. */
export function stampSubscription(note: JsonRpcNotification, subscriptionId: RequestId): JsonRpcNotification {
  const params = note.params ?? {};
  const meta = isPlainObject(params._meta) ? params._meta : {};
  return { jsonrpc: '2.0', method: note.method, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_META_KEY]: subscriptionId } } };
}

/** The acknowledgement that opens every listen stream. */
export function acknowledgement(honored: ListenFilter, subscriptionId: RequestId): JsonRpcNotification {
  return stampSubscription({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honored } }, subscriptionId);
}

/** The empty result that ends a listen stream deliberately (shutdown, stream lifetime). */
export function gracefulListenEnd(subscriptionId: RequestId, serverInfo: unknown): { jsonrpc: '2.0'; id: RequestId; result: Record<string, unknown> } {
  return {
    jsonrpc: '2.0',
    id: subscriptionId,
    result: {
      resultType: 'complete',
      _meta: { [SUBSCRIPTION_ID_META_KEY]: subscriptionId, ...(serverInfo !== undefined && { [SERVER_INFO_META_KEY]: serverInfo }) },
    },
  };
}
