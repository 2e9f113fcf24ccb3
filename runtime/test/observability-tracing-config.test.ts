/**
 * Tracing settings from OTEL_* variables, and how a backend exchange's end
 * is classified on its span: pure functions, no SDK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../src/config/errors.ts';
import { ErrorCode, errorResponse } from '../src/protocol/jsonrpc.ts';
import { toolFailureResult } from '../src/protocol/tool-result.ts';
import { backendOutcome, jsonRpcMethodOf, sessionHash } from '../src/observability/tracing-attributes.ts';
import { tracingSettingsFromEnv } from '../src/observability/tracing-config.ts';

const tenant = { namespace: 'team-a', name: 'files' };

test('no endpoint, OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none: tracing is off', () => {
  assert.equal(tracingSettingsFromEnv({}, tenant), undefined);
  assert.equal(tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, tenant), undefined);
  assert.equal(tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }, tenant), undefined);
});

test('the generic endpoint is a base (…/v1/traces appended); the traces endpoint is used as is', () => {
  const at = (env: NodeJS.ProcessEnv) => tracingSettingsFromEnv(env, tenant)?.endpoint;
  assert.equal(at({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), 'http://c:4318/v1/traces');
  assert.equal(at({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp/' }), 'https://c/otlp/v1/traces');
  assert.equal(at({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9999/custom' }), 'http://t:9999/custom');
});

test('defaults: service berth-<namespace>-<name>, parent-based always-on; a ratio alone means parent-based ratio', () => {
  const plain = tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, tenant)!;
  assert.equal(plain.serviceName, 'berth-team-a-files');
  assert.equal(plain.sampler, 'parentbased_always_on');
  assert.equal(plain.ratio, 1);
  const ratio = tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_SERVICE_NAME: 'mine' }, tenant)!;
  assert.deepEqual([ratio.sampler, ratio.ratio, ratio.serviceName], ['parentbased_traceidratio', 0.1, 'mine']);
});

test('malformed values are ConfigErrors naming the variable', () => {
  const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  for (const [env, variable] of [
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:pw@c:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'nope' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
    [{ ...base, OTEL_TRACES_SAMPLER_ARG: '-0.1' }, 'OTEL_TRACES_SAMPLER_ARG'],
    [{ ...base, OTEL_TRACES_SAMPLER_ARG: 'half' }, 'OTEL_TRACES_SAMPLER_ARG'],
    [{ ...base, OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER'],
    [{ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ ...base, OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER'],
    [{ ...base, OTEL_BSP_SCHEDULE_DELAY: 'soon' }, 'OTEL_BSP_SCHEDULE_DELAY'],
  ] as const) {
    assert.throws(
      () => tracingSettingsFromEnv(env, tenant),
      (error: unknown) => error instanceof ConfigError && error.issues.length === 1 && error.issues[0]!.startsWith(`${variable}:`),
      variable,
    );
  }
});

test('a backend exchange ends ok, isError (the tool’s own), transient or fatal', () => {
  const result = (r: Record<string, unknown>) => ({ jsonrpc: '2.0' as const, id: 1, result: r });
  assert.equal(backendOutcome('ok', result({ content: [] })), 'ok');
  assert.equal(backendOutcome('tool_error', result({ content: [], isError: true })), 'isError');
  assert.equal(backendOutcome('tool_error', result(toolFailureResult('transient', 'upstream unreachable'))), 'transient');
  assert.equal(backendOutcome('tool_error', result(toolFailureResult('fatal', 'broken'))), 'fatal');
  assert.equal(backendOutcome('tool_error', result(toolFailureResult('bad_input', 'bad'))), 'isError');
  for (const outcome of ['timeout', 'interrupted', 'cancelled'] as const) assert.equal(backendOutcome(outcome), 'transient');
  assert.equal(backendOutcome('error', errorResponse(1, ErrorCode.Unavailable, 'down')), 'transient');
  assert.equal(backendOutcome('error', errorResponse(1, ErrorCode.UpstreamTimeout, 'slow')), 'transient');
  assert.equal(backendOutcome('error', errorResponse(1, ErrorCode.MethodNotFound, 'no')), 'fatal');
});

test('span attributes from a body: method and tool name only; session ids hashed', () => {
  assert.deepEqual(jsonRpcMethodOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read', arguments: { path: '/secret' } } }), { method: 'tools/call', tool: 'read' });
  assert.deepEqual(jsonRpcMethodOf([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/initialized' }]), { method: 'ping', batchSize: 2 });
  assert.deepEqual(jsonRpcMethodOf(undefined), {});
  const hash = sessionHash('session-123');
  assert.match(hash, /^[0-9a-f]{16}$/);
  assert.equal(hash, sessionHash('session-123'));
  assert.notEqual(hash, sessionHash('session-124'));
});
