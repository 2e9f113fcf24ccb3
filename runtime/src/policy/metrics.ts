/**
 * Policy metrics on the Registry the HTTP layer serves at /metrics. When a
 * counter of the same name is already registered (the process-wide
 * `berth_audit_findings_total`, `berth_rate_limited_total`), it is reused and
 * its own label names are honoured (`finding` or `rule` for the rule id).
 */
import { Counter, type Registry } from '../observability/prometheus.ts';

export interface PolicyMetrics {
  finding(rule: string, tool: string): void;
  refusal(reason: string): void;
  rateLimited(scope: string): void;
  output(action: string): void;
}

type Labels = Record<string, string>;

function counter(registry: Registry, name: string, help: string, labelNames: string[]): { inc(labels: Labels): void; labelNames: readonly string[] } {
  const existing = registry.getSingleMetric(name) as Counter | undefined;
  const c = existing ?? new Counter({ name, help, labelNames, registers: [registry] });
  return { inc: (labels) => c.inc(labels), labelNames: c.labelNames };
}

/** Creates (or reuses) the counters; no-ops without a registry. */
export function policyMetrics(registry: Registry | undefined): PolicyMetrics {
  if (!registry) return { finding: () => {}, refusal: () => {}, rateLimited: () => {}, output: () => {} };
  const findings = counter(registry, 'berth_audit_findings_total', 'Tool audit findings, counted once per distinct finding.', ['rule', 'tool']);
  const ruleLabel = findings.labelNames.includes('rule') ? 'rule' : 'finding';
  const refusals = counter(registry, 'berth_policy_refusals_total', 'Tool calls refused by policy, by reason.', ['reason']);
  const limited = registry.getSingleMetric('berth_rate_limited_total') as Counter<string> | undefined;
  const output = counter(registry, 'berth_policy_output_actions_total', 'Output pipeline actions (redacted, flagged, truncated, schema_error).', ['action']);
  return {
    finding: (rule, tool) => findings.inc({ [ruleLabel]: rule, tool }),
    refusal: (reason) => refusals.inc({ reason }),
    rateLimited: (scope) => limited?.inc({ scope }),
    output: (action) => output.inc({ action }),
  };
}
