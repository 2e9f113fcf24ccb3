/**
 * Tracing settings reach every runtime pod as the standard OTEL_* env (which
 * the runtime itself accepts), with an egress allow to the collector; the
 * Helm values render into the operator config and bad values are refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ensureKubectlSync } from '../../e2e/src/cluster/build.ts';
import { tracingSettingsFromEnv } from '../../runtime/src/observability/tracing-config.ts';
import { loadOperatorConfig, operatorConfig, OperatorConfigError, type OperatorConfigInput } from '../src/config.ts';
import { renderDesired, type DesiredState } from '../src/mcpserver/desired.ts';
import { parseSpec } from '../src/mcpserver/spec.ts';
import { mcpServer, moduleSpec, remoteSpec } from './helpers/fixtures.ts';
import { repoRoot } from './helpers/cluster.ts';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'berth-tracing-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function render(spec: Record<string, unknown>, cfg: OperatorConfigInput): DesiredState {
  const mcp = mcpServer('memory', spec);
  const parsed = parseSpec(mcp.spec);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.issues.join('\n'));
  const result = renderDesired({ mcp, spec: parsed.spec, config: operatorConfig(cfg), credentials: { redisUrl: 'redis://u:p@redis.berth-system.svc:6379/0', internalToken: 'tok' } });
  assert.ok(result.ok, result.ok ? '' : result.issues.join('\n'));
  return result.desired;
}

const runtimeEnv = (d: DesiredState): Array<{ name: string; value?: string; valueFrom?: unknown }> =>
  (d.objects.find((o) => o.kind === 'Deployment') as any).spec.template.spec.containers[0].env;
const egressOf = (d: DesiredState): Array<Record<string, any>> => (d.objects.find((o) => o.kind === 'NetworkPolicy') as any).spec.egress;

const TRACING = { otlpEndpoint: 'http://otel-collector.observability.svc:4318', samplingRatio: 0.25, networkPolicyPeers: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }] };

test('without tracing settings, runtime pods get no OTEL_* env and no collector egress', () => {
  const d = render(moduleSpec, {});
  assert.deepEqual(runtimeEnv(d).filter((e) => e.name.startsWith('OTEL_')), []);
  assert.ok(!egressOf(d).some((r) => r.ports?.some((p: { port: number }) => p.port === 4318)));
});

test('tracing settings become the OTEL_* env of every runtime pod, and the runtime accepts it', () => {
  for (const spec of [moduleSpec, remoteSpec]) {
    const d = render(spec, { tracing: TRACING });
    const env = runtimeEnv(d);
    const otel = Object.fromEntries(env.filter((e) => e.name.startsWith('OTEL_')).map((e) => [e.name, e.value]));
    assert.deepEqual(otel, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability.svc:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'berth-team-a-memory',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)',
    });
    // $(POD_NAME) expands only from entries defined earlier in the list.
    const index = (name: string): number => env.findIndex((e) => e.name === name);
    assert.ok(index('POD_NAME') < index('OTEL_RESOURCE_ATTRIBUTES') && index('POD_NAMESPACE') < index('OTEL_RESOURCE_ATTRIBUTES'));

    const settings = tracingSettingsFromEnv(otel, { namespace: 'team-a', name: 'memory' });
    assert.deepEqual(settings && { endpoint: settings.endpoint, sampler: settings.sampler, ratio: settings.ratio, serviceName: settings.serviceName }, {
      endpoint: 'http://otel-collector.observability.svc:4318/v1/traces',
      sampler: 'parentbased_traceidratio',
      ratio: 0.25,
      serviceName: 'berth-team-a-memory',
    });

    const rule = egressOf(d).find((r) => r.ports?.some((p: { port: number }) => p.port === 4318));
    assert.deepEqual(rule, { ports: [{ protocol: 'TCP', port: 4318 }], to: TRACING.networkPolicyPeers });
  }
  // Without peers the collector's port is allowed to any destination; an https endpoint without a port means 443.
  const open = egressOf(render(moduleSpec, { tracing: { otlpEndpoint: 'https://otlp.example.com' } }));
  assert.ok(open.some((r) => r.to === undefined && r.ports?.length === 1 && r.ports[0].port === 443));
});

test('bad tracing settings are refused naming the field', () => {
  for (const [tracing, field] of [
    [{ otlpEndpoint: 'otel-collector:4318' }, 'tracing.otlpEndpoint'],
    [{ otlpEndpoint: 'grpc://otel-collector:4317' }, 'tracing.otlpEndpoint'],
    [{ otlpEndpoint: 'http://otel:4318', samplingRatio: 1.5 }, 'tracing.samplingRatio'],
  ] as const) {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ tracing }));
    assert.throws(() => loadOperatorConfig(['--config', file], {}), (error: unknown) => error instanceof OperatorConfigError && error.message.includes(field), field);
  }
});

test('the chart renders tracing values into the operator config; its schema refuses bad ones', async () => {
  const { helm } = ensureKubectlSync();
  const chart = join(repoRoot, 'charts', 'berth');
  const template = (args: string[]) => run(helm, ['template', 'berth', chart, '--namespace', 'berth-system', ...args], { maxBuffer: 64 << 20 });
  const configOf = async (args: string[]) => {
    const { stdout } = await template(args);
    const cm = parseAllDocuments(stdout)
      .map((d) => d.toJS() as Record<string, any> | null)
      .find((d) => d?.kind === 'ConfigMap' && d.metadata.name === 'berth-operator');
    const file = join(tmp, 'config.json');
    writeFileSync(file, cm!.data['config.json']);
    return loadOperatorConfig(['--config', file], {});
  };
  assert.deepEqual((await configOf([])).tracing, { otlpEndpoint: '', samplingRatio: 1, networkPolicyPeers: [] });
  const traced = await configOf(['--set', `tracing.otlpEndpoint=${TRACING.otlpEndpoint}`, '--set', 'tracing.samplingRatio=0.25']);
  assert.deepEqual(traced.tracing, { otlpEndpoint: TRACING.otlpEndpoint, samplingRatio: 0.25, networkPolicyPeers: [] });
  const fromFile = await configOf(['-f', join(chart, 'ci', 'tracing-values.yaml')]);
  assert.deepEqual(fromFile.tracing, { otlpEndpoint: TRACING.otlpEndpoint, samplingRatio: 0.1, networkPolicyPeers: TRACING.networkPolicyPeers });
  for (const set of ['tracing.samplingRatio=2', 'tracing.otlpEndpoint=otel-collector:4318', 'tracing.sampling=1']) {
    await assert.rejects(template(['--set', set]), /tracing/, set);
  }
});
