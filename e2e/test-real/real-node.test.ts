/**
 * The real node itself, before any Berth object: the kubelet runs containers
 * of a locally built image under containerd, with the bridge network, real
 * probes, cluster DNS, ClusterIP Services (from pods and from this host),
 * the apiserver from inside a pod, and rules that keep pods on the machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { freshNamespace, waitFor } from '../src/cluster/test-cluster.ts';
import { run } from '../src/cluster/proc.ts';
import { TAGS } from '../src/real/images.ts';
import { ensureRealCluster, type RealCluster, readyEndpoints, serviceUrl } from '../src/real/test-real.ts';

let cluster: RealCluster;
let ns: string;

const securityContext = `securityContext:
          runAsNonRoot: true
          runAsUser: 65534
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
          seccompProfile: {type: RuntimeDefault}`;

before(async () => {
  cluster = await ensureRealCluster();
  ns = await freshNamespace('real-node', { podSecurity: 'restricted' });
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ${TAGS.busybox}
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
        readinessProbe: {httpGet: {path: /index.html, port: 8080}, periodSeconds: 1}
        ${securityContext}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
  });
  await cluster.kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=120s']);
  await waitFor('2 ready endpoints', async () => (await readyEndpoints(cluster, ns, 'web')).length === 2, { namespace: ns, timeoutMs: 60_000 });
});

after(async () => {
  if (ns) await cluster?.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
});

/** Runs a one-off busybox pod with `script` and returns its log once it succeeded. */
async function runPod(name: string, script: string): Promise<string> {
  await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: ${TAGS.busybox}
    imagePullPolicy: Never
    command: [sh, -c, ${JSON.stringify(script)}]
    ${securityContext.replaceAll('\n          ', '\n      ')}
`,
  });
  const phase = await waitFor(`pod ${name} finished`, async () => {
    const p = (await cluster.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).trim();
    return p === 'Succeeded' || p === 'Failed' ? p : undefined;
  }, { namespace: ns, timeoutMs: 90_000 });
  const log = await cluster.kubectl(['-n', ns, 'logs', name]);
  assert.equal(phase, 'Succeeded', `pod ${name} failed:\n${log}`);
  return log;
}

test('the node is a Ready kubelet node and the simulated nodes take no pods', async () => {
  const ready = await cluster.kubectl(['get', 'node', 'berth-node', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}']);
  const [status, kubelet, runtime] = ready.trim().split(' ');
  assert.equal(status, 'True');
  assert.equal(kubelet, cluster.real.kubernetes);
  assert.match(runtime ?? '', /^containerd:\/\/1\.6\./);
  const taints = await cluster.kubectl(['get', 'nodes', '-l', 'type=kwok', '-o', 'jsonpath={.items[*].spec.taints[*].key}']);
  for (const key of taints.split(' ').filter(Boolean)) assert.equal(key, 'berth.dev/simulated');
});

test('a ClusterIP Service balances over both pods, from this host through kube-proxy', async () => {
  const url = await serviceUrl(cluster, ns, 'web', '/index.html');
  const seen = new Set<string>();
  // Each request on a connection of its own, so kube-proxy picks an endpoint for each.
  await waitFor('both pods answer through the Service', async () => {
    const dispatcher = new Agent();
    try {
      const res = await fetch(url, { dispatcher } as RequestInit);
      seen.add((await res.text()).trim());
    } finally {
      await dispatcher.close();
    }
    return seen.size === 2;
  }, { namespace: ns, timeoutMs: 30_000, intervalMs: 50 });
  assert.equal(seen.size, 2, `both pods answered: ${[...seen].join(', ')}`);
});

test('from a pod: cluster DNS, the Service by name, the apiserver by its Service; nothing past the machine', async () => {
  // busybox-static resolves names only through its nslookup (glibc's static getaddrinfo has no NSS
  // modules), so addresses are looked up first; its `wget -T` crashes, so `timeout` bounds it instead.
  const lookup = (name: string): string => `nslookup ${name} | awk '/^Address: /{a=$2} END{print a}'`;
  const log = await runPod(
    'probe',
    [
      `web=$(${lookup(`web.${ns}.svc.cluster.local`)})`,
      'echo dns: $web',
      'echo web: $(timeout 5 wget -qO- http://$web/index.html)',
      `api=$(${lookup('kubernetes.default.svc.cluster.local')})`,
      'echo api: $api',
      // A TLS server answers there (busybox's TLS client cannot finish a handshake with it; that it gets one proves the route).
      'timeout 5 wget -qO- https://$api/version 2>&1 | head -n 1',
      // Names outside the cluster domain are not answered: nothing is forwarded off the machine.
      'nslookup example.com >/dev/null 2>&1 && echo outside-dns: answered || echo outside-dns: refused',
    ].join('; '),
  );
  assert.match(log, /^dns: 10\.96\.\d+\.\d+$/m, `DNS answered the Service's ClusterIP:\n${log}`);
  assert.match(log, /^web: web-/m, log);
  assert.match(log, /^api: 10\.96\.0\.1$/m, log);
  assert.match(log, /^wget: .*TLS/m, `a TLS server answered at the kubernetes Service:\n${log}`);
  assert.match(log, /^outside-dns: refused$/m, log);
  // No packet is sent off the machine to prove it; the rules that guarantee it are checked instead.
  const rules = await run('iptables', ['-w', '-S', 'BERTH-REAL-FORWARD']);
  assert.match(rules.stdout, /-A BERTH-REAL-FORWARD -i berth-br0 -o berth-br0 -j ACCEPT\n-A BERTH-REAL-FORWARD -i berth-br0 -j DROP\n-A BERTH-REAL-FORWARD -o berth-br0 -j DROP/);
  const nat = await run('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(nat.stdout, /10\.244\.0\.0\/24.*MASQUERADE/, 'pod traffic is never masqueraded onto the machine\'s address');
});
