/**
 * A list+watch cache of one resource that does not stall. Watches end, fail
 * and sometimes go silent without an error; this one restarts with backoff
 * from the last resourceVersion, re-lists on 410 Gone, restarts a watch that
 * has been silent (no event, no bookmark) for too long, and re-lists
 * periodically, emitting only real differences.
 */
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { ApiError, resourcePath, type KubeClient } from './client.ts';
import { objectKey, type KubeObject } from './types.ts';

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';
export type InformerHandler<T> = (type: InformerEvent, obj: T, old: T | undefined) => void;

export interface InformerOptions {
  apiVersion: string;
  /** Kind of the items (a list answer leaves it out of each item). */
  kind: string;
  plural: string;
  /** Empty: all namespaces. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  /** A watch with no event for this long is restarted. */
  staleMs?: number;
  /** Full re-list period. */
  resyncMs?: number;
  /** First backoff after a failure; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log: Logger;
  /** Counts restarts by cause, for metrics. */
  onRestart?: (cause: 'error' | 'stale' | 'gone' | 'resync') => void;
}

interface ListAnswer<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

interface WatchLine<T> {
  type: InformerEvent | 'BOOKMARK' | 'ERROR';
  object: T & { code?: number; reason?: string; message?: string };
}

/**
 * What the cache keeps of an object: all but `metadata.managedFields`. The
 * operator never reads them (server-side apply computes ownership on the
 * server), and they are often the largest part of an object: a Deployment or
 * pod written by several managers carries a field set for each.
 */
export function cacheable<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
  return obj;
}

class WatchEnd extends Error {
  override readonly cause: 'stale' | 'gone' | 'resync' | 'stop';
  constructor(cause: 'stale' | 'gone' | 'resync' | 'stop') {
    super(cause);
    this.cause = cause;
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly stop = new AbortController();
  private resourceVersion: string | undefined;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private loop: Promise<void> | undefined;
  private lastRelist = 0;
  private lastEventAt = Date.now();
  private readonly opts: Required<Omit<InformerOptions, 'namespace' | 'labelSelector' | 'onRestart'>> & InformerOptions;

  private readonly client: KubeClient;

  constructor(client: KubeClient, opts: InformerOptions) {
    this.client = client;
    this.opts = { staleMs: 180_000, resyncMs: 600_000, minBackoffMs: 500, maxBackoffMs: 30_000, ...opts };
  }

  /** Human name for logs: `deployments` or `deployments in team-a`. */
  get description(): string {
    return `${this.opts.plural}${this.opts.namespace ? ` in ${this.opts.namespace}` : ''}${this.opts.labelSelector ? ` (${this.opts.labelSelector})` : ''}`;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Milliseconds since the last event or bookmark. */
  silenceMs(): number {
    return Date.now() - this.lastEventAt;
  }

  /** Resolves once the first list has filled the cache (or the informer stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stopAndWait(): Promise<void> {
    this.stop.abort(new WatchEnd('stop'));
    for (const w of this.syncWaiters) w();
    this.syncWaiters = [];
    await this.loop;
  }

  private emit(type: InformerEvent, obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.opts.log.error({ err, resource: this.opts.plural }, 'Informer handler failed');
      }
    }
  }

  private get path(): string {
    return resourcePath({ apiVersion: this.opts.apiVersion, plural: this.opts.plural, namespace: this.opts.namespace });
  }

  /** Lists everything (paged) and emits the differences against the cache. */
  private async relist(): Promise<void> {
    const seen = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.request<ListAnswer<T>>('GET', this.path, {
        query: { labelSelector: this.opts.labelSelector, limit: 500, continue: cont },
        signal: this.stop.signal,
      });
      for (const item of page.items) seen.set(objectKey(item), cacheable(item));
      cont = page.metadata.continue;
      rv = page.metadata.resourceVersion;
    } while (cont);
    for (const [key, obj] of seen) {
      // List items lack apiVersion/kind; restore them for handlers and comparisons.
      (obj as KubeObject).apiVersion ??= this.opts.apiVersion;
      (obj as KubeObject).kind ??= this.opts.kind;
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('ADDED', obj, undefined);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('MODIFIED', obj, old);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('DELETED', old, old);
      }
    }
    this.resourceVersion = rv;
    this.lastRelist = Date.now();
    this.lastEventAt = Date.now();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  /** Watches from the current resourceVersion until the stream ends or a WatchEnd is thrown. */
  private async watch(): Promise<void> {
    const ac = new AbortController();
    const onStop = (): void => ac.abort(new WatchEnd('stop'));
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    this.lastEventAt = Date.now();
    const tick = Math.max(250, Math.min(this.opts.staleMs, this.opts.resyncMs) / 4);
    const watchdog = setInterval(() => {
      if (Date.now() - this.lastEventAt > this.opts.staleMs) ac.abort(new WatchEnd('stale'));
      else if (Date.now() - this.lastRelist > this.opts.resyncMs) ac.abort(new WatchEnd('resync'));
    }, tick);
    watchdog.unref();
    try {
      const res = await this.client.stream(
        this.path,
        {
          watch: 1,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: this.opts.labelSelector,
          // The server ends the watch after this; we simply start the next one.
          timeoutSeconds: 240 + Math.floor(Math.random() * 120),
        },
        ac.signal,
      );
      this.lastEventAt = Date.now();
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.trim()) continue;
        this.lastEventAt = Date.now();
        const ev = JSON.parse(line) as WatchLine<T>;
        if (ev.type === 'ERROR') {
          if (ev.object.code === 410) throw new WatchEnd('gone');
          throw new ApiError(ev.object.code ?? 0, ev.object.reason ?? 'WatchError', `watch ${this.opts.plural}: ${ev.object.message ?? 'error'}`);
        }
        const rv = ev.object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (ev.type === 'BOOKMARK') continue;
        const key = objectKey(ev.object);
        const old = this.cache.get(key);
        if (ev.type === 'DELETED') {
          this.cache.delete(key);
          this.emit('DELETED', ev.object, old);
        } else {
          this.cache.set(key, cacheable(ev.object));
          this.emit(old ? 'MODIFIED' : 'ADDED', ev.object, old);
        }
      }
      if (ac.signal.aborted) throw ac.signal.reason;
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof WatchEnd) throw ac.signal.reason;
      throw err;
    } finally {
      clearInterval(watchdog);
      this.stop.signal.removeEventListener('abort', onStop);
      ac.abort(new WatchEnd('stop'));
    }
  }

  private async run(): Promise<void> {
    let backoff = this.opts.minBackoffMs;
    const log = this.opts.log;
    while (!this.stop.signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        await this.watch();
        backoff = this.opts.minBackoffMs; // a watch that ended normally: start the next one at once
      } catch (err) {
        if (this.stop.signal.aborted) break;
        if (err instanceof WatchEnd) {
          this.opts.onRestart?.(err.cause === 'stop' ? 'error' : err.cause);
          if (err.cause === 'gone' || err.cause === 'resync') this.resourceVersion = undefined;
          if (err.cause === 'stale') log.warn({ resource: this.description, silentMs: this.silenceMs() }, 'Restarted a silent watch');
          else if (err.cause === 'gone') log.info({ resource: this.description }, 'Re-listed after the watch expired');
          continue;
        }
        this.opts.onRestart?.('error');
        if (err instanceof ApiError && err.status === 410) this.resourceVersion = undefined;
        log.warn({ resource: this.description, err: (err as Error).message, retryInMs: backoff }, 'Watch failed; retrying');
        await sleep(backoff + Math.random() * backoff * 0.2, this.stop.signal);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
      }
    }
  }
}
