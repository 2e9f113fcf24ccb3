/**
 * reconcile(namespace/name): read from the caches → finalizer (Redis cleanup)
 * → pure render → server-side apply of what differs → prune → status through
 * the status subresource. Idempotent; a pass that finds nothing to change
 * writes nothing.
 */
import type { Logger } from 'pino';
import { API_VERSION, FINALIZER, KIND } from '../api/v1alpha1/names.ts';
import type { McpServerStatus } from '../api/v1alpha1/status.ts';
import type { OperatorConfig } from '../config.ts';
import { applyObject, deleteObject, getObject, isSubset, mergePatchObject, objectExists } from '../kube/apply.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Deployment, KubeObject, Pod } from '../kube/types.ts';
import { credentialsOf, newPassword, tenantUrl, type TenantRedis } from '../redis/tenants.ts';
import { jsonEqual } from '../util/canonical.ts';
import { auditUrl, fetchAudit } from './audit.ts';
import { AuditReads } from './audit-reads.ts';
import { CHILD_KINDS, renderDesired } from './desired.ts';
import {
  ANNOTATION_SKIP_CLEANUP,
  LABEL_INSTANCE,
  LABEL_NAME,
  RUNTIME_APP_NAME,
  childNames,
  redisUserName,
  type McpServerObject,
} from './names.ts';
import { references } from './references.ts';
import { parseSpec } from './spec.ts';
import { computeStatus, transitionEvents, type AuditObservation, type ReconcileProblem } from './status.ts';

/** Read access to the informer caches. */
export interface ObjectCache {
  get<T extends KubeObject>(kind: string, namespace: string, name: string): T | undefined;
  list<T extends KubeObject>(kind: string, namespace: string): T[];
}

export interface ReconcilerDeps {
  client: KubeClient;
  cache: ObjectCache;
  config: OperatorConfig;
  events: EventRecorder;
  log: Logger;
  /** The operator's Redis (ACL users, cleanup); absent when none is configured. */
  redis?: { admin: TenantRedis; adminUrl: string } | undefined;
  /** Reads a runtime's tool audit (replaceable in tests). */
  readAudit?: (url: string, timeoutMs: number, token: string) => Promise<AuditObservation>;
  /** Reconcile `key` again soon: an audit read finished after its pass moved on. */
  requeue?: (key: string) => void;
  now?: () => Date;
}

/**
 * How long a pass waits for a tool-audit read: a runtime that answers at
 * once lands in the same status write; a slower read finishes in the
 * background and queues the McpServer again, so it never holds a worker.
 */
const AUDIT_WAIT_MS = 250;
/** Audit reads in flight at once (a resync of every McpServer makes them all due). */
const AUDIT_READS = 16;

export interface ReconcileResult {
  /** Reconcile again after this long (audit refresh, waiting for something outside the watches). */
  requeueAfterMs?: number;
  /** Writes this pass made (applies, deletes, status). */
  writes: number;
}

/** A failure worth retrying with backoff, after the status has said why. */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
}

const controlledBy = (obj: KubeObject, uid: string): boolean => obj.metadata.ownerReferences?.some((r) => r.controller && r.uid === uid) ?? false;

function secretValue(secret: KubeObject | undefined, key: string, uid: string): string | undefined {
  if (!secret || !controlledBy(secret, uid)) return undefined;
  const data = (secret as { data?: Record<string, string> }).data?.[key];
  return data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
}

const isClientError = (err: unknown): err is ApiError => err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 409 && err.status !== 429;

