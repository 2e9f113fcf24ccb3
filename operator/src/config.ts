/**
 * Operator settings: a JSON/YAML file (the Helm chart renders it into a
 * ConfigMap) plus environment and flag overrides. Everything the pure render
 * needs beyond the McpServer itself comes from here.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * What each tenant's ACL user may run: data, streams, pub/sub, scripts and
 * connection commands on its own prefix; nothing that reads other tenants'
 * key names (SCAN, KEYS, RANDOMKEY, PUBSUB) or affects the whole server.
 */
export const DEFAULT_ACL_COMMANDS =
  '-@all +@read +@write +@stream +@pubsub +@scripting +@connection +@transaction -@dangerous ' +
  '+info +time +select +cluster|slots +cluster|shards +cluster|nodes +cluster|info +readonly +readwrite ' +
  '-scan -randomkey -keys -dbsize -pubsub -function -script|flush -script|kill -client|tracking';

const LabelMap = z.record(z.string(), z.string());
const Peer = z.record(z.string(), z.unknown()).describe('A NetworkPolicyPeer.');
const EgressRule = z.record(z.string(), z.unknown()).describe('A NetworkPolicyEgressRule.');

export const OperatorConfig = z
  .object({
    /** Only this namespace is watched and reconciled; empty: all namespaces. */
    namespace: z.string().default(''),
    runtime: z
      .object({
        image: z.string().min(1).default('ghcr.io/berth-dev/berth-runtime:0.1.0'),
        imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
        imagePullSecrets: z.array(z.string().min(1)).default([]),
        logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Applied when spec.resources is empty. */
        resources: z
          .record(z.string(), z.unknown())
          .default({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } }),
        /** Merged under each spec.podTemplate (the McpServer wins). */
        podTemplate: z.record(z.string(), z.unknown()).default({}),
        preStopSleepSeconds: z.number().int().min(0).max(60).default(5),
        /** Slack on top of preStop + drain before SIGKILL. */
        terminationMarginSeconds: z.number().int().min(1).max(600).default(10),
        /** npm registry the init container installs packages from (empty: npm's default). */
        npmRegistry: z.string().default(''),
      })
      .strict()
      .default(() => ({
        image: 'ghcr.io/berth-dev/berth-runtime:0.1.0',
        imagePullPolicy: 'IfNotPresent' as const,
        imagePullSecrets: [],
        logLevel: 'info' as const,
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        podTemplate: {},
        preStopSleepSeconds: 5,
        terminationMarginSeconds: 10,
        npmRegistry: '',
      })),
    redis: z
      .object({
        /** Admin URL (with credentials) the operator manages ACL users with. Prefer adminUrlFile. */
        adminUrl: z.string().default(''),
        /** File holding the admin URL (a mounted Secret key). */
        adminUrlFile: z.string().default(''),
        /** Host:port the runtime pods dial, when it differs from the admin URL's. */
        tenantAddress: z.string().default(''),
        /** Where Redis lives, for the NetworkPolicy egress allow. */
        networkPolicyPeers: z.array(Peer).default([]),
        /** ACL categories and commands granted to each tenant user. */
        aclCommands: z
          .string()
          .default(DEFAULT_ACL_COMMANDS),
      })
      .strict()
      .default(() => ({
        adminUrl: '',
        adminUrlFile: '',
        tenantAddress: '',
        networkPolicyPeers: [],
        aclCommands: DEFAULT_ACL_COMMANDS,
      })),
    networkPolicy: z
      .object({
        enabled: z.boolean().default(true),
        /** Where cluster DNS lives. */
        dnsPeers: z
          .array(Peer)
          .default([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]),
        /** Peers allowed to reach every McpServer (e.g. the ingress controller), added to spec.networkPolicy.ingressFrom. */
        ingressFrom: z.array(Peer).default([]),
        /** Egress rules added for every McpServer. */
        egressTo: z.array(EgressRule).default([]),
        /** Egress allowed to the init container that installs npm packages. */
        packageEgress: z.array(EgressRule).default([{ ports: [{ protocol: 'TCP', port: 443 }] }]),
        /** The operator's own pods (reads /admin/audit). */
        operatorPeer: Peer.optional(),
      })
      .strict()
      .default(() => ({
        enabled: true,
        dnsPeers: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ingressFrom: [],
        egressTo: [],
        packageEgress: [{ ports: [{ protocol: 'TCP', port: 443 }] }],
      })),
    audit: z
      .object({
        enabled: z.boolean().default(true),
        /** `{name}`, `{namespace}`, `{path}` are substituted. */
        urlTemplate: z.string().default('http://{name}.{namespace}.svc:8080/admin/audit'),
        refreshSeconds: z.number().int().min(10).default(600),
        timeoutMs: z.number().int().min(100).max(60_000).default(2000),
      })
      .strict()
      .default(() => ({ enabled: true, urlTemplate: 'http://{name}.{namespace}.svc:8080/admin/audit', refreshSeconds: 600, timeoutMs: 2000 })),
    /** OpenTelemetry traces of the runtime pods (rendered as their OTEL_* env). */
    tracing: z
      .object({
        /** Base URL of an OTLP/HTTP collector (traces go to <url>/v1/traces); empty: tracing off. */
        otlpEndpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
        /** Fraction of new traces recorded; a caller's sampled traceparent is always followed. */
        samplingRatio: z.number().min(0).max(1).default(1),
        /** Where the collector lives, for the NetworkPolicy egress allow (empty: its port anywhere). */
        networkPolicyPeers: z.array(Peer).default([]),
      })
      .strict()
      .default(() => ({ otlpEndpoint: '', samplingRatio: 1, networkPolicyPeers: [] })),
    leaderElection: z
      .object({
        enabled: z.boolean().default(true),
        namespace: z.string().default(''),
        leaseName: z.string().default('berth-operator'),
        leaseDurationSeconds: z.number().int().min(2).default(15),
        renewDeadlineSeconds: z.number().int().min(1).default(10),
        retryPeriodSeconds: z.number().min(0.1).default(2),
      })
      .strict()
      .refine((l) => l.renewDeadlineSeconds < l.leaseDurationSeconds && l.retryPeriodSeconds < l.renewDeadlineSeconds, {
        message: 'need retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds',
      })
      .default(() => ({ enabled: true, namespace: '', leaseName: 'berth-operator', leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 })),
    workers: z.number().int().min(1).max(64).default(4),
    http: z
      .object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(8081) })
      .strict()
      .default({ host: '0.0.0.0', port: 8081 }),
    /** Full re-list of every watched kind, catching anything a watch missed. */
    resyncSeconds: z.number().int().min(30).default(600),
    /** A watch silent for this long (no event, no bookmark) is restarted. */
    watchStaleSeconds: z.number().int().min(10).default(180),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Identity in the Lease; defaults to POD_NAME or the hostname. */
    identity: z.string().default(''),
    extraLabels: LabelMap.default({}),
  })
  .strict();

