/**
 * The desired children of one McpServer — a pure function of the resource,
 * the operator settings and the tenant's credentials. No I/O: the reconciler
 * applies the result with server-side apply.
 */
import { RUNTIME_CONFIG_API_VERSION, RUNTIME_CONFIG_KIND, type RuntimeConfigInput } from '../../../runtime/src/config/runtime-config.ts';
import type { McpServerSpec } from '../../../runtime/src/config/spec.ts';
import type { OperatorConfig } from '../config.ts';
import type { KubeObject } from '../kube/types.ts';
import { hashOf, isPlainObject } from '../util/canonical.ts';
import {
  ANNOTATION_APPLIED_HASH,
  ANNOTATION_CONFIG_HASH,
  ANNOTATION_CREDENTIALS_HASH,
  CONFIG_DIR,
  CONFIG_FILE,
  CONFIG_KEY,
  CONFIGMAPS_DIR,
  HTTP_PORT,
  IMAGE_WORKDIR,
  PACKAGES_DIR,
  RUNTIME_ENTRY,
  RUNTIME_UID,
  SECRETS_DIR,
  childNames,
  commonLabels,
  ownerReference,
  redisKeyPrefix,
  selectorLabels,
  type McpServerObject,
} from './names.ts';
import { networkPolicySpec } from './network-policy.ts';
import { mergePodOverrides, parsePodTemplate, type PodOverrides } from './pod-template.ts';
import { referencedConfigMaps, referencedSecrets, sourcePackage } from './references.ts';
import { tracingEnv } from './tracing.ts';

/** Credentials the reconciler owns (random, so they can't come from the pure render). */
export interface TenantCredentials {
  /** Tenant Redis URL with the ACL user's password; absent when the operator manages no Redis for it. */
  redisUrl?: string | undefined;
  /** Shared token authenticating owner-forwarded requests between replicas. */
  internalToken: string;
}

export interface RenderInput {
  mcp: McpServerObject;
  spec: McpServerSpec;
  config: OperatorConfig;
  credentials: TenantCredentials;
}

export interface DesiredState {
  /** Children in apply order (the Deployment after what it mounts). */
  objects: KubeObject[];
  runtimeConfig: RuntimeConfigInput;
  configHash: string;
}

export type RenderResult = { ok: true; desired: DesiredState } | { ok: false; issues: string[] };

const TMP_DIR = '/tmp';
const base64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Volume name for a mounted Secret/ConfigMap: readable when it fits a DNS label, hashed otherwise. */
function volumeName(prefix: 'secret' | 'configmap', name: string): string {
  const candidate = `${prefix}-${name}`;
  if (candidate.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(candidate)) return candidate;
  return `${prefix}-${hashOf(name).slice('sha256:'.length, 'sha256:'.length + 16)}`;
}

/** Seconds between SIGTERM (after preStop) and SIGKILL: preStop + drain + margin. */
export function terminationGracePeriod(spec: McpServerSpec, config: OperatorConfig): number {
  return config.runtime.preStopSleepSeconds + Math.ceil(spec.drain.gracePeriodSeconds) + config.runtime.terminationMarginSeconds;
}

/** The runtime config document the pods load from the ConfigMap. */
export function runtimeConfigDocument(input: RenderInput): RuntimeConfigInput {
  const { mcp, spec, config, credentials } = input;
  const names = childNames(mcp.metadata.name);
  const { namespace, name } = mcp.metadata;
  let redisUrlFile: string | undefined;
  if (spec.redis?.secretRef.name) redisUrlFile = `${SECRETS_DIR}/${spec.redis.secretRef.name}/url`;
  else if (credentials.redisUrl) redisUrlFile = `${SECRETS_DIR}/${names.redisSecret}/url`;
  // Replicas are the Deployment's business: scaling must not restart pods.
  const { replicas: _replicas, ...runtimeSpec } = spec;
  return {
    apiVersion: RUNTIME_CONFIG_API_VERSION,
    kind: RUNTIME_CONFIG_KIND,
    tenant: { namespace, name },
    spec: runtimeSpec,
    runtime: {
      listen: { host: '0.0.0.0', port: HTTP_PORT },
      secretsDir: SECRETS_DIR,
      configMapsDir: CONFIGMAPS_DIR,
      packagesDir: PACKAGES_DIR,
      baseDir: IMAGE_WORKDIR,
      ...(redisUrlFile ? { redis: { urlFile: redisUrlFile, keyPrefix: redisKeyPrefix(namespace, name) } } : {}),
      internalTokenFile: `${SECRETS_DIR}/${names.internalSecret}/token`,
      logLevel: config.runtime.logLevel,
    },
  };
}