export class McpServerReconciler {
  private readonly deps: ReconcilerDeps;
  /** Last status written per key, with the resourceVersion it replaced (the cache may lag behind our own write). */
  private readonly written = new Map<string, { fromRv: string | undefined; status: McpServerStatus }>();
  private readonly audits: AuditReads;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    const audit = deps.config.audit;
    this.audits = new AuditReads({
      read: deps.readAudit ?? fetchAudit,
      refreshMs: audit.refreshSeconds * 1000,
      timeoutMs: audit.timeoutMs,
      waitMs: Math.min(AUDIT_WAIT_MS, audit.timeoutMs),
      concurrency: AUDIT_READS,
      onRead: (key) => deps.requeue?.(key),
    });
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** Reconciles one McpServer; throws to be retried with backoff. */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const mcp = this.deps.cache.get<McpServerObject & KubeObject>('McpServer', namespace, name);
    if (!mcp) {
      this.written.delete(key);
      this.audits.forget(key);
      return { writes: 0 };
    }
    const log = this.deps.log.child({ mcpserver: key });
    if (mcp.metadata.deletionTimestamp) return this.finalize(mcp, log);

    const parsed = parseSpec(mcp.spec);
    if (!parsed.ok) {
      const message = parsed.issues.join('; ');
      log.warn({ issues: parsed.issues }, 'Rejected an invalid McpServer spec');
      const writes = await this.writeStatus(mcp, log, { problems: [{ reason: 'InvalidSpec', message }] });
      return { writes };
    }
    const spec = parsed.spec;
    const names = childNames(name);
    const problems: ReconcileProblem[] = [];
    let writes = 0;

    const redis = this.deps.redis;
    const managedRedis = redis !== undefined && !spec.redis?.secretRef.name;
    const hasFinalizer = mcp.metadata.finalizers?.includes(FINALIZER) ?? false;
    if (managedRedis && !hasFinalizer) {
      await this.setFinalizer(mcp, true);
      writes++;
    } else if (!managedRedis && hasFinalizer) {
      // The McpServer moved to its own Redis: clean up what it left in ours.
      if (redis) await redis.admin.deleteTenant(namespace, name);
      await this.setFinalizer(mcp, false);
      writes++;
    }

    const internalToken = secretValue(this.deps.cache.get('Secret', namespace, names.internalSecret), 'token', mcp.metadata.uid) ?? newPassword();
    let redisUrl: string | undefined;
    if (managedRedis) {
      const user = redisUserName(namespace, name);
      const existing = credentialsOf(secretValue(this.deps.cache.get('Secret', namespace, names.redisSecret), 'url', mcp.metadata.uid) ?? '');
      const password = existing?.username === user ? existing.password : newPassword();
      redisUrl = tenantUrl(redis.adminUrl, user, password, this.deps.config.redis.tenantAddress);
      try {
        await redis.admin.ensureUser(namespace, name, password);
      } catch (err) {
        problems.push({ reason: 'RedisUnavailable', message: `Could not configure the Redis ACL user ${user}: ${(err as Error).message}` });
      }
    }

    const rendered = renderDesired({ mcp, spec, config: this.deps.config, credentials: { redisUrl, internalToken } });
    if (!rendered.ok) {
      log.warn({ issues: rendered.issues }, 'Rejected an invalid McpServer spec');
      writes += await this.writeStatus(mcp, log, { spec, problems: [{ reason: 'InvalidSpec', message: rendered.issues.join('; ') }] });
      return { writes };
    }
    const desired = rendered.desired;

