/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * candidates try every retryPeriod; a lease counts as held while the holder
 * has renewed it within leaseDuration *as observed on our own clock*; writes
 * carry the resourceVersion read, so two candidates can't both win. The
 * leader renews every retryPeriod and steps down if it could not renew for
 * renewDeadline. On shutdown the leader releases the lease so a standby
 * takes over at once.
 */
import type { Logger } from 'pino';
import { ApiError, resourcePath, type KubeClient } from '../kube/client.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaderCallbacks {
  /** Called when this process becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading: (signal: AbortSignal) => void;
  /** Called when leadership ends (lost or released). */
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly opts: LeaderElectionOptions;
  private readonly log: Logger;
  /** The record last observed and when (our clock): expiry is judged on it. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private current: Lease | undefined;
  private leading = false;
  private lastLeader = '';

  constructor(client: KubeClient, opts: LeaderElectionOptions, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return resourcePath({ apiVersion: 'coordination.k8s.io/v1', plural: 'leases', namespace: this.opts.namespace, name: this.opts.name });
  }

  /** One attempt to take or renew the lease; true when we hold it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const me = this.opts.identity;
    const duration = Math.round(this.opts.leaseDurationMs / 1000);
    let lease: Lease | undefined;
    try {
      lease = await this.client.request<Lease>('GET', this.path, { timeoutMs: this.opts.renewDeadlineMs });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    if (!lease) {
      const created = await this.write('POST', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { holderIdentity: me, leaseDurationSeconds: duration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      });
      return created;
    }
    const holder = lease.spec.holderIdentity ?? '';
    const renewTime = lease.spec.renewTime ?? '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    this.current = lease;
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder) this.log.info({ leader: holder }, 'Observed a new leader');
    }
    const heldByOther = holder !== '' && holder !== me;
    const leaseMs = (lease.spec.leaseDurationSeconds ?? duration) * 1000;
    if (heldByOther && this.observed.at + leaseMs > Date.now()) return false;
    const spec: Lease['spec'] = {
      ...lease.spec,
      holderIdentity: me,
      leaseDurationSeconds: duration,
      renewTime: microTime(now),
    };
    if (holder !== me) {
      spec.acquireTime = microTime(now);
      spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1;
    }
    return this.write('PUT', { ...lease, spec });
  }

  private async write(method: 'POST' | 'PUT', lease: Lease): Promise<boolean> {
    const path = method === 'POST' ? resourcePath({ apiVersion: 'coordination.k8s.io/v1', plural: 'leases', namespace: this.opts.namespace }) : this.path;
    try {
      const written = await this.client.request<Lease>(method, path, { body: lease, timeoutMs: this.opts.renewDeadlineMs });
      this.current = written;
      this.observed = { holder: written.spec.holderIdentity ?? '', renewTime: written.spec.renewTime ?? '', at: Date.now() };
      return true;
    } catch (err) {
      // Someone else wrote first (409) or created it (409 AlreadyExists): not ours this round.
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Gives the lease up (holder cleared, 1 s duration) so a standby acquires it at once. */
  async release(): Promise<void> {
    const lease = this.current;
    if (!lease || lease.spec.holderIdentity !== this.opts.identity) return;
    try {
      await this.client.request('PUT', this.path, {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()), acquireTime: null } },
        timeoutMs: 2000,
      });
      this.log.info('Released the leader lease');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'Could not release the leader lease');
    }
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead while renewals succeed,
   * step down when they don't, campaign again.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    const jitter = (): number => this.opts.retryPeriodMs * (1 + Math.random() * 0.2);
    while (!signal.aborted) {
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'Could not read or write the leader lease');
      }
      if (!acquired) {
        await sleep(jitter(), signal);
        continue;
      }
      this.leading = true;
      this.log.info('Became the leader');
      const leadership = new AbortController();
      callbacks.onNewLeader?.(this.opts.identity);
      callbacks.onStartedLeading(leadership.signal);
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(this.opts.retryPeriodMs, signal);
        if (signal.aborted) break;
        let renewed = false;
        try {
          renewed = await this.tryAcquireOrRenew();
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'Could not renew the leader lease');
        }
        if (renewed) lastRenew = Date.now();
        else if (Date.now() - lastRenew > this.opts.renewDeadlineMs || (this.current?.spec.holderIdentity ?? '') !== this.opts.identity) {
          this.log.error({ sinceRenewMs: Date.now() - lastRenew }, 'Lost the leader lease');
          break;
        }
      }
      this.leading = false;
      leadership.abort();
      if (signal.aborted) await this.release();
      callbacks.onStoppedLeading();
    }
  }
}
