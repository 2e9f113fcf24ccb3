/** Policy metrics, registered on the Registry the HTTP layer serves at /metrics. */
import { Counter, type Registry } from 'prom-client';

export interface PolicyMetrics {
  finding(rule: string, tool: string): void;
  refusal(reason: string): void;
  output(action: string): void;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Creates the counters (or reuses them when another instance already registered them); no-ops without a registry. */
export function policyMetrics(registry: Registry | undefined): PolicyMetrics {
  if (!registry) return { finding: () => {}, refusal: () => {}, output: () => {} };
  const findings = counter(registry, 'berth_audit_findings_total', 'Tool audit findings, counted once per distinct finding.', ['rule', 'tool']);
  const refusals = counter(registry, 'berth_policy_refusals_total', 'Tool calls refused by policy, by reason.', ['reason']);
  const output = counter(registry, 'berth_policy_output_actions_total', 'Output pipeline actions (redacted, flagged, truncated, schema_error).', ['action']);
  return {
    finding: (rule, tool) => findings.inc({ rule, tool }),
    refusal: (reason) => refusals.inc({ reason }),
    output: (action) => output.inc({ action }),
  };
}