function metadata(mcp: McpServerObject, name: string, labels: Record<string, string>): KubeObject['metadata'] {
  return { name, namespace: mcp.metadata.namespace, labels, ownerReferences: [ownerReference(mcp) as never] };
}

function restrictedContainerSecurity(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: RUNTIME_UID,
    runAsGroup: RUNTIME_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function defaultTopologySpread(name: string): unknown[] {
  return ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selectorLabels(name) },
    matchLabelKeys: ['pod-template-hash'],
  }));
}

/** Renders every child, or the issues that make the McpServer unrenderable. */
export function renderDesired(input: RenderInput): RenderResult {
  const { mcp, spec, config, credentials } = input;
  const { name } = mcp.metadata;
  const names = childNames(name);
  const labels = commonLabels(name, config.extraLabels);

  const defaults = parsePodTemplate(config.runtime.podTemplate, 'operator runtime.podTemplate');
  const own = parsePodTemplate(spec.podTemplate);
  const issues = [...(defaults.ok ? [] : defaults.issues), ...(own.ok ? [] : own.issues)];
  if (!defaults.ok || !own.ok) return { ok: false, issues };
  const overrides: PodOverrides = mergePodOverrides(defaults.overrides, own.overrides);
  const resources = Object.keys(spec.resources).length ? spec.resources : config.runtime.resources;
  if (!isPlainObject(resources)) return { ok: false, issues: ['spec.resources: must be an object'] };

  const runtimeConfig = runtimeConfigDocument(input);
  const configJson = `${JSON.stringify(runtimeConfig, null, 2)}\n`;
  const configHash = hashOf(JSON.parse(configJson));

  // Volumes: config, scratch, packages, and every referenced Secret/ConfigMap at <dir>/<name>.
  const volumes: Record<string, unknown>[] = [
    { name: 'config', configMap: { name: names.configMap, items: [{ key: CONFIG_KEY, path: CONFIG_KEY }] } },
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
    { name: 'packages', emptyDir: { sizeLimit: '1Gi' } },
  ];
  const mounts: Record<string, unknown>[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'tmp', mountPath: TMP_DIR },
    { name: 'packages', mountPath: PACKAGES_DIR },
  ];
  const secrets = referencedSecrets(spec);
  const operatorRedis = !spec.redis?.secretRef.name && credentials.redisUrl !== undefined;
  if (operatorRedis) secrets.set(names.redisSecret, false);
  secrets.set(names.internalSecret, false);
  for (const [secretName, optional] of [...secrets].sort(([a], [b]) => a.localeCompare(b))) {
    const volume = volumeName('secret', secretName);
    volumes.push({ name: volume, secret: { secretName, defaultMode: 0o440, ...(optional ? { optional: true } : {}) } });
    mounts.push({ name: volume, mountPath: `${SECRETS_DIR}/${secretName}`, readOnly: true });
  }
  for (const [cmName, optional] of referencedConfigMaps(spec)) {
    const volume = volumeName('configmap', cmName);
    volumes.push({ name: volume, configMap: { name: cmName, defaultMode: 0o440, ...(optional ? { optional: true } : {}) } });
    mounts.push({ name: volume, mountPath: `${CONFIGMAPS_DIR}/${cmName}`, readOnly: true });
  }

  const env = [
    { name: 'HOME', value: TMP_DIR },
    { name: 'NODE_ENV', value: 'production' },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ...tracingEnv(config.tracing, { namespace: mcp.metadata.namespace, name }),
  ];
  const pkg = sourcePackage(spec);
  const initContainers = pkg
    ? [
        {
          name: 'install-package',
          image: config.runtime.image,
          imagePullPolicy: config.runtime.imagePullPolicy,
          workingDir: IMAGE_WORKDIR,
          command: [...RUNTIME_ENTRY],
          args: ['install-package', pkg, '--dir', PACKAGES_DIR],
          env: [
            { name: 'HOME', value: TMP_DIR },
            { name: 'npm_config_cache', value: `${TMP_DIR}/.npm` },
            { name: 'npm_config_update_notifier', value: 'false' },
            ...(config.runtime.npmRegistry ? [{ name: 'npm_config_registry', value: config.runtime.npmRegistry }] : []),
          ],
          resources,
          securityContext: restrictedContainerSecurity(),
          volumeMounts: [
            { name: 'tmp', mountPath: TMP_DIR },
            { name: 'packages', mountPath: PACKAGES_DIR },
          ],
        },
      ]
    : undefined;

  const probe = (path: string, periodSeconds: number, failureThreshold: number): Record<string, unknown> => ({
    httpGet: { path, port: 'http', scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  const container = {
    name: 'runtime',
    image: config.runtime.image,
    imagePullPolicy: config.runtime.imagePullPolicy,
    workingDir: IMAGE_WORKDIR,
    command: [...RUNTIME_ENTRY],
    args: ['serve', '--config', CONFIG_FILE],
    env,
    ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
    startupProbe: probe('/health', 2, 90),
    livenessProbe: probe('/health', 10, 3),
    readinessProbe: probe('/ready', 5, 2),
    ...(config.runtime.preStopSleepSeconds > 0 ? { lifecycle: { preStop: { sleep: { seconds: config.runtime.preStopSleepSeconds } } } } : {}),
    resources,
    securityContext: restrictedContainerSecurity(),
    volumeMounts: mounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };

  const pullSecrets = [
    ...config.runtime.imagePullSecrets.map((n) => ({ name: n })),
    ...((overrides.spec.imagePullSecrets as unknown[] | undefined) ?? []),
  ];
  const podSpec: Record<string, unknown> = {
    ...overrides.spec,
    serviceAccountName: names.serviceAccount,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: terminationGracePeriod(spec, config),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUNTIME_UID,
      runAsGroup: RUNTIME_UID,
      fsGroup: RUNTIME_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(initContainers ? { initContainers } : {}),
    containers: [container],
    volumes,
    topologySpreadConstraints: overrides.spec.topologySpreadConstraints ?? defaultTopologySpread(name),
  };
  if (pullSecrets.length) podSpec.imagePullSecrets = pullSecrets;
  else delete podSpec.imagePullSecrets;

  const configMap: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(mcp, names.configMap, labels),
    data: { [CONFIG_KEY]: configJson },
  };
  const secretObjects: KubeObject[] = [];
  if (operatorRedis && credentials.redisUrl) {
    secretObjects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: metadata(mcp, names.redisSecret, labels),
      type: 'Opaque',
      data: { url: base64(credentials.redisUrl) },
    });
  }
  secretObjects.push({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(mcp, names.internalSecret, labels),
    type: 'Opaque',
    data: { token: base64(credentials.internalToken) },
  });
  const serviceAccount: KubeObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadata(mcp, names.serviceAccount, labels),
    automountServiceAccountToken: false,
  };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(mcp, names.service, labels),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(name),
      ports: [{ name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }],
    },
  };
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(mcp, names.deployment, labels),
    spec: {
      ...(spec.replicas !== undefined ? { replicas: spec.replicas } : {}),
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
      template: {
        metadata: {
          labels: { ...overrides.labels, ...labels },
          annotations: {
            ...overrides.annotations,
            [ANNOTATION_CONFIG_HASH]: configHash,
            [ANNOTATION_CREDENTIALS_HASH]: hashOf({ redisUrl: operatorRedis ? credentials.redisUrl : undefined, token: credentials.internalToken }),
          },
        },
        spec: podSpec,
      },
    },
  };
  const objects: KubeObject[] = [configMap, ...secretObjects, serviceAccount, service, deployment];
  if (config.networkPolicy.enabled) {
    const redisPort = operatorRedis && credentials.redisUrl ? portOfRedisUrl(credentials.redisUrl) : undefined;
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: metadata(mcp, names.networkPolicy, labels),
      spec: networkPolicySpec({ name, spec, config, redisPort }),
    });
  }
  // Unset replicas means an HPA owns them, and it usually runs more than one.
  if (spec.replicas === undefined || spec.replicas > 1) {
    objects.push({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metadata(mcp, names.podDisruptionBudget, labels),
      spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(name) }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
  }
  for (const obj of objects) stampAppliedHash(obj);
  return { ok: true, desired: { objects, runtimeConfig, configHash } };
}

function portOfRedisUrl(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : 6379;
}

/** Records the hash of what is applied, so an unchanged child is not re-applied. */
export function stampAppliedHash(obj: KubeObject): void {
  const { annotations: _ignored, ...meta } = obj.metadata;
  const annotations = { ...(obj.metadata.annotations ?? {}) };
  delete annotations[ANNOTATION_APPLIED_HASH];
  const hash = hashOf({ ...obj, metadata: { ...meta, annotations } });
  obj.metadata.annotations = { ...annotations, [ANNOTATION_APPLIED_HASH]: hash };
}

/** Kinds the operator creates, with what pruning needs to find stale ones. */
export const CHILD_KINDS = [
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
] as const;
