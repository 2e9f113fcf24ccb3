/**
 * The informer against the real apiserver, through a TCP relay that injects
 * the faults a healthy apiserver won't produce on demand: a watch that goes
 * silent without closing, dropped connections, and an unreachable server.
 * No event may be lost or duplicated; re-lists emit only real differences.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import { KubeClient } from '../src/kube/client.ts';
import { Informer, type InformerEvent } from '../src/kube/informer.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { clusterWithCrd, dropNamespace, freshNamespace, testLogger, waitFor } from './helpers/cluster.ts';

/** A TCP relay to the apiserver that can stall, cut and refuse connections. */
class Relay {
  server: Server;
  port = 0;
  stalled = false;
  private readonly sockets = new Set<Socket>();
  private readonly target: { host: string; port: number };
  constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = this.listen();
  }
  private listen(port = 0): Server {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      this.sockets.add(client).add(upstream);
      const pipe = (from: Socket, to: Socket): void => {
        from.on('data', (chunk) => {
          if (!this.stalled) to.write(chunk);
        });
      };
      pipe(client, upstream);
      pipe(upstream, client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    server.listen(port, '127.0.0.1', () => (this.port = (server.address() as { port: number }).port));
    return server;
  }
  async ready(): Promise<void> {
    while (!this.port) await sleep(5);
  }
  /** Drops every open connection. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }
  /** Stops accepting connections (and drops the open ones). */
  async down(): Promise<void> {
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.cut();
    });
  }
  /** Accepts connections again on the same port. */
  up(): void {
    this.server = this.listen(this.port);
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let cluster: TestCluster;
let ns: string;
let relay: Relay;
let client: KubeClient;

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-informer');
  const kc = cluster.kubeConfig();
  const server = new URL(kc.getCurrentCluster()!.server);
  relay = new Relay({ host: server.hostname, port: Number(server.port) });
  await relay.ready();
  const relayed = new KubeConfig();
  relayed.loadFromString(kc.exportConfig());
  const current = relayed.getCurrentCluster()!;
  relayed.clusters = relayed.clusters.map((c) => (c.name === current.name ? { ...c, server: `https://127.0.0.1:${relay.port}` } : c));
  client = new KubeClient(relayed, { timeoutMs: 5000 });
});

after(async () => {
  client?.close();
  await relay?.close();
  if (cluster && ns) await dropNamespace(cluster, ns);
});

interface Seen {
  type: InformerEvent;
  name: string;
  value: string | undefined;
}

function watchConfigMaps(opts: { staleMs?: number; resyncMs?: number } = {}): { informer: Informer<KubeObject>; seen: Seen[]; restarts: string[] } {
  const informer = new Informer<KubeObject>(client, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    namespace: ns,
    labelSelector: 'test=informer',
    staleMs: opts.staleMs ?? 60_000,
    resyncMs: opts.resyncMs ?? 600_000,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
    log: testLogger('informer'),
    onRestart: (cause) => restarts.push(cause),
  });
  const seen: Seen[] = [];
  const restarts: string[] = [];
  informer.on((type, obj) => seen.push({ type, name: obj.metadata.name, value: (obj as { data?: Record<string, string> }).data?.v }));
  informer.start();
  return { informer, seen, restarts };
}

async function putConfigMap(name: string, v: string): Promise<void> {
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { test: 'informer' } }, data: { v } }),
  });
}

const valueIn = (inf: Informer<KubeObject>, name: string): string | undefined => (inf.get(ns, name) as { data?: Record<string, string> } | undefined)?.data?.v;

