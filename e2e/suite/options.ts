/**
 * What the suite runs against, read from the environment. Capabilities are
 * declared by whoever runs the suite (a kind script, a CI job, a test):
 * the suite never guesses them from what the cluster seems to lack, and it
 * prints every setting it used.
 */
import { resolve } from 'node:path';

export type OperatorMode = 'in-cluster' | 'local';

export interface SuiteOptions {
  /** Path of the kubeconfig (KUBECONFIG). */
  kubeconfig: string;
  /** BERTH_E2E_REAL_PODS=1: pods really run (kind, a real node), so Services can be called. */
  realPods: boolean;
  /**
   * BERTH_E2E_PACKAGE_EGRESS=1: pods can install npm packages (they reach the
   * registry, or `runtime.npmRegistry`). Examples whose source is an npm
   * package are deployed on real pods only then.
   */
  packageEgress: boolean;
  /**
   * BERTH_E2E_IMAGE_EXAMPLES=/app/examples: the runtime image holds the
   * repository's examples/ at this path, so module examples given by a local
   * `path` can run in pods (their path is rewritten to it).
   */
  imageExamples: string | undefined;
  /**
   * BERTH_E2E_OPERATOR: `in-cluster` (default) runs the operator from the
   * chart's Deployment; `local` runs `operator/src/main.ts` from this
   * checkout as a process on this machine, with the chart's rendered
   * settings and the chart's ServiceAccount token (for control planes whose
   * pods don't run, like kwok), and a local redis-server as its Redis.
   */
  operator: OperatorMode;
  /** BERTH_E2E_SCOPE: the chart's `scope` (cluster: every namespace; namespace: the tenant namespace only). */
  scope: 'cluster' | 'namespace';
  /** BERTH_E2E_CHART_CRDS=0: the CRD is applied from crds/ before the install, and the chart leaves it alone. */
  chartCrds: boolean;
  /** BERTH_E2E_OPERATOR_IMAGE / BERTH_E2E_RUNTIME_IMAGE: `repository:tag`. */
  operatorImage: string;
  runtimeImage: string;
  /** BERTH_E2E_PULL_POLICY (default IfNotPresent; `kind load` images need IfNotPresent or Never). */
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** BERTH_E2E_REDIS_IMAGE: the bundled Redis image (in-cluster operator only). */
  redisImage: string | undefined;
  /** BERTH_E2E_TIMEOUT_S: how long to wait for Ready and rollouts (default 60 s without real pods, 300 s with). */
  timeoutMs: number;
  /** BERTH_E2E_KEEP=1: leave the namespaces and the release for inspection. */
  keep: boolean;
  /** KUBECTL / HELM: binaries (default: the pinned ones the e2e workspace extracts). */
  kubectl: string | undefined;
  helm: string | undefined;
  /** Repository root (charts, crds, examples, operator). */
  repoRoot: string;
}

export class SuiteConfigError extends Error {
  override readonly name = 'SuiteConfigError';
}

