/**
 * The kubelet's real readiness probe against the runtime's /ready: an
 * McpServer whose Redis (its own, named by spec.redis.secretRef) becomes
 * unreachable is taken out of its Service's endpoints while /health keeps it
 * alive (no restart), and comes back once Redis does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { freshNamespace, waitFor } from '../src/cluster/test-cluster.ts';
import { TAGS } from '../src/real/images.ts';
import { ensureBerthChart, ensureRealCluster, fixtureConfigMap, mcpPods, type RealCluster, readyEndpoints, serviceUrl, waitMcpReady } from '../src/real/test-real.ts';

let cluster: RealCluster;
let ns: string;

const restricted = `securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        seccompProfile: {type: RuntimeDefault}`;

before(async () => {
  cluster = await ensureRealCluster();
  await ensureBerthChart(cluster);
  ns = await freshNamespace('real-ready', { podSecurity: 'restricted' });
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: `${fixtureConfigMap('fixtures')}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis}
spec:
  replicas: 1
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      ${restricted}
      containers:
      - name: redis
        image: ${TAGS.redis}
        imagePullPolicy: Never
        command: [redis-server, --save, "", --appendonly, "no", --protected-mode, "no"]
        ports: [{name: redis, containerPort: 6379}]
        readinessProbe: {tcpSocket: {port: redis}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: redis}
spec:
  selector: {app: redis}
  ports: [{name: redis, port: 6379, targetPort: redis}]
---
apiVersion: v1
kind: Secret
metadata: {name: own-redis}
stringData: {url: "redis://redis.${'${NS}'}.svc:6379/0"}
---
apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: {name: ready}
spec:
  source:
    module:
      configMapRef: {name: fixtures, key: server.mjs}
  replicas: 2
  auth: {none: {}}
  redis: {secretRef: {name: own-redis}}
`.replace('${NS}', ns),
  });
  await cluster.kubectl(['-n', ns, 'rollout', 'status', 'deployment/redis', '--timeout=120s']);
  await waitMcpReady(cluster, ns, 'ready');
  await waitFor('2 ready endpoints', async () => (await readyEndpoints(cluster, ns, 'ready')).length === 2, { namespace: ns, timeoutMs: 120_000 });
});

after(async () => {
  if (ns) await cluster?.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
});

/** GET on a connection of its own (a kept-alive one would skip kube-proxy's choice); the status or the connection error. */
async function freshGet(url: string): Promise<string> {
  const dispatcher = new Agent();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), dispatcher } as RequestInit);
    await res.text();
    return `HTTP ${res.status}`;
  } catch (err) {
    const cause = (err as Error).cause as { code?: string; message?: string } | undefined;
    return cause?.code ?? cause?.message ?? (err as Error).message;
  } finally {
    await dispatcher.close();
  }
}

async function restarts(): Promise<number> {
  const out = await cluster.kubectl(['-n', ns, 'get', 'pods', '-l', 'app.kubernetes.io/instance=ready', '-o', 'jsonpath={.items[*].status.containerStatuses[*].restartCount}']);
  return out.split(' ').filter(Boolean).reduce((a, n) => a + Number(n), 0);
}

test('Redis unreachable: the kubelet takes the runtime pods out of the endpoints, and puts them back when Redis returns', async (t) => {
  const pods = (await mcpPods(cluster, ns, 'app.kubernetes.io/instance=ready')).filter((p) => !p.deleting);
  assert.equal(pods.length, 2);
  const podIps = pods.map((p) => p.ip).sort();
  assert.deepEqual(await readyEndpoints(cluster, ns, 'ready'), podIps);
  const restartsBefore = await restarts();
  const url = await serviceUrl(cluster, ns, 'ready', '/ready');
  assert.equal(await freshGet(url), 'HTTP 200', '/ready through the Service');

  const downAt = Date.now();
  await cluster.kubectl(['-n', ns, 'scale', 'deployment/redis', '--replicas=0']);
  await waitFor('no ready endpoints', async () => (await readyEndpoints(cluster, ns, 'ready')).length === 0, { namespace: ns, timeoutMs: 90_000, intervalMs: 250 });
  const outSeconds = (Date.now() - downAt) / 1000;
  const notReady = await mcpPods(cluster, ns, 'app.kubernetes.io/instance=ready');
  assert.ok(notReady.every((p) => !p.ready), 'both pods NotReady');
  // Liveness is /health, which does not depend on Redis: the pods are not restarted.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await restarts(), restartsBefore, 'no container restarted while Redis was away');
  const viaService = await freshGet(url);
  assert.equal(viaService, 'ECONNREFUSED', 'kube-proxy rejects connections to a Service without ready endpoints');

  const upAt = Date.now();
  await cluster.kubectl(['-n', ns, 'scale', 'deployment/redis', '--replicas=1']);
  await waitFor('both endpoints ready again', async () => (await readyEndpoints(cluster, ns, 'ready')).join() === podIps.join(), { namespace: ns, timeoutMs: 120_000, intervalMs: 250 });
  const backSeconds = (Date.now() - upAt) / 1000;
  // kube-proxy programs the endpoints' rules a moment after the EndpointSlice says ready.
  await waitFor('HTTP 200 from /ready through the Service again', async () => {
    const got = await freshGet(url);
    if (got !== 'HTTP 200') throw new Error(got);
    return true;
  }, { namespace: ns, timeoutMs: 15_000, intervalMs: 250 });
  assert.equal(await restarts(), restartsBefore, 'the same containers came back (no restart)');
  const line = `readiness: out of the endpoints ${outSeconds.toFixed(1)} s after Redis went away (probe period 5 s, failureThreshold 2); back ${backSeconds.toFixed(1)} s after Redis was scaled up again (incl. its pod start); no restarts; Service while out: ${viaService}`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);
});
