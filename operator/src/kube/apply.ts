/**
 * Server-side apply with one field manager, and the comparison that lets the
 * reconciler skip an apply that would change nothing.
 */
import { FIELD_MANAGER } from '../api/v1alpha1/names.ts';
import { ApiError, resourcePath, type KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

const PLURALS: Record<string, string> = {
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  ServiceAccount: 'serviceaccounts',
  Service: 'services',
  Deployment: 'deployments',
  NetworkPolicy: 'networkpolicies',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Pod: 'pods',
  Event: 'events',
  Lease: 'leases',
  McpServer: 'mcpservers',
  CustomResourceDefinition: 'customresourcedefinitions',
  Namespace: 'namespaces',
};

/** Plural resource name of a kind the operator handles. */
export function pluralOf(kind: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`unknown kind ${kind}`);
  return plural;
}

/**
 * Server-side applies `obj` (force: we own every field we set). `subresource`
 * "status" applies to the status subresource.
 */
export async function applyObject<T extends KubeObject>(client: KubeClient, obj: KubeObject, subresource?: 'status', signal?: AbortSignal): Promise<T> {
  const path = resourcePath({
    apiVersion: obj.apiVersion,
    plural: pluralOf(obj.kind),
    namespace: obj.metadata.namespace,
    name: obj.metadata.name,
    subresource,
  });
  return client.request<T>('PATCH', path, {
    query: { fieldManager: FIELD_MANAGER, force: true },
    body: obj,
    contentType: 'application/apply-patch+yaml',
    signal,
  });
}

/**
 * JSON merge patch of `obj` (lists replaced wholesale). The repair path when
 * an apply is refused because someone else's list entries clash with ours
 * (e.g. a second Service port with our port's name).
 */
export async function mergePatchObject<T extends KubeObject>(client: KubeClient, obj: KubeObject): Promise<T> {
  const path = resourcePath({ apiVersion: obj.apiVersion, plural: pluralOf(obj.kind), namespace: obj.metadata.namespace, name: obj.metadata.name });
  return client.request<T>('PATCH', path, { query: { fieldManager: FIELD_MANAGER }, body: obj, contentType: 'application/merge-patch+json' });
}

/** GET one object; undefined when it does not exist. */
export async function getObject<T extends KubeObject>(client: KubeClient, ref: { apiVersion: string; kind: string; namespace?: string; name: string }): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', resourcePath({ apiVersion: ref.apiVersion, plural: pluralOf(ref.kind), namespace: ref.namespace, name: ref.name }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Whether an object exists, reading only its metadata (a Secret's data is never fetched). */
export async function objectExists(client: KubeClient, ref: { apiVersion: string; kind: string; namespace?: string; name: string }): Promise<boolean> {
  try {
    await client.request('GET', resourcePath({ apiVersion: ref.apiVersion, plural: pluralOf(ref.kind), namespace: ref.namespace, name: ref.name }), {
      accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    });
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

/** Deletes one object if it still has `uid` (a precondition, so a newer namesake survives). */
export async function deleteObject(client: KubeClient, obj: KubeObject): Promise<void> {
  try {
    await client.request('DELETE', resourcePath({ apiVersion: obj.apiVersion, plural: pluralOf(obj.kind), namespace: obj.metadata.namespace, name: obj.metadata.name }), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(obj.metadata.uid ? { preconditions: { uid: obj.metadata.uid } } : {}) },
    });
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 409)) return;
    throw err;
  }
}

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;
const SUFFIX: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** Value of a resource quantity ("500m", "1Gi", "2e3"), or undefined. */
export function quantityValue(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  return m[3] ? n * SUFFIX[m[3]]! : n;
}

/**
 * True when every field of `desired` is present in `live` with an equal value
 * (live may have more: defaults, other managers' fields, status). Lists must
 * match element by element. Quantities compare by value ("1000m" = "1").
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => v === undefined || isSubset(v, (live as Record<string, unknown>)[k]));
  }
  if (typeof desired === 'string' && typeof live === 'string') {
    const a = quantityValue(desired);
    const b = quantityValue(live);
    return a !== undefined && b !== undefined && Math.abs(a - b) <= Math.abs(a) * 1e-12;
  }
  if (typeof desired === 'number' && typeof live === 'string') return quantityValue(live) === desired;
  return false;
}