export type OperatorConfig = z.infer<typeof OperatorConfig>;
export type OperatorConfigInput = z.input<typeof OperatorConfig>;

/** Settings for tests and library use: the defaults with overrides. */
export function operatorConfig(input: OperatorConfigInput = {}): OperatorConfig {
  return OperatorConfig.parse(input);
}

/** A configuration problem: printed, exit status 2. */
export class OperatorConfigError extends Error {
  override readonly name = 'OperatorConfigError';
}

/**
 * Loads settings: `--config <file>` (JSON or YAML), then the environment
 * (WATCH_NAMESPACE, POD_NAMESPACE, POD_NAME, BERTH_RUNTIME_IMAGE,
 * BERTH_REDIS_ADMIN_URL[_FILE], BERTH_LOG_LEVEL), then flags
 * (`--namespace`, `--port`, `--no-leader-elect`).
 */
export function loadOperatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' },
      namespace: { type: 'string' },
      port: { type: 'string' },
      'no-leader-elect': { type: 'boolean' },
      'lease-namespace': { type: 'string' },
    },
    strict: true,
  });
  let doc: Record<string, any> = {};
  if (values.config) {
    try {
      doc = (parseYaml(readFileSync(values.config, 'utf8')) ?? {}) as Record<string, any>;
    } catch (err) {
      throw new OperatorConfigError(`cannot read --config ${values.config}: ${(err as Error).message}`);
    }
  }
  const set = (path: string[], value: unknown): void => {
    let node = doc;
    for (const key of path.slice(0, -1)) node = node[key] ??= {};
    node[path.at(-1)!] = value;
  };
  if (env.WATCH_NAMESPACE !== undefined) set(['namespace'], env.WATCH_NAMESPACE);
  if (env.BERTH_RUNTIME_IMAGE) set(['runtime', 'image'], env.BERTH_RUNTIME_IMAGE);
  if (env.BERTH_REDIS_ADMIN_URL) set(['redis', 'adminUrl'], env.BERTH_REDIS_ADMIN_URL);
  if (env.BERTH_REDIS_ADMIN_URL_FILE) set(['redis', 'adminUrlFile'], env.BERTH_REDIS_ADMIN_URL_FILE);
  if (env.BERTH_LOG_LEVEL) set(['logLevel'], env.BERTH_LOG_LEVEL);
  if (env.POD_NAME && !doc.identity) set(['identity'], env.POD_NAME);
  if (env.POD_NAMESPACE && !doc.leaderElection?.namespace) set(['leaderElection', 'namespace'], env.POD_NAMESPACE);
  if (values.namespace !== undefined) set(['namespace'], values.namespace);
  if (values.port !== undefined) set(['http', 'port'], Number(values.port));
  if (values['no-leader-elect']) set(['leaderElection', 'enabled'], false);
  if (values['lease-namespace']) set(['leaderElection', 'namespace'], values['lease-namespace']);
  const result = OperatorConfig.safeParse(doc);
  if (!result.success) {
    throw new OperatorConfigError(
      `invalid operator config:\n${result.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`,
    );
  }
  return result.data;
}