    let deployment = this.deps.cache.get<Deployment>('Deployment', namespace, names.deployment);
    let retry: Error | undefined;
    /** Brings one child to its desired state (or records why not). */
    const ensure = async (obj: KubeObject): Promise<void> => {
      let live: KubeObject | undefined = this.deps.cache.get(obj.kind, namespace, obj.metadata.name);
      try {
        // Not in the label-filtered cache: it may still exist without our label, and must not be adopted.
        live ??= await getObject(this.deps.client, { apiVersion: obj.apiVersion, kind: obj.kind, namespace, name: obj.metadata.name });
      } catch (err) {
        retry ??= err as Error;
        return;
      }
      if (live && !controlledBy(live, mcp.metadata.uid)) {
        problems.push({ reason: 'ChildConflict', message: `${obj.kind} ${namespace}/${obj.metadata.name} exists and is not controlled by this McpServer; rename or delete it.` });
        return;
      }
      if (live && isSubset(obj, live)) {
        if (obj.kind === 'Deployment') deployment = live as Deployment;
        return;
      }
      try {
        let applied: KubeObject;
        try {
          applied = await applyObject<KubeObject>(this.deps.client, obj);
        } catch (err) {
          if (!(live && err instanceof ApiError && err.status === 422)) throw err;
          // Someone's edit clashes with our fields (a list entry we can't merge with): overwrite, then own again.
          log.warn({ kind: obj.kind, name: obj.metadata.name, err: err.message }, `Repaired a hand-edited ${obj.kind}`);
          await mergePatchObject(this.deps.client, obj);
          writes++;
          applied = await applyObject<KubeObject>(this.deps.client, obj);
        }
        writes++;
        log.info({ kind: obj.kind, name: obj.metadata.name, created: live === undefined }, live ? `Updated ${obj.kind}` : `Created ${obj.kind}`);
        if (obj.kind === 'Deployment') deployment = applied as Deployment;
      } catch (err) {
        if (isClientError(err)) problems.push({ reason: 'ApplyFailed', message: `${obj.kind} ${obj.metadata.name}: ${err.message}` });
        else retry ??= err as Error;
      }
    };
    // Everything the pods mount or use first (in parallel), then the Deployment.
    await Promise.all(desired.objects.filter((o) => o.kind !== 'Deployment').map(ensure));
    const conflicted = problems.some((p) => p.reason === 'ChildConflict' || p.reason === 'ApplyFailed');
    for (const obj of desired.objects.filter((o) => o.kind === 'Deployment')) {
      if (conflicted && !this.deps.cache.get('Deployment', namespace, obj.metadata.name)) continue; // don't start pods without their config
      await ensure(obj);
    }

    // Prune children that are no longer desired (e.g. the PDB after scaling to one replica).
    const wanted = new Set(desired.objects.map((o) => `${o.kind}/${o.metadata.name}`));
    for (const kind of CHILD_KINDS) {
      for (const obj of this.deps.cache.list(kind.kind, namespace)) {
        if (!controlledBy(obj, mcp.metadata.uid) || wanted.has(`${kind.kind}/${obj.metadata.name}`)) continue;
        try {
          await deleteObject(this.deps.client, { ...obj, apiVersion: kind.apiVersion, kind: kind.kind });
          writes++;
          log.info({ kind: kind.kind, name: obj.metadata.name }, `Deleted ${kind.kind} no longer needed`);
        } catch (err) {
          retry ??= err as Error;
        }
      }
    }

    const pods = this.deps.cache
      .list<Pod>('Pod', namespace)
      .filter((p) => p.metadata.labels?.[LABEL_INSTANCE] === name && p.metadata.labels?.[LABEL_NAME] === RUNTIME_APP_NAME);
    let audit: AuditObservation | undefined;
    let requeueAfterMs: number | undefined;
    const base = { spec, deployment, pods, configHash: desired.configHash, problems };
    const probe = computeStatus({ mcp, ...base, now: this.now() });
    const ready = probe.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (!ready && !problems.length) {
      // Pods that can't start often lack a referenced Secret/ConfigMap (they are not watched): say which.
      const missing = await this.missingReferences(spec, namespace).catch(() => []);
      if (missing.length) {
        problems.push({ reason: 'MissingReference', message: missing.join('; ') });
        requeueAfterMs = 15_000;
      }
    }
    const auditCfg = this.deps.config.audit;
    if (auditCfg.enabled && ready) {
      const read = await this.audits.take(key, desired.configHash, auditUrl(auditCfg.urlTemplate, namespace, name), internalToken);
      audit = read.audit;
      if (audit?.kind === 'unavailable') log.debug({ reason: audit.message }, 'Could not read the tool audit');
      if (read.nextInMs !== undefined) requeueAfterMs = Math.max(1000, read.nextInMs);
    }
    writes += await this.writeStatus(mcp, log, { ...base, audit });
    if (retry) throw retry;
    if (problems.some((p) => p.reason === 'RedisUnavailable')) throw new RetryableError(problems.find((p) => p.reason === 'RedisUnavailable')!.message);
    return { writes, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
  }

