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
