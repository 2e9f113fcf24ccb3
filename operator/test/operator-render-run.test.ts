/**
 * Render, then run: the Deployment and ConfigMap the operator created on the
 * cluster are turned into a real runtime process — the container's command,
 * args and env, its volumes written out as files (ConfigMaps, Secrets, the
 * Redis credential the operator minted), a real Redis with the tenant's ACL
 * user. It must become ready and serve tools; the operator then reads its
 * tool audit into the McpServer status.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { TestCluster } from '../../e2e/src/cluster/test-cluster.ts';
import {
  clusterWithCrd,
  dropNamespace,
  freePort,
  freshNamespace,
  kubectlApply,
  kubectlJson,
  mcpManifest,
  nodeBin,
  repoRoot,
  runOperator,
  startRedis,
  waitFor,
  waitForCondition,
  type RedisServer,
  type TestOperator,
} from './helpers/cluster.ts';

const MODULE = `
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
export default function create() {
  const server = new McpServer({ name: 'rendered', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes its text.', inputSchema: z.object({ text: z.string() }), annotations: { readOnlyHint: true } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('whoami', { description: 'Names the pod.', inputSchema: z.object({}) },
    async () => ({ content: [{ type: 'text', text: process.env.POD_NAME ?? '?' }] }));
  return server;
}
`;
const API_KEY = 'render-then-run-key-0123456789';

let cluster: TestCluster;
let ns: string;
let op: TestOperator | undefined;
let redis: RedisServer;
let runtime: ChildProcess | undefined;
const root = mkdtempSync(join(tmpdir(), 'berth-render-run-'));
let output = '';
let runtimePort = 0;

before(async () => {
  cluster = await clusterWithCrd();
  ns = await freshNamespace('op-render');
  redis = await startRedis();
  op = await runOperator(cluster, ns, { redis: { adminUrl: redis.adminUrl } });
});

after(async () => {
  if (runtime && runtime.exitCode === null && runtime.signalCode === null) {
    runtime.kill('SIGTERM');
    await new Promise((r) => runtime!.once('exit', r));
  }
  await op?.stop();
  await redis?.stop();
  if (cluster && ns) await dropNamespace(cluster, ns);
  rmSync(root, { recursive: true, force: true });
});

/** A path inside the pod → where this test materializes it. */
const local = (podPath: string): string => join(root, podPath);

/** Writes a volume's content under its mount path, as the kubelet would. */
async function materialize(volume: any, mountPath: string): Promise<void> {
  const dir = local(mountPath);
  mkdirSync(dir, { recursive: true });
  const write = (key: string, value: Buffer): void => {
    const file = join(dir, key);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, value);
  };
  if (volume.configMap) {
    const cm = await kubectlJson(cluster, ['-n', ns, 'get', 'configmap', volume.configMap.name]);
    const items: Array<{ key: string; path: string }> = volume.configMap.items ?? Object.keys(cm.data ?? {}).map((k) => ({ key: k, path: k }));
    for (const { key, path } of items) write(path, Buffer.from(cm.data[key], 'utf8'));
  } else if (volume.secret) {
    const secret = await kubectlJson(cluster, ['-n', ns, 'get', 'secret', volume.secret.secretName]);
    for (const [key, value] of Object.entries(secret.data ?? {})) write(key, Buffer.from(value as string, 'base64'));
  } else if (!volume.emptyDir) {
    throw new Error(`unexpected volume ${JSON.stringify(volume)}`);
  }
}

