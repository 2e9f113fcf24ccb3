/**
 * The checks, in the order a platform team meets them: install, operator up,
 * tenants' servers Ready with truthful status, their children in place,
 * tools callable through the Service, scale, rolling restart, delete with
 * garbage collection, uninstall. Each check names the capabilities it needs;
 * the runner runs it only when the options declare them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dashboardMetricNames } from './dashboard.ts';
import { toStream, type Example, type ExamplePlan } from './examples.ts';
import { helmInstall, startLocalOperator, startLocalRedis, type LocalOperator, type LocalRedis, type Release } from './install.ts';
import { until, type Kube } from './kube.ts';
import type { Capability, SuiteOptions } from './options.ts';
import { mcpClient, portForward, resultText, type Forward } from './reach.ts';

type Obj = Record<string, any>;

export interface SuiteContext {
  o: SuiteOptions;
  k: Kube;
  release: Release;
  tenant: string;
  workDir: string;
  plan: ExamplePlan;
  /** A progress line (indented under the check). */
  say(line: string): void;
  redis?: LocalRedis;
  operator?: LocalOperator;
  forwards: Forward[];
  /** Set by `scale`: the example that is scaled, restarted and deleted. */
  target?: Example;
  /** McpServers deleted so far. */
  deleted: Set<string>;
}

export interface Check {
  name: string;
  title: string;
  needs: Capability[];
  run(ctx: SuiteContext): Promise<void>;
}

const CONDITIONS = ['Ready', 'Available', 'Progressing', 'Degraded', 'Authenticated', 'ToolsAudited'];
export const SELECTOR = (name: string): string => `app.kubernetes.io/name=berth-runtime,app.kubernetes.io/instance=${name}`;
const desiredReplicas = (ex: Example): number => (ex.mcp.spec.replicas as number | undefined) ?? 1;
const live = (ctx: SuiteContext): Example[] => ctx.plan.deploy.filter((e) => !ctx.deleted.has(e.name));

async function mcps(ctx: SuiteContext, name: string): Promise<Obj> {
  return ctx.k.json(['-n', ctx.tenant, 'get', 'mcpservers.berth.dev', name]);
}

const condition = (m: Obj, type: string): Obj | undefined => (m.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);

/** Waits until the McpServer is Ready for its current generation with `replicas` ready pods. */
async function waitReady(ctx: SuiteContext, name: string, replicas?: number): Promise<Obj> {
  return until(`McpServer ${ctx.tenant}/${name} Ready${replicas === undefined ? '' : ` with ${replicas} ready replicas`}`, ctx.o.timeoutMs, async (note) => {
    const m = await mcps(ctx, name);
    const ready = condition(m, 'Ready');
    note(`Ready=${ready?.status} (${ready?.reason}: ${ready?.message}), replicas ${m.status?.replicas}/${m.status?.readyReplicas}, observedGeneration ${m.status?.observedGeneration}/${m.metadata.generation}`);
    const fresh = m.status?.observedGeneration === m.metadata.generation && ready?.observedGeneration === m.metadata.generation;
    const counts = replicas === undefined || (m.status?.replicas === replicas && m.status?.readyReplicas === replicas);
    return ready?.status === 'True' && fresh && counts ? m : undefined;
  });
}

/** Forces a reconcile without changing the spec (a watch event on the McpServer). */
async function nudge(ctx: SuiteContext, name: string): Promise<void> {
  await ctx.k.kubectl(['-n', ctx.tenant, 'annotate', '--overwrite', `mcpservers.berth.dev/${name}`, `e2e.berth.dev/nudge=${Date.now()}`]);
}

/** A port-forward to a Service (or `pod/<name>`), stopped when the check ends. */
async function forward(ctx: SuiteContext, target: string, port: number, namespace = ctx.tenant): Promise<Forward> {
  const f = await portForward(ctx.k, namespace, target, port);
  ctx.forwards.push(f);
  return f;
}

/**
 * The leading operator's /metrics: the local process, or the pod holding the
 * Lease (the Service would as well pick a standby, which reconciles nothing).
 */
