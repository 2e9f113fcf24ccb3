/**
 * Tracing settings from the standard OpenTelemetry environment variables.
 * Pure: no SDK is imported here, so an untraced runtime never loads one.
 * A malformed value is a ConfigError naming the variable (exit status 2).
 */
import { ConfigError } from '../config/errors.ts';

export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

export interface TracingSettings {
  /** Full OTLP/HTTP traces URL (…/v1/traces). */
  endpoint: string;
  serviceName: string;
  sampler: SamplerName;
  /** Fraction of root traces recorded by the ratio samplers (0..1). */
  ratio: number;
  /** Batch export delay (OTEL_BSP_SCHEDULE_DELAY, ms). */
  scheduleDelayMs: number;
  /** Per-export timeout (OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT, ms). */
  exportTimeoutMs: number;
}

const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

const SOURCE = 'environment';

/** `berth-<namespace>-<name>`, the default service name of an McpServer's runtime. */
export function defaultServiceName(tenant: { namespace: string; name: string }): string {
  return `berth-${tenant.namespace}-${tenant.name}`;
}

function httpUrl(variable: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(SOURCE, [`${variable}: not a valid URL: ${JSON.stringify(value)}`]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(SOURCE, [`${variable}: expected an http:// or https:// URL, got ${url.protocol}`]);
  if (url.username || url.password) throw new ConfigError(SOURCE, [`${variable}: credentials in the URL are not allowed (use OTEL_EXPORTER_OTLP_HEADERS)`]);
  return url;
}

function milliseconds(env: NodeJS.ProcessEnv, variable: string, fallback: number): number {
  const raw = env[variable]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 600_000) throw new ConfigError(SOURCE, [`${variable}: expected milliseconds between 0 and 600000, got ${JSON.stringify(raw)}`]);
  return value;
}

/**
 * The tracing settings `env` asks for, or undefined when tracing is off: no
 * OTLP endpoint, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
 */
export function tracingSettingsFromEnv(env: NodeJS.ProcessEnv, tenant: { namespace: string; name: string }): TracingSettings | undefined {
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const baseEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!tracesEndpoint && !baseEndpoint) return undefined;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === 'none') return undefined;
  if (exporter && exporter !== 'otlp') throw new ConfigError(SOURCE, [`OTEL_TRACES_EXPORTER: only "otlp" (or "none") is supported, got ${JSON.stringify(exporter)}`]);

  for (const variable of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const) {
    const protocol = env[variable]?.trim();
    if (protocol && protocol !== 'http/json') throw new ConfigError(SOURCE, [`${variable}: only "http/json" is supported, got ${JSON.stringify(protocol)}`]);
    if (protocol) break;
  }

  let endpoint: string;
  if (tracesEndpoint) {
    endpoint = httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesEndpoint).href;
  } else {
    // The generic endpoint is a base: the signal path is appended (OTLP exporter spec).
    const base = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', baseEndpoint!);
    base.pathname = `${base.pathname.replace(/\/+$/, '')}/v1/traces`;
    endpoint = base.href;
  }

  const rawSampler = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  const rawArg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  let sampler: SamplerName;
  if (!rawSampler) sampler = rawArg ? 'parentbased_traceidratio' : 'parentbased_always_on';
  else if ((SAMPLERS as readonly string[]).includes(rawSampler)) sampler = rawSampler as SamplerName;
  else throw new ConfigError(SOURCE, [`OTEL_TRACES_SAMPLER: expected one of ${SAMPLERS.join(', ')}, got ${JSON.stringify(rawSampler)}`]);

  let ratio = 1;
  if (rawArg) {
    ratio = Number(rawArg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new ConfigError(SOURCE, [`OTEL_TRACES_SAMPLER_ARG: expected a sampling ratio between 0 and 1, got ${JSON.stringify(rawArg)}`]);
  }

  const serviceName = env.OTEL_SERVICE_NAME?.trim() || defaultServiceName(tenant);
  const timeoutVariable = env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT';
  return {
    endpoint,
    serviceName,
    sampler,
    ratio,
    scheduleDelayMs: milliseconds(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
    exportTimeoutMs: milliseconds(env, timeoutVariable, 10_000),
  };
}
