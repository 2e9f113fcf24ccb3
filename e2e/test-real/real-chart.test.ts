/**
 * The platform team's path on a real node: `helm install` the chart with the
 * locally built images and its bundled Redis, then one McpServer of each
 * source kind (module from a ConfigMap, stdio child processes, remote to
 * another McpServer's Service). Each becomes a Deployment whose pods run the
 * runtime and pass their real kubelet probes; the SDK v2 client calls tools
 * through each Service's ClusterIP (kube-proxy's iptables rules) in both
 * protocol eras.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Agent } from 'undici';
import { freshNamespace } from '../src/cluster/test-cluster.ts';
import { ensureBerthChart, ensureRealCluster, fixtureConfigMap, mcpPods, type RealCluster, serviceUrl, waitMcpReady } from '../src/real/test-real.ts';

let cluster: RealCluster;
let ns: string;
const podStartToReady: number[] = [];

function manifests(namespace: string): string {
  return `${fixtureConfigMap('fixtures')}
---
apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: {name: mod}
spec:
  source:
    module:
      configMapRef: {name: fixtures, key: server.mjs}
  replicas: 2
  auth: {none: {}}
---
apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: {name: cli}
spec:
  source:
    stdio:
      command: [node, /var/run/berth/configmaps/fixtures/stdio-server.mjs]
      # Referencing the ConfigMap mounts it (the script lives in it).
      env:
        - name: FIXTURE_VERSION
          valueFrom: {configMapKeyRef: {name: fixtures, key: version}}
      instances: {mode: shared, min: 1, max: 2}
  replicas: 1
  auth: {none: {}}
---
apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: {name: up}
spec:
  source:
    remote:
      url: http://mod.${namespace}.svc:8080/mcp
      timeoutSeconds: 20
  replicas: 1
  auth: {none: {}}
`;
}

before(async () => {
  cluster = await ensureRealCluster();
  const chart = await ensureBerthChart(cluster);
  if (!chart.reused) process.stdout.write(`# helm install (operator + bundled Redis Ready): ${chart.installSeconds.toFixed(1)} s\n`);
  ns = await freshNamespace('real-kinds', { podSecurity: 'restricted' });
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: manifests(ns) });
  for (const name of ['mod', 'cli', 'up']) await waitMcpReady(cluster, ns, name);
  const pods = JSON.parse(await cluster.kubectl(['-n', ns, 'get', 'pods', '-o', 'json'])) as {
    items: { metadata: { creationTimestamp: string }; status: { conditions?: { type: string; status: string; lastTransitionTime: string }[] } }[];
  };
  for (const p of pods.items) {
    const ready = p.status.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    if (ready) podStartToReady.push((Date.parse(ready.lastTransitionTime) - Date.parse(p.metadata.creationTimestamp)) / 1000);
  }
});

after(async () => {
  if (ns) await cluster?.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
});

/**
 * An SDK client with connections of its own (fetch otherwise reuses one
 * keep-alive connection, so kube-proxy would never pick another endpoint).
 */
async function connect(url: string, mode: 'legacy' | 'auto'): Promise<Client> {
  const dispatcher = new Agent();
  const client = new Client({ name: `real-node-${mode}`, version: '1.0.0' }, { versionNegotiation: { mode } });
  const ownFetch = ((input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, dispatcher } as RequestInit)) as typeof fetch;
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: ownFetch }));
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await dispatcher.close();
  };
  return client;
}

const text = (r: { content?: unknown }): string => ((r.content as { type: string; text?: string }[] | undefined) ?? []).map((c) => c.text ?? '').join('');