  /** "<Kind> <name> (<field>) does not exist" for each required reference that is absent. */
  private async missingReferences(spec: Parameters<typeof references>[0], namespace: string): Promise<string[]> {
    const out: string[] = [];
    const seen = new Map<string, boolean>();
    for (const ref of references(spec)) {
      if (ref.optional) continue;
      const key = `${ref.kind}/${ref.name}`;
      if (!seen.has(key)) seen.set(key, await objectExists(this.deps.client, { apiVersion: 'v1', kind: ref.kind, namespace, name: ref.name }));
      if (!seen.get(key)) out.push(`${ref.kind} ${namespace}/${ref.name} (${ref.field}) does not exist`);
    }
    return out;
  }

  /** Computes the status and writes it when it differs from what is stored; returns writes made. */
  private async writeStatus(
    mcp: McpServerObject & KubeObject,
    log: Logger,
    input: { spec?: Parameters<typeof computeStatus>[0]['spec']; deployment?: Deployment | undefined; pods?: Pod[]; configHash?: string; problems: ReconcileProblem[]; audit?: AuditObservation | undefined },
  ): Promise<number> {
    const key = `${mcp.metadata.namespace}/${mcp.metadata.name}`;
    const mine = this.written.get(key);
    const previous = mine && mine.fromRv === mcp.metadata.resourceVersion ? mine.status : mcp.status;
    const status = computeStatus({
      mcp: { ...mcp, ...(previous ? { status: previous } : {}) },
      spec: input.spec,
      deployment: input.deployment ?? this.deps.cache.get<Deployment>('Deployment', mcp.metadata.namespace, mcp.metadata.name),
      pods: input.pods ?? [],
      configHash: input.configHash,
      problems: input.problems,
      audit: input.audit,
      now: this.now(),
    });
    if (jsonEqual(status, previous)) return 0;
    try {
      await applyObject(this.deps.client, { apiVersion: API_VERSION, kind: KIND, metadata: { name: mcp.metadata.name, namespace: mcp.metadata.namespace }, status }, 'status');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return 0;
      throw err;
    }
    this.written.set(key, { fromRv: mcp.metadata.resourceVersion, status });
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    log.info({ ready: ready?.status, reason: ready?.reason, replicas: status.replicas, readyReplicas: status.readyReplicas }, 'Updated McpServer status');
    for (const ev of transitionEvents(previous, status)) await this.deps.events.record(mcp, ev.type, ev.reason, ev.message);
    return 1;
  }

  private async setFinalizer(mcp: McpServerObject, present: boolean): Promise<void> {
    await applyObject(this.deps.client, {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: mcp.metadata.name, namespace: mcp.metadata.namespace, finalizers: present ? [FINALIZER] : [] },
    });
  }

  /** Deletion: remove the tenant's Redis keys and ACL user, then the finalizer. */
  private async finalize(mcp: McpServerObject & KubeObject, log: Logger): Promise<ReconcileResult> {
    const key = `${mcp.metadata.namespace}/${mcp.metadata.name}`;
    this.audits.forget(key);
    this.written.delete(key);
    if (!mcp.metadata.finalizers?.includes(FINALIZER)) return { writes: 0 };
    const redis = this.deps.redis;
    if (mcp.metadata.annotations?.[ANNOTATION_SKIP_CLEANUP] === 'true') {
      log.warn('Skipped the Redis cleanup as the McpServer asks');
    } else if (!redis) {
      log.warn('Removed the finalizer without cleanup: no Redis is configured');
    } else {
      try {
        const keys = await redis.admin.deleteTenant(mcp.metadata.namespace, mcp.metadata.name);
        await this.deps.events.record(mcp, 'Normal', 'CleanedUp', `Removed ${keys} Redis keys and the ACL user ${redisUserName(mcp.metadata.namespace, mcp.metadata.name)}.`);
      } catch (err) {
        await this.deps.events.record(mcp, 'Warning', 'CleanupFailed', `Could not clean up Redis: ${(err as Error).message}`);
        throw err;
      }
    }
    await this.setFinalizer(mcp, false);
    log.info('Removed the cleanup finalizer');
    return { writes: 1 };
  }
}