const flag = (v: string | undefined): boolean => v === '1' || v === 'true' || v === 'yes';

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new SuiteConfigError(`${name}=${value}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

/** Reads the options from `env`; throws SuiteConfigError naming the variable when one is wrong. */
export function suiteOptions(env: NodeJS.ProcessEnv = process.env, overrides: Partial<SuiteOptions> = {}): SuiteOptions {
  const kubeconfig = overrides.kubeconfig ?? env.KUBECONFIG;
  if (!kubeconfig) throw new SuiteConfigError('KUBECONFIG is not set: the suite runs against the cluster it names');
  if (kubeconfig.includes(':')) throw new SuiteConfigError('KUBECONFIG must name one file');
  const realPods = flag(env.BERTH_E2E_REAL_PODS);
  const timeoutS = env.BERTH_E2E_TIMEOUT_S ? Number(env.BERTH_E2E_TIMEOUT_S) : realPods ? 300 : 60;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new SuiteConfigError(`BERTH_E2E_TIMEOUT_S=${env.BERTH_E2E_TIMEOUT_S}: expected seconds`);
  const options: SuiteOptions = {
    kubeconfig: resolve(kubeconfig),
    realPods,
    packageEgress: flag(env.BERTH_E2E_PACKAGE_EGRESS),
    imageExamples: env.BERTH_E2E_IMAGE_EXAMPLES || undefined,
    operator: oneOf('BERTH_E2E_OPERATOR', env.BERTH_E2E_OPERATOR, ['in-cluster', 'local'] as const, 'in-cluster'),
    scope: oneOf('BERTH_E2E_SCOPE', env.BERTH_E2E_SCOPE, ['cluster', 'namespace'] as const, 'cluster'),
    chartCrds: env.BERTH_E2E_CHART_CRDS === undefined ? true : flag(env.BERTH_E2E_CHART_CRDS),
    operatorImage: env.BERTH_E2E_OPERATOR_IMAGE || 'ghcr.io/berth-dev/berth-operator:0.1.0',
    runtimeImage: env.BERTH_E2E_RUNTIME_IMAGE || 'ghcr.io/berth-dev/berth-runtime:0.1.0',
    pullPolicy: oneOf('BERTH_E2E_PULL_POLICY', env.BERTH_E2E_PULL_POLICY, ['Always', 'IfNotPresent', 'Never'] as const, 'IfNotPresent'),
    redisImage: env.BERTH_E2E_REDIS_IMAGE || undefined,
    timeoutMs: timeoutS * 1000,
    keep: flag(env.BERTH_E2E_KEEP),
    kubectl: env.KUBECTL || undefined,
    helm: env.HELM || undefined,
    repoRoot: resolve(import.meta.dirname, '..', '..'),
    ...overrides,
  };
  if (options.packageEgress && !options.realPods) throw new SuiteConfigError('BERTH_E2E_PACKAGE_EGRESS=1 needs BERTH_E2E_REAL_PODS=1');
  if (options.imageExamples && !options.realPods) throw new SuiteConfigError('BERTH_E2E_IMAGE_EXAMPLES needs BERTH_E2E_REAL_PODS=1');
  for (const [name, image] of [['BERTH_E2E_OPERATOR_IMAGE', options.operatorImage], ['BERTH_E2E_RUNTIME_IMAGE', options.runtimeImage]] as const) {
    if (!/^[^\s:]+(:\d+)?(\/[^\s:]+)*:[\w.-]+$/.test(image)) throw new SuiteConfigError(`${name}=${image}: expected repository:tag`);
  }
  return options;
}

/** Splits `registry:5000/name:tag` into repository and tag. */
export function splitImage(image: string): { repository: string; tag: string } {
  const at = image.lastIndexOf(':');
  return { repository: image.slice(0, at), tag: image.slice(at + 1) };
}

/** Capabilities the checks may need, derived only from the declared options. */
export type Capability = 'real-pods' | 'package-egress' | 'operator-in-cluster' | 'operator-reachable' | 'redis-inspectable';

/** What each capability means, for the report. */
export const CAPABILITY_TEXT: Record<Capability, string> = {
  'real-pods': 'pods that really run (BERTH_E2E_REAL_PODS=1)',
  'package-egress': 'pods that can install npm packages (BERTH_E2E_PACKAGE_EGRESS=1)',
  'operator-in-cluster': 'the operator running from the chart (BERTH_E2E_OPERATOR=in-cluster)',
  'operator-reachable': "the operator's /metrics reachable (a local operator, or real pods for a port-forward)",
  'redis-inspectable': "the operator's Redis on this machine (BERTH_E2E_OPERATOR=local)",
};

/** The capabilities the options declare. */
export function capabilities(o: SuiteOptions): Set<Capability> {
  const caps = new Set<Capability>();
  if (o.realPods) caps.add('real-pods');
  if (o.packageEgress) caps.add('package-egress');
  if (o.operator === 'in-cluster') caps.add('operator-in-cluster');
  if (o.operator === 'local' || o.realPods) caps.add('operator-reachable');
  if (o.operator === 'local') caps.add('redis-inspectable');
  return caps;
}