test('every McpServer runs as Ready pods on the real node, with the restricted securityContext', async (t) => {
  for (const [name, replicas] of [['mod', 2], ['cli', 1], ['up', 1]] as const) {
    const pods = (await mcpPods(cluster, ns, `app.kubernetes.io/instance=${name}`)).filter((p) => !p.deleting);
    assert.equal(pods.length, replicas, `${name}: ${replicas} pods`);
    for (const p of pods) {
      assert.ok(p.ready, `${p.name} Ready (its /ready probe answered the kubelet)`);
      assert.match(p.ip, /^10\.244\.0\.\d+$/, `${p.name} has an IP on the node's bridge`);
    }
  }
  const node = await cluster.kubectl(['-n', ns, 'get', 'pods', '-o', 'jsonpath={.items[*].spec.nodeName}']);
  assert.deepEqual([...new Set(node.split(' '))], ['berth-node'], 'all on the real node, none on a simulated one');
  const sorted = [...podStartToReady].sort((a, b) => a - b);
  t.diagnostic(`pod start-to-Ready (s): min ${sorted[0]} median ${sorted[Math.floor(sorted.length / 2)]} max ${sorted.at(-1)} over ${sorted.length} pods`);
  process.stdout.write(`# pod start-to-Ready: min ${sorted[0]} s, median ${sorted[Math.floor(sorted.length / 2)]} s, max ${sorted.at(-1)} s (${sorted.length} pods)\n`);
});

for (const mode of ['legacy', 'auto'] as const) {
  const era = mode === 'legacy' ? '2025-11-25' : '2026-07-28';

  test(`module source through its Service (${era}): tools, progress, and calls spread over both replicas`, async () => {
    const url = await serviceUrl(cluster, ns, 'mod');
    const seen = new Set<string>();
    // Each client is a new connection, which kube-proxy balances over the endpoints.
    for (let i = 0; i < 12 && seen.size < 2; i++) {
      const client = await connect(url, mode);
      try {
        assert.equal(client.getNegotiatedProtocolVersion(), era);
        if (i === 0) {
          const tools = await client.listTools();
          assert.deepEqual(tools.tools.map((x) => x.name).sort(), ['count', 'echo', 'whoami']);
          const progress: number[] = [];
          const done = await client.callTool({ name: 'count', arguments: { n: 3, stepMs: 20 } }, { onprogress: (p) => progress.push(p.progress) });
          assert.match(text(done), /^counted to 3 on mod-/);
          assert.deepEqual(progress, [1, 2, 3]);
          assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'héllo réal' } })), 'héllo réal');
        }
        seen.add(text(await client.callTool({ name: 'whoami', arguments: {} })));
      } finally {
        await client.close();
      }
    }
    assert.equal(seen.size, 2, `both replicas answered through the Service: ${[...seen].join(', ')}`);
  });

  test(`stdio source through its Service (${era}): a child process answers`, async () => {
    const client = await connect(await serviceUrl(cluster, ns, 'cli'), mode);
    try {
      // A legacy client may be given the child's own 2025 revision (2025-06-18) instead of the newest one.
      if (mode === 'legacy') assert.match(client.getNegotiatedProtocolVersion() ?? '', /^2025-/);
      else assert.equal(client.getNegotiatedProtocolVersion(), era);
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((x) => x.name).sort(), ['reverse', 'where']);
      assert.equal(text(await client.callTool({ name: 'reverse', arguments: { text: 'berth' } })), 'htreb');
      assert.match(text(await client.callTool({ name: 'where', arguments: {} })), /^cli-[a-z0-9-]+ pid \d+$/);
    } finally {
      await client.close();
    }
  });

  test(`remote source through its Service (${era}): the upstream is another McpServer, found by cluster DNS`, async () => {
    const client = await connect(await serviceUrl(cluster, ns, 'up'), mode);
    try {
      assert.equal(client.getNegotiatedProtocolVersion(), era);
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((x) => x.name).sort(), ['count', 'echo', 'whoami']);
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'via remote' } })), 'via remote');
      assert.match(text(await client.callTool({ name: 'whoami', arguments: {} })), /^mod-/, 'the answer comes from a pod of the upstream McpServer');
    } finally {
      await client.close();
    }
  });
}
