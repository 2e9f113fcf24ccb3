/**
 * A runtime that never answers its tool-audit read must not hold up the
 * operator: with one reconcile worker and a 10 s read timeout, McpServers
 * whose audit endpoint hangs still all reach Ready at once, and each one's
 * read, when it times out, still lands in its status.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import { clusterWithCrd, dropNamespace, freshNamespace, kubectlApply, kubectlJson, mcpManifest, runOperator, waitFor, type TestOperator } from './helpers/cluster.ts';
import { moduleSpec } from './helpers/fixtures.ts';

const COUNT = 4;
const READ_TIMEOUT_MS = 10_000;
let cluster: TestCluster;
let ns: string;
let op: TestOperator;
/** Accepts the operator's connections and never answers: a hung runtime, or a firewall that drops. */
let hung: Server;
const sockets = new Set<Socket>();
let connections = 0;

before(async () => {
  hung = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  const port = (hung.address() as { port: number }).port;
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-audit');
  op = await runOperator(cluster, ns, {
    workers: 1,
    audit: { enabled: true, urlTemplate: `http://127.0.0.1:${port}/{namespace}/{name}`, timeoutMs: READ_TIMEOUT_MS, refreshSeconds: 600 },
  });
});

after(async () => {
  await op?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => hung?.close(resolve));
  if (cluster && ns) await dropNamespace(cluster, ns);
});

const conditionOf = (m: any, type: string) => m.status?.conditions?.find((c: any) => c.type === type);

test('hung audit reads do not hold the one worker: every McpServer is Ready well within one read timeout', async () => {
  const started = performance.now();
  await kubectlApply(
    cluster,
    Array.from({ length: COUNT }, (_, i) => mcpManifest(ns, `hang-${i}`, moduleSpec)),
  );
  const list = await waitFor(
    `${COUNT} McpServers Ready`,
    async () => {
      const l = await kubectlJson(cluster, ['-n', ns, 'get', 'mcps']);
      return l.items.length === COUNT && l.items.every((m: any) => conditionOf(m, 'Ready')?.status === 'True') ? l : undefined;
    },
    { timeoutMs: 60_000, namespace: ns, intervalMs: 200 },
  );
  const seconds = (performance.now() - started) / 1000;
  // Waiting out each read in turn would take at least COUNT × 10 s with one worker.
  assert.ok(seconds < READ_TIMEOUT_MS / 1000, `all Ready after ${seconds.toFixed(1)} s`);
  assert.ok(connections >= 1, 'the audit reads did start');
  for (const m of list.items) {
    const audited = conditionOf(m, 'ToolsAudited');
    assert.equal(audited?.status, 'Unknown', `${m.metadata.name}: ${JSON.stringify(audited)}`);
    assert.equal(audited?.reason, 'AuditPending');
  }
});

test('each read that times out later still reaches its status (the operator queued the McpServer again)', async () => {
  await waitFor(
    'every ToolsAudited condition to report the timeout',
    async () => {
      const l = await kubectlJson(cluster, ['-n', ns, 'get', 'mcps']);
      return l.items.every((m: any) => /no answer within 10000 ms/.test(conditionOf(m, 'ToolsAudited')?.message ?? '')) ? l : undefined;
    },
    { timeoutMs: 45_000, namespace: ns, intervalMs: 500 },
  );
  const l = await kubectlJson(cluster, ['-n', ns, 'get', 'mcps']);
  for (const m of l.items) assert.equal(conditionOf(m, 'ToolsAudited')?.reason, 'AuditUnavailable');
});