test('a watch that goes silent is restarted by the watchdog and catches up from its resourceVersion', async () => {
  await putConfigMap('a', '1');
  const { informer, seen, restarts } = watchConfigMaps({ staleMs: 2000 });
  await informer.waitForSync();
  assert.equal(valueIn(informer, 'a'), '1');
  relay.stalled = true; // bytes stop flowing both ways; the TCP connection stays open
  await putConfigMap('a', '2');
  await putConfigMap('b', '1');
  await sleep(300);
  assert.equal(valueIn(informer, 'a'), '1', 'the stalled watch delivered nothing');
  await waitFor('the watchdog restarted the silent watch', async () => restarts.includes('stale'), { timeoutMs: 15_000 });
  relay.stalled = false;
  await waitFor('the informer caught up', async () => valueIn(informer, 'a') === '2' && valueIn(informer, 'b') === '1', { timeoutMs: 20_000 });
  await informer.stopAndWait();
  assert.ok(restarts.length >= 1, `restarts: ${restarts.join(',')}`);
  assert.deepEqual(
    seen.map((s) => `${s.type} ${s.name}=${s.value}`),
    ['ADDED a=1', 'MODIFIED a=2', 'ADDED b=1'],
    'every change exactly once, in order',
  );
});

test('a watch silent without any fault is restarted after staleMs and loses nothing', async () => {
  const { informer, seen, restarts } = watchConfigMaps({ staleMs: 1500 });
  await informer.waitForSync();
  relay.stalled = true;
  await waitFor('a stale restart', async () => restarts.includes('stale'), { timeoutMs: 15_000 });
  relay.stalled = false;
  await putConfigMap('c', '1');
  await waitFor('c seen', async () => valueIn(informer, 'c') === '1', { timeoutMs: 20_000 });
  await informer.stopAndWait();
  assert.equal(seen.filter((s) => s.name === 'c').length, 1);
});

test('dropped connections and an unreachable apiserver: restart with backoff, no event lost or repeated', async () => {
  const { informer, seen, restarts } = watchConfigMaps();
  await informer.waitForSync();
  const before = seen.length;
  relay.cut();
  await putConfigMap('d', '1');
  await waitFor('d seen after a cut', async () => valueIn(informer, 'd') === '1', { timeoutMs: 20_000 });
  await relay.down();
  await putConfigMap('d', '2');
  await cluster.kubectl(['-n', ns, 'delete', 'configmap', 'b']);
  await sleep(1500);
  assert.ok(restarts.filter((r) => r === 'error').length >= 2, `retried while down: ${restarts.join(',')}`);
  relay.up();
  await waitFor('caught up after the outage', async () => valueIn(informer, 'd') === '2' && informer.get(ns, 'b') === undefined, { timeoutMs: 20_000 });
  await informer.stopAndWait();
  assert.deepEqual(
    seen.slice(before).map((s) => `${s.type} ${s.name}=${s.value}`),
    ['ADDED d=1', 'MODIFIED d=2', 'DELETED b=1'],
  );
});

test('a periodic re-list emits only real differences', async () => {
  const { informer, seen, restarts } = watchConfigMaps({ resyncMs: 1000 });
  await informer.waitForSync();
  const synced = seen.length;
  assert.ok(synced >= 3);
  await waitFor('two re-lists', async () => restarts.filter((r) => r === 'resync').length >= 2, { timeoutMs: 20_000 });
  assert.equal(seen.length, synced, 'nothing changed, nothing emitted');
  await putConfigMap('e', '1');
  await waitFor('e seen', async () => valueIn(informer, 'e') === '1', { timeoutMs: 10_000 });
  await informer.stopAndWait();
  assert.equal(seen.filter((s) => s.name === 'e').length, 1);
});

test('the cache keeps objects without managedFields, which the apiserver still has', async () => {
  const { informer } = watchConfigMaps();
  await putConfigMap('fields', '1');
  await waitFor('fields cached', async () => valueIn(informer, 'fields') === '1', { timeoutMs: 10_000 });
  const live = await client.request<KubeObject>('GET', `/api/v1/namespaces/${ns}/configmaps/fields`);
  assert.ok((live.metadata.managedFields?.length ?? 0) > 0, 'the apiserver records who set the fields');
  const cached = informer.get(ns, 'fields')!;
  assert.equal(cached.metadata.managedFields, undefined);
  assert.equal(cached.metadata.resourceVersion, live.metadata.resourceVersion);
  await putConfigMap('fields', '2');
  await waitFor('fields updated', async () => valueIn(informer, 'fields') === '2', { timeoutMs: 10_000 });
  assert.equal(informer.get(ns, 'fields')!.metadata.managedFields, undefined, 'a watched update is trimmed too');
  await informer.stopAndWait();
});
