/**
 * The default-deny NetworkPolicy of one McpServer and its explicit allows:
 * DNS, Redis, peer replicas (owner forwarding), the operator (audit reads),
 * the tenant's ingressFrom/egressTo, the upstream port of a remote source,
 * the trace collector when tracing is on, and the package registry when an
 * init container installs a package.
 */
import type { McpServerSpec } from '../../../runtime/src/config/spec.ts';
import type { OperatorConfig } from '../config.ts';
import { HTTP_PORT, selectorLabels } from './names.ts';
import { sourcePackage } from './references.ts';

type Rule = Record<string, unknown>;

/** Port of an http(s) URL, explicit or by scheme. */
export function urlPort(url: string): number {
  const u = new URL(url);
  if (u.port) return Number(u.port);
  return u.protocol === 'https:' || u.protocol === 'rediss:' ? 443 : u.protocol === 'http:' ? 80 : 6379;
}

export interface NetworkPolicyInput {
  name: string;
  spec: McpServerSpec;
  config: OperatorConfig;
  /** Port of the operator-managed Redis, when there is one. */
  redisPort?: number | undefined;
}

/** The NetworkPolicy spec (podSelector, policyTypes, ingress, egress). */
export function networkPolicySpec({ name, spec, config, redisPort }: NetworkPolicyInput): Record<string, unknown> {
  const np = config.networkPolicy;
  const http = [{ protocol: 'TCP', port: HTTP_PORT }];
  const peers = { podSelector: { matchLabels: selectorLabels(name) } };

  const ingressFrom = [peers, ...(np.operatorPeer ? [np.operatorPeer] : []), ...np.ingressFrom, ...spec.networkPolicy.ingressFrom];
  const ingress: Rule[] = [{ from: ingressFrom, ports: http }];

  const egress: Rule[] = [
    {
      to: np.dnsPeers,
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
    { to: [peers], ports: http },
  ];
  if (redisPort !== undefined) {
    const rule: Rule = { ports: [{ protocol: 'TCP', port: redisPort }] };
    if (config.redis.networkPolicyPeers.length) rule.to = config.redis.networkPolicyPeers;
    egress.push(rule);
  }
  if (spec.source.remote) egress.push({ ports: [{ protocol: 'TCP', port: urlPort(spec.source.remote.url) }] });
  if (config.tracing.otlpEndpoint) {
    const rule: Rule = { ports: [{ protocol: 'TCP', port: urlPort(config.tracing.otlpEndpoint) }] };
    if (config.tracing.networkPolicyPeers.length) rule.to = config.tracing.networkPolicyPeers;
    egress.push(rule);
  }
  if (sourcePackage(spec)) egress.push(...np.packageEgress);
  egress.push(...np.egressTo, ...spec.networkPolicy.egressTo);

  return {
    podSelector: { matchLabels: selectorLabels(name) },
    policyTypes: ['Ingress', 'Egress'],
    ingress,
    egress,
  };
}
