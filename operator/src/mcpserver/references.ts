/** Secrets and ConfigMaps an McpServer spec refers to: mounted read-only, never copied. */
import type { McpServerSpec } from '../../../runtime/src/config/spec.ts';

/** name → optional (true only when every reference to it is optional). */
export type References = Map<string, boolean>;

function add(refs: References, name: string | undefined, optional: boolean | undefined): void {
  if (!name) return;
  const previous = refs.get(name);
  refs.set(name, (previous ?? true) && optional === true);
}

/** Secrets referenced by the spec (env, headers, API keys, introspection secret, Redis override). */
export function referencedSecrets(spec: McpServerSpec): References {
  const refs: References = new Map();
  for (const v of [...(spec.source.stdio?.env ?? []), ...(spec.source.remote?.headers ?? [])]) {
    add(refs, v.valueFrom?.secretKeyRef?.name, v.valueFrom?.secretKeyRef?.optional);
  }
  add(refs, spec.auth.apiKeys?.secretRef.name, false);
  add(refs, spec.auth.oauth?.introspection?.clientSecretRef?.name, false);
  add(refs, spec.redis?.secretRef.name, false);
  return new Map([...refs].sort(([a], [b]) => a.localeCompare(b)));
}

/** ConfigMaps referenced by the spec (env, headers, module source). */
export function referencedConfigMaps(spec: McpServerSpec): References {
  const refs: References = new Map();
  for (const v of [...(spec.source.stdio?.env ?? []), ...(spec.source.remote?.headers ?? [])]) {
    add(refs, v.valueFrom?.configMapKeyRef?.name, v.valueFrom?.configMapKeyRef?.optional);
  }
  add(refs, spec.source.module?.configMapRef?.name, spec.source.module?.configMapRef?.optional);
  return new Map([...refs].sort(([a], [b]) => a.localeCompare(b)));
}

/** The npm package the init container installs, if the source names one. */
export function sourcePackage(spec: McpServerSpec): string | undefined {
  return spec.source.module?.package ?? spec.source.stdio?.package;
}

/** One reference of the spec to a Secret or ConfigMap, with the field that makes it. */
export interface Reference {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  optional: boolean;
  field: string;
}

/** Every Secret/ConfigMap reference of the spec, naming its field (for "does not exist" messages). */
export function references(spec: McpServerSpec): Reference[] {
  const out: Reference[] = [];
  const values = (list: ReadonlyArray<{ valueFrom?: { secretKeyRef?: { name: string; optional?: boolean }; configMapKeyRef?: { name: string; optional?: boolean } } }>, field: string): void => {
    list.forEach((v, i) => {
      const s = v.valueFrom?.secretKeyRef;
      const c = v.valueFrom?.configMapKeyRef;
      if (s) out.push({ kind: 'Secret', name: s.name, optional: s.optional === true, field: `${field}[${i}].valueFrom.secretKeyRef` });
      if (c) out.push({ kind: 'ConfigMap', name: c.name, optional: c.optional === true, field: `${field}[${i}].valueFrom.configMapKeyRef` });
    });
  };
  values(spec.source.stdio?.env ?? [], 'spec.source.stdio.env');
  values(spec.source.remote?.headers ?? [], 'spec.source.remote.headers');
  const cm = spec.source.module?.configMapRef;
  if (cm) out.push({ kind: 'ConfigMap', name: cm.name, optional: cm.optional === true, field: 'spec.source.module.configMapRef' });
  if (spec.auth.apiKeys) out.push({ kind: 'Secret', name: spec.auth.apiKeys.secretRef.name, optional: false, field: 'spec.auth.apiKeys.secretRef' });
  const intro = spec.auth.oauth?.introspection?.clientSecretRef?.name;
  if (intro) out.push({ kind: 'Secret', name: intro, optional: false, field: 'spec.auth.oauth.introspection.clientSecretRef' });
  if (spec.redis?.secretRef.name) out.push({ kind: 'Secret', name: spec.redis.secretRef.name, optional: false, field: 'spec.redis.secretRef' });
  return out;
}
