/**
 * Wires informers → work queue → reconcile workers, under leader election.
 * Every process keeps warm caches; only the leader runs workers.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { API_VERSION, KIND, PLURAL } from '../api/v1alpha1/names.ts';
import type { OperatorConfig } from '../config.ts';
import type { KubeClient } from '../kube/client.ts';
import { eventRecorder } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import type { KubeObject } from '../kube/types.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { CHILD_KINDS } from '../mcpserver/desired.ts';
import { LABEL_INSTANCE, LABEL_NAME, MANAGED_SELECTOR, RUNTIME_APP_NAME, type McpServerObject } from '../mcpserver/names.ts';
import { McpServerReconciler, type ObjectCache, type ReconcilerDeps } from '../mcpserver/reconciler.ts';
import type { TenantRedis } from '../redis/tenants.ts';
import { LeaderElector } from './leader.ts';
import { WorkQueue } from './queue.ts';

export interface ManagerOptions {
  client: KubeClient;
  config: OperatorConfig;
  log: Logger;
  metrics: OperatorMetrics;
  redis?: { admin: TenantRedis; adminUrl: string } | undefined;
  readAudit?: ReconcilerDeps['readAudit'];
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class Manager {
  readonly queue = new WorkQueue();
  readonly identity: string;
  readonly reconciler: McpServerReconciler;
  private readonly opts: ManagerOptions;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private elector: LeaderElector | undefined;
  private electorRun: Promise<void> | undefined;
  private workers: Promise<void>[] = [];
  private leading = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Reconciles run (all results), for tests and benchmarks. */
  reconcileCount = 0;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.identity = opts.config.identity || `${hostname()}-${process.pid}`;
    const { client, config, metrics } = opts;
    client.observe((verb, path, status) => {
      metrics.kubeRequests.inc({ verb, code: String(status) });
      if (WRITE_VERBS.has(verb)) metrics.kubeWrites.inc({ verb, resource: resourceOf(path) });
    });

    const namespace = config.namespace || undefined;
    const common = { namespace, staleMs: config.watchStaleSeconds * 1000, resyncMs: config.resyncSeconds * 1000 };
    const add = (kind: string, apiVersion: string, plural: string, labelSelector?: string): Informer<KubeObject> => {
      const inf = new Informer<KubeObject>(client, {
        ...common,
        apiVersion,
        kind,
        plural,
        labelSelector,
        log: this.log,
        onRestart: (cause) => metrics.informerRestarts.inc({ resource: plural, cause }),
      });
      this.informers.set(kind, inf);
      return inf;
    };
    const mcps = add(KIND, API_VERSION, PLURAL);
    mcps.on((type, obj, old) => {
      if (type === 'MODIFIED' && old && !interestingChange(old, obj)) return;
      this.enqueue(`${obj.metadata.namespace}/${obj.metadata.name}`);
    });
    for (const kind of CHILD_KINDS) {
      add(kind.kind, kind.apiVersion, kind.plural, MANAGED_SELECTOR).on((_type, obj) => {
        const owner = obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion === API_VERSION);
        if (owner) this.enqueue(`${obj.metadata.namespace}/${owner.name}`);
      });
    }
    add('Pod', 'v1', 'pods', `${LABEL_NAME}=${RUNTIME_APP_NAME}`).on((_type, obj) => {
      const instance = obj.metadata.labels?.[LABEL_INSTANCE];
      if (instance) this.enqueue(`${obj.metadata.namespace}/${instance}`);
    });

    const cache: ObjectCache = {
      get: <T extends KubeObject>(kind: string, ns: string, name: string) => this.informers.get(kind)?.get(ns, name) as T | undefined,
      list: <T extends KubeObject>(kind: string, ns: string) => (this.informers.get(kind)?.list(ns) ?? []) as T[],
    };
    this.reconciler = new McpServerReconciler({
      client,
      cache,
      config,
      events: eventRecorder(client, this.identity, this.log),
      log: this.log,
      redis: opts.redis,
      readAudit: opts.readAudit,
      requeue: (key) => this.enqueue(key),
    });
    opts.redis?.admin.onReconnect(() => this.enqueueAll());
    metrics.countMcpServers(() => {
      const counts: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
      for (const m of mcps.list()) {
        const ready = (m as McpServerObject & KubeObject).status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
        counts[ready] = (counts[ready] ?? 0) + 1;
      }
      return counts;
    });
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.opts.metrics.queueAdds.inc();
    this.opts.metrics.queueDepth.set(this.queue.length);
  }

  /** Queues every known McpServer. */
  enqueueAll(): void {
    for (const mcp of this.informers.get(KIND)!.list()) this.enqueue(`${mcp.metadata.namespace}/${mcp.metadata.name}`);
  }

  /** Every cache filled once. */
  synced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Starts the caches, then campaigns (or leads at once without leader election). */
  async start(): Promise<void> {
    for (const inf of this.informers.values()) inf.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    if (this.stopping.signal.aborted) return;
    this.log.info({ informers: this.informers.size, namespace: this.opts.config.namespace || '(all)' }, 'Synced the caches');
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.opts.config.resyncSeconds * 1000);
    this.resyncTimer.unref();
    const le = this.opts.config.leaderElection;
    if (!le.enabled) {
      this.startLeading(this.stopping.signal);
      return;
    }
    if (!le.namespace) throw new Error('leader election needs a namespace (leaderElection.namespace or POD_NAMESPACE)');
    this.elector = new LeaderElector(
      this.opts.client,
      {
        namespace: le.namespace,
        name: le.leaseName,
        identity: this.identity,
        leaseDurationMs: le.leaseDurationSeconds * 1000,
        renewDeadlineMs: le.renewDeadlineSeconds * 1000,
        retryPeriodMs: le.retryPeriodSeconds * 1000,
      },
      this.log,
    );
    this.electorRun = this.elector.run(this.stopping.signal, {
      onStartedLeading: (signal) => this.startLeading(signal),
      onStoppedLeading: () => {
        this.leading = false;
        this.opts.metrics.leader.set(0);
      },
    });
  }

  private startLeading(signal: AbortSignal): void {
    this.leading = true;
    this.opts.metrics.leader.set(1);
    this.enqueueAll();
    const n = this.opts.config.workers;
    this.workers = Array.from({ length: n }, () => this.worker(signal));
    this.log.info({ workers: n }, 'Started reconciling');
  }

  private async worker(signal: AbortSignal): Promise<void> {
    const { metrics } = this.opts;
    while (!signal.aborted) {
      const key = await this.queue.get(signal);
      if (key === undefined) break;
      metrics.queueDepth.set(this.queue.length);
      const started = performance.now();
      let result = 'success';
      try {
        const r = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, r.requeueAfterMs);
          result = 'requeue';
        }
      } catch (err) {
        result = 'error';
        const delay = this.queue.addRateLimited(key);
        metrics.reconcileErrors.inc({ reason: (err as Error).name || 'Error' });
        this.log.warn({ mcpserver: key, err: (err as Error).message, retryInMs: Math.round(delay), retries: this.queue.retries(key) }, 'Reconcile failed; will retry');
      } finally {
        this.queue.done(key);
        this.reconcileCount++;
        metrics.reconciles.inc({ result });
        metrics.reconcileDuration.observe({ result }, (performance.now() - started) / 1000);
      }
    }
  }

  /** Stops leading (releasing the lease), lets in-flight reconciles finish, stops the caches. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    const workersDone = Promise.allSettled(this.workers);
    const timeout = new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([workersDone, timeout]);
    await this.electorRun;
    this.queue.shutdown();
    await Promise.all([...this.informers.values()].map((i) => i.stopAndWait()));
    this.leading = false;
    this.opts.metrics.leader.set(0);
  }

  /** The informer of a kind (tests read the caches). */
  informer(kind: string): Informer<KubeObject> | undefined {
    return this.informers.get(kind);
  }
}

/** Changes of an McpServer that need a reconcile (not our own status writes). */
function interestingChange(old: KubeObject, obj: KubeObject): boolean {
  const a = old.metadata;
  const b = obj.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    // A status written by someone else (or lost) is corrected.
    (old as McpServerObject & KubeObject).status?.observedGeneration !== (obj as McpServerObject & KubeObject).status?.observedGeneration
  );
}

function resourceOf(path: string): string {
  const parts = path.split('/').filter(Boolean);
  // /api/v1/namespaces/ns/configmaps/name → configmaps ; /apis/g/v/namespaces/ns/x/name/status → x/status
  const i = parts.indexOf('namespaces');
  const rest = i >= 0 ? parts.slice(i + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  return rest.length >= 3 ? `${rest[0]}/${rest[2]}` : (rest[0] ?? 'unknown');
}
