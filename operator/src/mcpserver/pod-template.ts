/**
 * `spec.podTemplate`: the scheduling and metadata fields a tenant may set on
 * its pods. Anything that could weaken isolation (host namespaces, volumes,
 * security contexts, containers) is refused with a message naming the field.
 */
import { isPlainObject } from '../util/canonical.ts';

/** Pod spec fields a tenant (or the operator defaults) may set. */
export const ALLOWED_POD_FIELDS = [
  'nodeSelector',
  'tolerations',
  'affinity',
  'topologySpreadConstraints',
  'priorityClassName',
  'runtimeClassName',
  'schedulerName',
  'imagePullSecrets',
  'dnsPolicy',
  'dnsConfig',
  'hostAliases',
] as const;
const ALLOWED_METADATA_FIELDS = ['labels', 'annotations'] as const;

export interface PodOverrides {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

export type ParsedPodTemplate = { ok: true; overrides: PodOverrides } | { ok: false; issues: string[] };

function stringMap(value: unknown, path: string, issues: string[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    issues.push(`${path}: must be a map of strings`);
    return {};
  }
  return value as Record<string, string>;
}

/**
 * Reads a pod template in PodTemplateSpec form (`{metadata, spec}`) or the
 * flat form (`{nodeSelector, tolerations, ...}`), naming offending fields
 * under `path`.
 */
export function parsePodTemplate(template: Record<string, unknown>, path = 'spec.podTemplate'): ParsedPodTemplate {
  const issues: string[] = [];
  const metadata = template.metadata;
  const nested = template.spec;
  const flat = Object.fromEntries(Object.entries(template).filter(([k]) => k !== 'metadata' && k !== 'spec'));
  if (nested !== undefined && !isPlainObject(nested)) issues.push(`${path}.spec: must be an object`);
  if (metadata !== undefined && !isPlainObject(metadata)) issues.push(`${path}.metadata: must be an object`);
  const specFields: Record<string, unknown> = {};
  const take = (fields: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(fields)) {
      if (!(ALLOWED_POD_FIELDS as readonly string[]).includes(key)) {
        issues.push(`${prefix}.${key}: not allowed in a pod template (allowed: metadata.labels, metadata.annotations, ${ALLOWED_POD_FIELDS.join(', ')})`);
        continue;
      }
      specFields[key] = value;
    }
  };
  take(flat, path);
  if (isPlainObject(nested)) take(nested, `${path}.spec`);
  const meta = isPlainObject(metadata) ? metadata : {};
  for (const key of Object.keys(meta)) {
    if (!(ALLOWED_METADATA_FIELDS as readonly string[]).includes(key)) issues.push(`${path}.metadata.${key}: not allowed (allowed: labels, annotations)`);
  }
  const labels = stringMap(meta.labels, `${path}.metadata.labels`, issues);
  const annotations = stringMap(meta.annotations, `${path}.metadata.annotations`, issues);
  if (specFields.nodeSelector !== undefined) stringMap(specFields.nodeSelector, `${path}.nodeSelector`, issues);
  for (const listField of ['tolerations', 'topologySpreadConstraints', 'imagePullSecrets', 'hostAliases']) {
    if (specFields[listField] !== undefined && !Array.isArray(specFields[listField])) issues.push(`${path}.${listField}: must be a list`);
  }
  if (issues.length) return { ok: false, issues };
  return { ok: true, overrides: { labels, annotations, spec: specFields } };
}

/** Layers `top` over `base`: maps (labels, annotations, nodeSelector) merge; other fields are replaced. */
export function mergePodOverrides(base: PodOverrides, top: PodOverrides): PodOverrides {
  const spec: Record<string, unknown> = { ...base.spec, ...top.spec };
  if (isPlainObject(base.spec.nodeSelector) && isPlainObject(top.spec.nodeSelector)) {
    spec.nodeSelector = { ...base.spec.nodeSelector, ...top.spec.nodeSelector };
  }
  return {
    labels: { ...base.labels, ...top.labels },
    annotations: { ...base.annotations, ...top.annotations },
    spec,
  };
}
