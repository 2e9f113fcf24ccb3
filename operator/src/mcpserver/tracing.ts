/**
 * Tracing of the runtime pods: the operator-wide `tracing` settings become
 * the standard OTEL_* env of every runtime container (network-policy.ts
 * allows the egress to the collector). No endpoint, no env: the runtime then
 * never loads the SDK.
 */
import { defaultServiceName } from '../../../runtime/src/observability/tracing-config.ts';
import type { OperatorConfig } from '../config.ts';

export interface EnvVar {
  name: string;
  value: string;
}

/** The OTEL_* env of a runtime container (empty when tracing is off). */
export function tracingEnv(tracing: OperatorConfig['tracing'], tenant: { namespace: string; name: string }): EnvVar[] {
  if (!tracing.otlpEndpoint) return [];
  return [
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: tracing.otlpEndpoint },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
    { name: 'OTEL_SERVICE_NAME', value: defaultServiceName(tenant) },
    // Parent-based: a caller's sampled traceparent is always followed; the ratio applies to new traces.
    { name: 'OTEL_TRACES_SAMPLER', value: 'parentbased_traceidratio' },
    { name: 'OTEL_TRACES_SAMPLER_ARG', value: String(tracing.samplingRatio) },
    // $(VAR) is expanded by the kubelet from the env entries above it (POD_NAME, POD_NAMESPACE).
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)' },
  ];
}