async function scrapeOperator(ctx: SuiteContext): Promise<string> {
  let base = ctx.operator?.base;
  if (!base) {
    const { namespace, fullname } = ctx.release;
    const holder = (await ctx.k.kubectl(['-n', namespace, 'get', 'lease', fullname, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    assert.ok(holder, `the Lease ${namespace}/${fullname} has a holder`);
    base = (await forward(ctx, `pod/${holder}`, 8081, namespace)).base;
  }
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200, 'operator /metrics');
  return res.text();
}

/** Sum of a metric's samples whose labels contain `labels` (e.g. `result="success"`). */
export function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name || (labels && !(m[2] ?? '').includes(labels))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/** Calls the example's tools through its Service the way its README says a client would. */
async function callExample(ctx: SuiteContext, ex: Example): Promise<string> {
  const f = await forward(ctx, ex.name, 8080);
  const url = `${f.base}${ex.mcp.spec.endpoint?.path ?? '/mcp'}`;
  try {
    const auth = ex.mcp.spec.auth as Obj;
    if (auth.oauth) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
      assert.equal(res.status, 401, `${ex.name} without a token`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*resource_metadata="/);
      return 'refuses a missing token with 401 and an RFC 9728 challenge';
    }
    let headers: Record<string, string> | undefined;
    if (auth.apiKeys) {
      const secret = ex.docs.find((d) => d.kind === 'Secret' && d.metadata.name === auth.apiKeys.secretRef.name);
      const key = Object.values((secret?.stringData ?? {}) as Record<string, string>)[0];
      assert.ok(key, `${ex.name}: the example carries its API key Secret`);
      headers = { authorization: `Bearer ${key}` };
    }
    const said: string[] = [];
    for (const modern of [false, true]) {
      const client = await mcpClient(url, { modern, ...(headers ? { headers } : {}) });
      try {
        const { tools } = await client.listTools();
        assert.ok(tools.length > 0, `${ex.name} lists tools`);
        const names = tools.map((t) => t.name);
        if (names.includes('echo')) {
          assert.equal(resultText(await client.callTool({ name: 'echo', arguments: { message: `e2e ${modern}` } })), `Echo: e2e ${modern}`);
          said.push(`${modern ? 'modern' : 'legacy'}: ${tools.length} tools, echo answered`);
        } else if (names.includes('slugify')) {
          assert.equal(resultText(await client.callTool({ name: 'slugify', arguments: { text: `E2E ${modern}` } })), `e2e-${modern}`);
          said.push(`${modern ? 'modern' : 'legacy'}: ${tools.length} tools, slugify answered`);
        } else if (names.includes('calculate')) {
          assert.equal(resultText(await client.callTool({ name: 'calculate', arguments: { expression: '6 * 7' } })), '42');
          said.push(`${modern ? 'modern' : 'legacy'}: ${tools.length} tools, calculate answered`);
        } else {
          said.push(`${modern ? 'modern' : 'legacy'}: ${tools.length} tools`);
        }
        if (ex.mcp.spec.tools?.deny?.length) {
          for (const denied of ex.mcp.spec.tools.deny as string[]) assert.ok(!names.includes(denied), `${ex.name}: denied tool ${denied} is not listed`);
        }
      } finally {
        await client.close();
      }
    }
    return said.join('; ');
  } finally {
    f.stop();
  }
}

export const CHECKS: Check[] = [
  {
    name: 'install',
    title: 'helm install charts/berth',
    needs: [],
    async run(ctx) {
      const { k, o } = ctx;
      await k.kubectl(['create', 'namespace', ctx.tenant]);
      await k.kubectl(['label', 'namespace', ctx.tenant, 'berth.dev/e2e=true', ...['enforce', 'warn', 'audit'].map((m) => `pod-security.kubernetes.io/${m}=restricted`)]);
      if (!o.chartCrds) {
        await k.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=berth-e2e-suite', '-f', join(o.repoRoot, 'crds', 'mcpservers.berth.dev.yaml')]);
        ctx.say('applied the CRD from crds/ (the chart leaves it alone: crds.enabled=false)');
      }
      const t0 = Date.now();
      await helmInstall(k, o, ctx.release, ctx.tenant, ctx.workDir).catch((err: Error) => {
        if (/CustomResourceDefinition .* exists and cannot be imported/.test(err.message)) {
          err.message += '\nThe CRD was kept by an earlier release (crds.keep): run with BERTH_E2E_CHART_CRDS=0, or delete the CRD.';
        }
        throw err;
      });
      ctx.say(`release ${ctx.release.name} in ${ctx.release.namespace} installed and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await k.kubectl(['wait', '--for=condition=Established', 'crd/mcpservers.berth.dev', '--timeout=60s']);
      const crd = await k.json(['get', 'crd', 'mcpservers.berth.dev']);
      if (o.chartCrds) assert.equal(crd.metadata.annotations?.['meta.helm.sh/release-name'], ctx.release.name, 'the chart owns the CRD');
      await until('mcpservers in discovery', 30_000, async () => (await k.kubectlResult(['get', 'mcps', '-n', ctx.tenant])).code === 0);
      const dashboards = await k.json(['-n', ctx.release.namespace, 'get', 'configmaps', '-l', 'grafana_dashboard=1']);
      assert.equal(dashboards.items.length, 1, 'one dashboard ConfigMap with the Grafana sidecar label');
      const data = dashboards.items[0].data as Record<string, string>;
      const dashboard = JSON.parse(data['berth.json']!);
      assert.ok(dashboard.panels.length > 0);
      ctx.say(`dashboard ConfigMap ${dashboards.items[0].metadata.name}: "${dashboard.title}", ${dashboard.panels.length} panels`);
    },
  },
  {
    name: 'operator',
    title: 'the operator runs and leads',
    needs: [],
    async run(ctx) {
      const { k, o, release } = ctx;
      let holderOk: (holder: string) => boolean;
      if (o.operator === 'local') {
        ctx.redis = await startLocalRedis(ctx.workDir);
        ctx.operator = await startLocalOperator(k, o, release, ctx.redis.url, ctx.workDir);
        ctx.say(`local operator ${ctx.operator.identity} ready at ${ctx.operator.base}, as system:serviceaccount:${release.namespace}:${release.fullname}, log ${ctx.operator.logFile}`);
        const id = ctx.operator.identity;
        holderOk = (h) => h === id;
      } else {
        await k.kubectl(['-n', release.namespace, 'rollout', 'status', `deployment/${release.fullname}`, `--timeout=${Math.ceil(o.timeoutMs / 1000)}s`], { timeoutMs: o.timeoutMs + 10_000 });
        const pods = await k.json(['-n', release.namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${release.name},app.kubernetes.io/component=operator`]);
        const names = (pods.items as Obj[]).map((p) => p.metadata.name as string);
        ctx.say(`operator pods: ${names.join(', ')}`);
        holderOk = (h) => names.includes(h);
      }
      const holder = await until(`the Lease ${release.namespace}/${release.fullname} held by the operator`, o.timeoutMs, async (note) => {
        const r = await k.kubectlResult(['-n', release.namespace, 'get', 'lease', release.fullname, '-o', 'jsonpath={.spec.holderIdentity}']);
        note(r.stdout || r.stderr);
        return r.code === 0 && holderOk(r.stdout.trim()) ? r.stdout.trim() : undefined;
      });
      ctx.say(`leader: ${holder}`);
    },
  },
  {
    name: 'chart-test',
    title: 'helm test (the chart probes the operator from a pod)',
    needs: ['real-pods', 'operator-in-cluster'],
    async run(ctx) {
      const out = await ctx.k.helm(['test', ctx.release.name, '-n', ctx.release.namespace, '--timeout', `${Math.ceil(ctx.o.timeoutMs / 1000)}s`]);
      assert.match(out, /Phase:\s+Succeeded/);
    },
  },
  {
    name: 'examples-ready',
    title: 'kubectl apply the examples; each McpServer becomes Ready',
    needs: [],
    async run(ctx) {
      const { k, plan } = ctx;
      assert.ok(plan.deploy.length > 0, 'at least one example can be deployed with the declared capabilities');
      const t0 = Date.now();
      for (const ex of plan.deploy) await k.kubectl(['-n', ctx.tenant, 'apply', '-f', '-'], { input: toStream(ex.docs) });
      for (const ex of plan.deploy) await waitReady(ctx, ex.name, desiredReplicas(ex));
      ctx.say(`${plan.deploy.length} McpServers Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${plan.deploy.map((e) => e.name).join(', ')}`);
    },
  },
  {
    name: 'status',
    title: 'status: conditions, url, replicas, selector, printer columns',
    needs: [],
    async run(ctx) {
      for (const ex of live(ctx)) {
        const m = await mcps(ctx, ex.name);
        const st = m.status as Obj;
        const path = (ex.mcp.spec.endpoint?.path as string | undefined) ?? '/mcp';
        assert.equal(st.url, `http://${ex.name}.${ctx.tenant}.svc:8080${path}`, `${ex.name} status.url`);
        assert.equal(st.replicas, desiredReplicas(ex), `${ex.name} status.replicas`);
        assert.equal(st.readyReplicas, desiredReplicas(ex), `${ex.name} status.readyReplicas`);
        assert.equal(st.selector, SELECTOR(ex.name), `${ex.name} status.selector`);
        const deployment = await ctx.k.json(['-n', ctx.tenant, 'get', 'deployment', ex.name]);
        const matchLabels = deployment.spec.selector.matchLabels as Record<string, string>;
        assert.deepEqual(Object.entries(matchLabels).map(([a, b]) => `${a}=${b}`).sort(), st.selector.split(',').sort(), `${ex.name}: status.selector is the Deployment's selector`);
        for (const type of CONDITIONS) {
          const c = condition(m, type);
          assert.ok(c, `${ex.name} has condition ${type}`);
          assert.equal(c.observedGeneration, m.metadata.generation, `${ex.name} ${type}.observedGeneration`);
        }
        assert.equal(condition(m, 'Ready')?.status, 'True');
        assert.equal(condition(m, 'Available')?.status, 'True');
        assert.equal(condition(m, 'Degraded')?.status, 'False');
        const auth = ex.mcp.spec.auth as Obj;
        const expected = auth.oauth ? ['True', 'OAuth'] : auth.apiKeys ? ['True', 'ApiKeys'] : ['False', 'AuthDisabled'];
        assert.deepEqual([condition(m, 'Authenticated')?.status, condition(m, 'Authenticated')?.reason], expected, `${ex.name} Authenticated`);
        // The scale subresource reads the same fields (it exists only while spec.replicas is set).
        if (ex.mcp.spec.replicas === undefined) continue;
        const scale = JSON.parse(await ctx.k.kubectl(['get', '--raw', `/apis/berth.dev/v1alpha1/namespaces/${ctx.tenant}/mcpservers/${ex.name}/scale`]));
        assert.equal(scale.status.selector, SELECTOR(ex.name), `${ex.name} scale.status.selector`);
        assert.equal(scale.status.replicas, desiredReplicas(ex), `${ex.name} scale.status.replicas`);
      }
      const wide = await ctx.k.kubectl(['-n', ctx.tenant, 'get', 'mcps', '-o', 'wide']);
      assert.match(wide.split('\n')[0]!, /^NAME\s+READY\s+REPLICAS\s+REASON\s+URL\s+AGE$/);
      for (const ex of live(ctx)) assert.match(wide, new RegExp(`^${ex.name}\\s+True\\s+${desiredReplicas(ex)}\\s+Ready\\s+http://${ex.name}\\.`, 'm'));
      ctx.say(wide.trimEnd().split('\n').join('\n'));
    },
  },
  {
    name: 'children',
    title: 'children: owned, restricted, wired to Redis',
    needs: [],
    async run(ctx) {
      for (const ex of live(ctx)) {
        const m = await mcps(ctx, ex.name);
        const uid = m.metadata.uid as string;
        const kinds: Array<[string, string]> = [
          ['configmap', `${ex.name}-config`],
          ['secret', `${ex.name}-internal`],
          ['secret', `${ex.name}-redis`],
          ['serviceaccount', ex.name],
          ['service', ex.name],
          ['deployment', ex.name],
          ['networkpolicy', ex.name],
        ];
        if (desiredReplicas(ex) > 1) kinds.push(['poddisruptionbudget', ex.name]);
        for (const [kind, name] of kinds) {
          const child = await ctx.k.json(['-n', ctx.tenant, 'get', kind, name]);
          const owner = (child.metadata.ownerReferences as Obj[] | undefined)?.find((r) => r.controller);
          assert.equal(owner?.uid, uid, `${kind}/${name} is controlled by McpServer ${ex.name}`);
        }
        const d = await ctx.k.json(['-n', ctx.tenant, 'get', 'deployment', ex.name]);
        const pod = d.spec.template.spec as Obj;
        assert.equal(pod.automountServiceAccountToken, false, `${ex.name}: no service account token`);
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.containers[0].image, ctx.o.runtimeImage, `${ex.name} runs the runtime image`);
        const config = JSON.parse((await ctx.k.json(['-n', ctx.tenant, 'get', 'configmap', `${ex.name}-config`])).data['config.json']);
        assert.deepEqual(config.tenant, { namespace: ctx.tenant, name: ex.name });
        assert.ok(config.runtime.redis?.urlFile, `${ex.name}: the runtime gets a Redis`);
        const pods = await ctx.k.json(['-n', ctx.tenant, 'get', 'pods', '-l', SELECTOR(ex.name)]);
        const running = (pods.items as Obj[]).filter((p) => !p.metadata.deletionTimestamp);
        assert.equal(running.length, desiredReplicas(ex), `${ex.name}: pods admitted in a namespace enforcing Pod Security "restricted"`);
      }
      ctx.say(`each of ${live(ctx).length} McpServers owns its ConfigMap, Secrets, ServiceAccount, Service, Deployment, NetworkPolicy (and PodDisruptionBudget when replicas > 1)`);
    },
  },
  {
    name: 'tools-audited',
    title: "status.tools from the runtime's audit",
    needs: ['real-pods', 'operator-in-cluster'],
    async run(ctx) {
      for (const ex of live(ctx)) {
        const m = await until(`${ex.name} status.tools`, ctx.o.timeoutMs, async (note) => {
          const cur = await mcps(ctx, ex.name);
          note(JSON.stringify(condition(cur, 'ToolsAudited')));
          return cur.status?.tools && condition(cur, 'ToolsAudited')?.status !== 'Unknown' ? cur : undefined;
        });
        assert.ok(m.status.tools.count > 0, `${ex.name}: status.tools.count is 0 (${JSON.stringify(m.status.tools)}); the runtime's GET /admin/audit lists no tools`);
        assert.match(m.status.tools.digest, /^sha256:/);
        ctx.say(`${ex.name}: ${m.status.tools.count} tools, ToolsAudited=${condition(m, 'ToolsAudited')?.status} (${condition(m, 'ToolsAudited')?.reason})`);
      }
    },
  },
  {
    name: 'tools-through-service',
    title: 'MCP clients call tools through each Service',
    needs: ['real-pods'],
    async run(ctx) {
      for (const ex of live(ctx)) ctx.say(`${ex.name}: ${await callExample(ctx, ex)}`);
    },
  },
  {
    name: 'operator-metrics',
    title: "the operator's /metrics",
    needs: ['operator-reachable'],
    async run(ctx) {
      const text = await scrapeOperator(ctx);
      assert.ok(metricSum(text, 'berth_operator_reconcile_total', 'result="success"') > 0, 'successful reconciles counted');
      assert.equal(metricSum(text, 'berth_operator_leader'), 1, 'the scraped operator leads');
      const missing = dashboardMetricNames(join(ctx.o.repoRoot, 'charts', 'berth', 'dashboards', 'berth.json'))
        .filter((n) => n.startsWith('berth_operator_'))
        .filter((n) => !new RegExp(`^(# TYPE )?${n}[ {]`, 'm').test(text));
      assert.deepEqual(missing, [], "every operator metric the dashboard queries is exported");
      ctx.say(`reconciles: ${metricSum(text, 'berth_operator_reconcile_total')}, kube writes: ${metricSum(text, 'berth_operator_kube_writes_total')}`);
    },
  },
  {
    name: 'scale',
    title: 'kubectl scale mcps (the operator does not revert it)',
    needs: [],
    async run(ctx) {
      // A server no other example depends on (the remote example may use everything as its upstream).
      const upstreamOfRemote = live(ctx).find((e) => e.mcp.spec.source.remote)?.mcp.spec.source.remote.url as string | undefined;
      const candidates = live(ctx).filter((e) => !upstreamOfRemote?.startsWith(`http://${e.name}:`));
      const target = candidates.find((e) => e.folder === 'everything') ?? candidates.find((e) => desiredReplicas(e) > 1) ?? candidates[0]!;
      ctx.target = target;
      await ctx.k.kubectl(['-n', ctx.tenant, 'scale', `mcpservers.berth.dev/${target.name}`, '--replicas=3']);
      await waitReady(ctx, target.name, 3);
      await nudge(ctx, target.name);
      await sleep(3000);
      const d = await ctx.k.json(['-n', ctx.tenant, 'get', 'deployment', target.name]);
      assert.equal(d.spec.replicas, 3, 'the Deployment keeps 3 replicas after a reconcile');
      assert.equal((await mcps(ctx, target.name)).spec.replicas, 3);
      ctx.say(`${target.name}: 3 ready replicas after kubectl scale, kept after a reconcile`);
      await ctx.k.kubectl(['-n', ctx.tenant, 'scale', `mcpservers.berth.dev/${target.name}`, `--replicas=${desiredReplicas(target)}`]);
      await waitReady(ctx, target.name, desiredReplicas(target));
      ctx.say(`${target.name}: back to ${desiredReplicas(target)}`);
    },
  },
  {
    name: 'rollout-restart',
    title: 'kubectl rollout restart (kept, pods replaced, Ready again)',
    needs: [],
    async run(ctx) {
      const target = ctx.target ?? live(ctx)[0]!;
      const podNames = async (): Promise<string[]> =>
        ((await ctx.k.json(['-n', ctx.tenant, 'get', 'pods', '-l', SELECTOR(target.name)])).items as Obj[]).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name as string);
      const before = await podNames();
      await ctx.k.kubectl(['-n', ctx.tenant, 'rollout', 'restart', `deployment/${target.name}`]);
      await ctx.k.kubectl(['-n', ctx.tenant, 'rollout', 'status', `deployment/${target.name}`, `--timeout=${Math.ceil(ctx.o.timeoutMs / 1000)}s`], { timeoutMs: ctx.o.timeoutMs + 10_000 });
      await until(`the old pods of ${target.name} gone`, ctx.o.timeoutMs, async (note) => {
        const now = await podNames();
        note(now.join(', '));
        return now.length === desiredReplicas(target) && now.every((n) => !before.includes(n));
      });
      await waitReady(ctx, target.name, desiredReplicas(target));
      await nudge(ctx, target.name);
      await sleep(3000);
      const d = await ctx.k.json(['-n', ctx.tenant, 'get', 'deployment', target.name]);
      assert.ok(d.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], 'the restart annotation survives a reconcile');
      const generation = d.metadata.generation as number;
      await sleep(2000);
      assert.equal((await ctx.k.json(['-n', ctx.tenant, 'get', 'deployment', target.name])).metadata.generation, generation, 'no further rollout');
      ctx.say(`${target.name}: pods ${before.join(', ')} replaced; restartedAt kept`);
    },
  },
  {
    name: 'tools-after-rollout',
    title: 'tools answer through the Service after the restart',
    needs: ['real-pods'],
    async run(ctx) {
      const target = ctx.target ?? live(ctx)[0]!;
      ctx.say(`${target.name}: ${await callExample(ctx, target)}`);
    },
  },
  {
    name: 'delete',
    title: 'kubectl delete mcps; children garbage-collected',
    needs: [],
    async run(ctx) {
      const target = ctx.target ?? live(ctx)[0]!;
      const others = live(ctx).filter((e) => e !== target);
      await ctx.k.kubectl(['-n', ctx.tenant, 'delete', `mcpservers.berth.dev/${target.name}`, '--wait=true', `--timeout=${Math.ceil(ctx.o.timeoutMs / 1000)}s`], { timeoutMs: ctx.o.timeoutMs + 10_000 });
      ctx.deleted.add(target.name);
      const left = async (): Promise<string[]> => {
        const r = await ctx.k.kubectl(['-n', ctx.tenant, 'get', 'configmaps,secrets,serviceaccounts,services,deployments,replicasets,pods,networkpolicies,poddisruptionbudgets', '-l', `app.kubernetes.io/instance=${target.name}`, '-o', 'name']);
        return r.split('\n').filter(Boolean);
      };
      const t0 = Date.now();
      await until(`the children of ${target.name} garbage-collected`, ctx.o.timeoutMs, async (note) => {
        const rest = await left();
        note(rest.join(', '));
        return rest.length === 0;
      });
      for (const name of [`${target.name}-config`, `${target.name}-internal`, `${target.name}-redis`]) {
        assert.notEqual((await ctx.k.kubectlResult(['-n', ctx.tenant, 'get', name.endsWith('config') ? 'configmap' : 'secret', name])).code, 0, `${name} is gone`);
      }
      for (const ex of others) assert.equal(condition(await mcps(ctx, ex.name), 'Ready')?.status, 'True', `${ex.name} untouched`);
      ctx.say(`${target.name} and its children gone ${((Date.now() - t0) / 1000).toFixed(1)} s after the delete returned; ${others.length} others still Ready`);
    },
  },
  {
    name: 'tenant-redis-cleanup',
    title: "the finalizer removed the tenant's Redis ACL user",
    needs: ['redis-inspectable'],
    async run(ctx) {
      const target = ctx.target ?? [...ctx.plan.deploy].find((e) => ctx.deleted.has(e.name))!;
      const users = (await ctx.redis!.cli(['ACL', 'USERS'])).split('\n').filter(Boolean);
      assert.ok(!users.includes(`berth.${ctx.tenant}.${target.name}`), `ACL user of ${target.name} removed: ${users.join(', ')}`);
      for (const ex of live(ctx)) assert.ok(users.includes(`berth.${ctx.tenant}.${ex.name}`), `ACL user of ${ex.name} kept`);
      ctx.say(`ACL users left: ${users.join(', ')}`);
    },
  },
  {
    name: 'uninstall',
    title: 'delete every McpServer, helm uninstall (the CRD stays)',
    needs: [],
    async run(ctx) {
      const { k, o, release } = ctx;
      await k.kubectl(['-n', ctx.tenant, 'delete', 'mcpservers.berth.dev', '--all', '--wait=true', `--timeout=${Math.ceil(o.timeoutMs / 1000)}s`], { timeoutMs: o.timeoutMs + 10_000 });
      for (const ex of ctx.plan.deploy) ctx.deleted.add(ex.name);
      await ctx.operator?.stop();
      await k.helm(['uninstall', release.name, '-n', release.namespace, '--wait', '--timeout', `${Math.ceil(o.timeoutMs / 1000)}s`]);
      await until('the operator Deployment gone', o.timeoutMs, async () => (await k.kubectlResult(['-n', release.namespace, 'get', 'deployment', release.fullname])).code !== 0);
      assert.equal((await k.kubectlResult(['get', 'crd', 'mcpservers.berth.dev'])).code, 0, 'the CRD is kept (crds.keep)');
      assert.equal((await k.kubectl(['-n', release.namespace, 'get', 'configmaps', '-l', 'grafana_dashboard=1', '-o', 'name'])).trim(), '', 'the dashboard ConfigMap is gone');
      ctx.say('release removed; CRD kept');
    },
  },
];

