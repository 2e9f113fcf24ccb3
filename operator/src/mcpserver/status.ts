/**
 * The McpServer status as a pure function of what the reconciler observed:
 * the Deployment, its pods, errors of this pass, and the runtime's tool audit.
 * Conditions keep their lastTransitionTime unless their status flips.
 */
import type { McpServerSpec } from '../../../runtime/src/config/spec.ts';
import type { Condition, ConditionType, McpServerStatus, ToolFinding, ToolsStatus } from '../api/v1alpha1/status.ts';
import type { ContainerStatus, Deployment, Pod } from '../kube/types.ts';
import { ANNOTATION_CONFIG_HASH, selectorString, serviceUrl, type McpServerObject } from './names.ts';

/** A problem of this reconcile pass that the status must report. */
export interface ReconcileProblem {
  reason: string;
  message: string;
}

export type AuditObservation =
  | { kind: 'ok'; tools: ToolsStatus }
  | { kind: 'unavailable'; message: string };

export interface StatusInput {
  mcp: McpServerObject;
  /** Parsed spec; undefined when it failed validation (see `problem`). */
  spec?: McpServerSpec | undefined;
  /** The Deployment after this pass's apply (or as cached). */
  deployment?: Deployment | undefined;
  /** Pods of this McpServer. */
  pods: readonly Pod[];
  /** The config hash the pods should run. */
  configHash?: string | undefined;
  /** Invalid spec, apply failure, Redis failure... (most important first). */
  problems: readonly ReconcileProblem[];
  /** Undefined: not read this pass (the previous tools status is kept). */
  audit?: AuditObservation | undefined;
  now: Date;
}

/** Pod-level failures worth naming in Degraded and Ready. */
const FAILING_WAITING_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'ContainerCannotRun',
]);

/** The first failure visible on the pods: `{reason, message}` naming pod and container. */
export function podFailure(pods: readonly Pod[]): ReconcileProblem | undefined {
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const statuses: Array<[string, ContainerStatus]> = [
      ...(pod.status?.initContainerStatuses ?? []).map((s): [string, ContainerStatus] => ['init container', s]),
      ...(pod.status?.containerStatuses ?? []).map((s): [string, ContainerStatus] => ['container', s]),
    ];
    for (const [what, cs] of statuses) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && FAILING_WAITING_REASONS.has(waiting.reason)) {
        const last = cs.lastState?.terminated;
        const detail = waiting.message ?? (last ? `last exit ${last.exitCode ?? '?'} (${last.reason ?? 'Error'})${last.message ? `: ${last.message}` : ''}` : '');
        return { reason: waiting.reason, message: truncate(`pod ${pod.metadata.name}, ${what} ${cs.name}: ${waiting.reason}${detail ? `: ${detail}` : ''}`) };
      }
      if (cs.lastState?.terminated?.reason === 'OOMKilled' && !cs.ready) {
        return { reason: 'OOMKilled', message: `pod ${pod.metadata.name}, ${what} ${cs.name} was killed for exceeding its memory limit` };
      }
    }
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      return { reason: 'Unschedulable', message: truncate(`pod ${pod.metadata.name}: ${scheduled.message ?? 'cannot be scheduled'}`) };
    }
  }
  return undefined;
}

function truncate(s: string, max = 1024): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

interface Rollout {
  desired: number;
  replicas: number;
  ready: number;
  updated: number;
  available: number;
  observed: boolean;
  runsCurrentConfig: boolean;
  deadlineExceeded: boolean;
  availableCondition: boolean;
}

function rolloutOf(deployment: Deployment | undefined, configHash: string | undefined): Rollout | undefined {
  if (!deployment) return undefined;
  const st = deployment.status ?? {};
  const templateHash = deployment.spec?.template?.metadata?.annotations?.[ANNOTATION_CONFIG_HASH];
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  return {
    desired: deployment.spec?.replicas ?? 1,
    replicas: st.replicas ?? 0,
    ready: st.readyReplicas ?? 0,
    updated: st.updatedReplicas ?? 0,
    available: st.availableReplicas ?? 0,
    observed: (st.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0),
    runsCurrentConfig: configHash === undefined || templateHash === configHash,
    deadlineExceeded: progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded',
    availableCondition: st.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false,
  };
}