test('the rendered Deployment and ConfigMap run as a real runtime that serves tools', async () => {
  await kubectlApply(cluster, [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rendered-code', namespace: ns }, data: { 'server.mjs': MODULE } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rendered-keys', namespace: ns }, stringData: { alice: API_KEY } },
    mcpManifest(ns, 'rendered', {
      source: { module: { configMapRef: { name: 'rendered-code', key: 'server.mjs' } } },
      replicas: 1,
      auth: { apiKeys: { secretRef: { name: 'rendered-keys' } } },
    }),
  ]);
  await waitForCondition(cluster, ns, 'rendered', 'Ready');

  const dep = await kubectlJson(cluster, ['-n', ns, 'get', 'deployment', 'rendered']);
  const pod = dep.spec.template.spec;
  const container = pod.containers[0];
  for (const mount of container.volumeMounts) await materialize(pod.volumes.find((v: any) => v.name === mount.name), mount.mountPath);

  // The config file is the ConfigMap's document; only its absolute pod paths are moved under the test root.
  const configPath = container.args[container.args.indexOf('--config') + 1];
  const doc = JSON.parse((await import('node:fs')).readFileSync(local(configPath), 'utf8'));
  const rt = doc.runtime;
  for (const key of ['secretsDir', 'configMapsDir', 'packagesDir', 'baseDir', 'internalTokenFile']) if (isAbsolute(rt[key])) rt[key] = local(rt[key]);
  rt.redis.urlFile = local(rt.redis.urlFile);
  writeFileSync(local(configPath), JSON.stringify(doc));

  const port = await freePort();
  runtimePort = port;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1' };
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'rendered-0';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ns;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP') env[e.name] = '127.0.0.1';
  }
  env.HOME = local(env.HOME ?? '/tmp');
  assert.equal(container.command[0], 'node');
  assert.equal(container.workingDir, '/app', 'the image keeps the repository layout under /app');
  const args = [...container.command.slice(1), ...container.args.map((a: string) => (a === configPath ? local(a) : a))];
  runtime = spawn(nodeBin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  runtime.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  runtime.stderr!.on('data', (d: Buffer) => (output += d.toString()));

  const probe = container.readinessProbe.httpGet.path;
  await waitFor(
    `the runtime answers ${probe}`,
    async () => {
      if (runtime!.exitCode !== null) throw new Error(`the runtime exited with ${runtime!.exitCode}:\n${output.slice(-3000)}`);
      const r = await fetch(`http://127.0.0.1:${port}${probe}`).catch(() => undefined);
      return r?.status === 200;
    },
    { timeoutMs: 60_000 },
  ).catch((err: Error) => {
    throw new Error(`${err.message.split('\n')[0]}\nruntime output:\n${output.slice(-4000)}`);
  });
  assert.equal((await fetch(`http://127.0.0.1:${port}${container.livenessProbe.httpGet.path}`)).status, 200);

  const url = `http://127.0.0.1:${port}${doc.spec.endpoint.path}`;
  const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  assert.equal(anonymous.status, 401, 'the API keys from the mounted Secret are enforced');
  const client = new Client({ name: 'render-run', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${API_KEY}` } } }));
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['echo', 'whoami']);
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'rendered and running' } });
    assert.equal((echoed.content as Array<{ text: string }>)[0]!.text, 'rendered and running');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    assert.equal((who.content as Array<{ text: string }>)[0]!.text, 'rendered-0', 'env from the downward API');
  } finally {
    await client.close();
  }
  // The runtime used Redis as the tenant's ACL user: its keys carry the tenant prefix.
  const keys = await redis.admin.keys(`berth:{${ns}/rendered}:*`);
  assert.ok(keys.length > 0, 'the runtime wrote under its prefix');
  assert.deepEqual(await redis.admin.keys('*').then((all) => all.filter((k) => !k.startsWith(`berth:{${ns}/rendered}:`))), []);
});

test('the operator reads the running server’s tool audit into the status', async () => {
  assert.ok(runtime && runtime.exitCode === null && runtimePort, 'the runtime from the previous test still runs');
  // A fresh operator reads the audit at once; it reaches this runtime instead of the Service (no cluster DNS here).
  await op!.stop();
  op = await runOperator(cluster, ns, {
    redis: { adminUrl: redis.adminUrl },
    audit: { enabled: true, urlTemplate: `http://127.0.0.1:${runtimePort}/admin/audit`, timeoutMs: 5000, refreshSeconds: 600 },
  });
  const mcp = await waitForCondition(cluster, ns, 'rendered', 'ToolsAudited', 'True', 30_000);
  assert.equal(mcp.status.tools.count, 2);
  assert.match(mcp.status.tools.digest, /^sha256:/);
  assert.ok(mcp.status.tools.listingTokens > 0 && mcp.status.tools.listingBytes > 0);
  assert.deepEqual(mcp.status.tools.findings, []);
  const cond = mcp.status.conditions.find((c: any) => c.type === 'ToolsAudited');
  assert.equal(cond.reason, 'NoFindings');
  assert.match(cond.message, /2 tools audited/);
  // Without the internal token the runtime refuses the audit: the operator's read was authenticated.
  assert.equal((await fetch(`http://127.0.0.1:${runtimePort}/admin/audit`)).status, 401);
});