function complete(r: Rollout): boolean {
  return r.observed && r.runsCurrentConfig && r.updated === r.desired && r.replicas === r.desired && r.available === r.desired;
}

type Draft = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

function cond(type: ConditionType, status: Condition['status'], reason: string, message: string): Draft {
  return { type, status, reason, message: truncate(message, 32768) };
}

function authCondition(spec: McpServerSpec | undefined): Draft {
  if (!spec) return cond('Authenticated', 'Unknown', 'InvalidSpec', 'The spec is invalid.');
  if (spec.auth.oauth) return cond('Authenticated', 'True', 'OAuth', `Requests need an OAuth 2.1 bearer token issued by ${spec.auth.oauth.issuer}.`);
  if (spec.auth.apiKeys) return cond('Authenticated', 'True', 'ApiKeys', `Requests need an API key from Secret ${spec.auth.apiKeys.secretRef.name}.`);
  return cond('Authenticated', 'False', 'AuthDisabled', 'auth.none: anyone who can reach the endpoint can call its tools.');
}

function describeFindings(findings: readonly ToolFinding[], total: number): string {
  const listed = findings.slice(0, 5).map((f) => `${f.tool}: ${f.code}`);
  return `${total} finding${total === 1 ? '' : 's'}: ${listed.join('; ')}${total > listed.length ? '; …' : ''}`;
}

/** A condition as it stands, as a draft (its times are merged again). */
const kept = (c: Condition): Draft => ({ type: c.type, status: c.status, reason: c.reason, message: c.message });

function auditCondition(tools: ToolsStatus | undefined, audit: AuditObservation | undefined, previous: Condition | undefined): Draft {
  if (audit?.kind === 'unavailable' && !tools) {
    // An unreachable runtime is read again every minute and its error text varies (a timeout, then a
    // refused connection): keeping the first one saves a status write per McpServer per minute.
    if (previous?.reason === 'AuditUnavailable') return kept(previous);
    return cond('ToolsAudited', 'Unknown', 'AuditUnavailable', audit.message);
  }
  if (!tools) return previous ? kept(previous) : cond('ToolsAudited', 'Unknown', 'AuditPending', 'No ready replica has reported its tool audit yet.');
  const total = tools.findingsTotal ?? tools.findings.length;
  if (total === 0) return cond('ToolsAudited', 'True', 'NoFindings', `${tools.count} tools audited, digest ${tools.digest}.`);
  return cond('ToolsAudited', 'False', 'FindingsPresent', describeFindings(tools.findings, total));
}

/** Merges drafts into conditions, keeping lastTransitionTime when the status did not flip. */
export function mergeConditions(previous: readonly Condition[] | undefined, drafts: readonly Draft[], generation: number, now: Date): Condition[] {
  return drafts.map((d) => {
    const old = previous?.find((c) => c.type === d.type);
    const lastTransitionTime = old && old.status === d.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { ...d, observedGeneration: generation, lastTransitionTime };
  });
}

/** The whole status. */
export function computeStatus(input: StatusInput): McpServerStatus {
  const { mcp, spec, deployment, pods, problems, audit, now, configHash } = input;
  const previous = mcp.status;
  const generation = mcp.metadata.generation ?? 0;
  const rollout = rolloutOf(deployment, configHash);
  const failure = podFailure(pods);

  let available: Draft;
  let progressing: Draft;
  if (!rollout) {
    available = cond('Available', 'False', 'DeploymentMissing', 'The Deployment does not exist yet.');
    progressing = cond('Progressing', 'True', 'Creating', 'Creating the Deployment.');
  } else {
    const counts = `${rollout.ready}/${rollout.desired} replicas ready, ${rollout.updated} updated`;
    if (rollout.desired === 0) available = cond('Available', 'False', 'ScaledToZero', 'Scaled to zero replicas.');
    else if (rollout.availableCondition && rollout.available > 0) available = cond('Available', 'True', 'MinimumReplicasAvailable', counts);
    else available = cond('Available', 'False', 'MinimumReplicasUnavailable', counts);
    if (rollout.deadlineExceeded) progressing = cond('Progressing', 'False', 'ProgressDeadlineExceeded', `The rollout made no progress in time: ${counts}.`);
    else if (complete(rollout)) progressing = cond('Progressing', 'False', 'RolloutComplete', counts);
    else progressing = cond('Progressing', 'True', 'RollingOut', counts);
  }

  const degradedBy: ReconcileProblem | undefined =
    problems[0] ?? failure ?? (rollout?.deadlineExceeded ? { reason: 'ProgressDeadlineExceeded', message: progressing.message } : undefined);
  const degraded = degradedBy ? cond('Degraded', 'True', degradedBy.reason, degradedBy.message) : cond('Degraded', 'False', 'AsExpected', 'No problems observed.');

  let ready: Draft;
  if (degradedBy) ready = cond('Ready', 'False', degradedBy.reason, degradedBy.message);
  else if (!rollout) ready = cond('Ready', 'False', 'Creating', 'Creating the Deployment.');
  else if (rollout.desired === 0) ready = cond('Ready', 'False', 'ScaledToZero', 'Scaled to zero replicas.');
  else if (!complete(rollout)) ready = cond('Ready', 'False', available.status === 'True' ? 'RollingOut' : 'Unavailable', progressing.message);
  else ready = cond('Ready', 'True', 'Ready', `${rollout.ready}/${rollout.desired} replicas ready.`);

  let tools: ToolsStatus | undefined = previous?.tools;
  if (audit?.kind === 'ok') tools = audit.tools;
  const audited = auditCondition(tools, audit, previous?.conditions?.find((c) => c.type === 'ToolsAudited'));

  const status: McpServerStatus = {
    observedGeneration: generation,
    ...(spec ? { url: serviceUrl(mcp.metadata.namespace, mcp.metadata.name, spec.endpoint.path) } : previous?.url ? { url: previous.url } : {}),
    replicas: rollout?.replicas ?? 0,
    readyReplicas: rollout?.ready ?? 0,
    updatedReplicas: rollout?.updated ?? 0,
    selector: selectorString(mcp.metadata.name),
    ...(configHash ? { configHash } : previous?.configHash ? { configHash: previous.configHash } : {}),
    conditions: mergeConditions(previous?.conditions, [ready, available, progressing, degraded, authCondition(spec), audited], generation, now),
    ...(tools ? { tools } : {}),
  };
  return status;
}

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Events for notable transitions between two statuses. */
export function transitionEvents(before: McpServerStatus | undefined, after: McpServerStatus): StatusEvent[] {
  const get = (s: McpServerStatus | undefined, type: ConditionType): Condition | undefined => s?.conditions?.find((c) => c.type === type);
  const events: StatusEvent[] = [];
  const changed = (type: ConditionType): Condition | undefined => {
    const a = get(before, type);
    const b = get(after, type);
    return b && (!a || a.status !== b.status || a.reason !== b.reason) ? b : undefined;
  };
  const ready = changed('Ready');
  if (ready?.status === 'True') events.push({ type: 'Normal', reason: 'Ready', message: ready.message });
  const degraded = changed('Degraded');
  if (degraded?.status === 'True') events.push({ type: 'Warning', reason: degraded.reason, message: degraded.message });
  if (degraded?.status === 'False' && get(before, 'Degraded')?.status === 'True') events.push({ type: 'Normal', reason: 'Recovered', message: 'No problems observed any more.' });
  const audited = changed('ToolsAudited');
  if (audited?.status === 'False') events.push({ type: 'Warning', reason: audited.reason, message: audited.message });
  const auth = changed('Authenticated');
  if (auth?.reason === 'AuthDisabled') events.push({ type: 'Warning', reason: 'AuthDisabled', message: auth.message });
  return events;
}
