/**
 * The McpServer CustomResourceDefinition, generated from the zod schemas:
 * OpenAPI (structural), CEL rules mirroring the schema's cross-field checks,
 * printer columns, and the status and scale subresources.
 */
import { McpServerSpec } from '../../../../runtime/src/config/spec.ts';
import { CATEGORIES, CRD_NAME, GROUP, KIND, LIST_KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './names.ts';
import { McpServerStatus } from './status.ts';
import { nodeAt, toStructural, walk, zodToJsonSchema, type SchemaProps, type ValidationRule } from './structural.ts';

/**
 * Descriptions for nodes the zod schema leaves undocumented, so that
 * `kubectl explain` helps on every field. Keyed by dotted path under spec.
 */
export const EXTRA_DESCRIPTIONS: Readonly<Record<string, string>> = {
  'spec': 'Desired state of an MCP server hosted by the shared Berth runtime.',
  'spec.source.module.configMapRef.key': 'Key inside the ConfigMap.',
  'spec.source.module.configMapRef.optional': 'Tolerate a missing ConfigMap or key.',
  'spec.source.stdio.env[].valueFrom.configMapKeyRef.key': 'Key inside the ConfigMap.',
  'spec.source.stdio.env[].valueFrom.configMapKeyRef.optional': 'Tolerate a missing ConfigMap or key.',
  'spec.source.remote.headers[].value': 'Literal header value.',
  'spec.source.remote.headers[].valueFrom.configMapKeyRef.key': 'Key inside the ConfigMap.',
  'spec.source.remote.headers[].valueFrom.configMapKeyRef.optional': 'Tolerate a missing ConfigMap or key.',
  'spec.endpoint': 'How clients reach the server: path, canonical public URL, allowed origins and hosts, body limit.',
  'spec.auth.oauth.introspection.url': 'RFC 7662 introspection endpoint.',
  'spec.auth.oauth.introspection.clientId': 'Client id the runtime authenticates to the introspection endpoint with.',
  'spec.auth.oauth.introspection.clientSecretRef': 'Secret key holding the introspection client secret.',
  'spec.auth.oauth.introspection.clientSecretRef.name': 'Name of the Secret.',
  'spec.auth.oauth.introspection.clientSecretRef.key': 'Key inside the Secret.',
  'spec.auth.oauth.clockSkewSeconds': 'Tolerated clock difference when checking exp/nbf/iat.',
  'spec.auth.apiKeys.secretRef': 'The Secret holding the API keys.',
  'spec.auth.apiKeys.secretRef.name': 'Name of the Secret.',
  'spec.rateLimits': 'Token buckets enforced atomically in Redis: global, per principal, per session and per tool.',
  'spec.rateLimits.global': 'One bucket shared by every request to this McpServer.',
  'spec.rateLimits.perPrincipal': 'One bucket per authenticated principal.',
  'spec.rateLimits.perSession': 'One bucket per legacy session.',
  'spec.rateLimits.tools': 'Buckets per tool name; an exhausted bucket yields an isError tool result with a retry hint.',
  'spec.tools': 'Tool policy: allow/deny globs, overrides, description audit and pinning.',
  'spec.tools.overrides': 'Per tool name: replacement description, title or annotations.',
  'spec.tools.overrides.*': 'Replacement metadata for one tool.',
  'spec.tools.overrides.*.description': 'Description shown to agents instead of the server’s own.',
  'spec.tools.overrides.*.title': 'Title shown to agents instead of the server’s own.',
  'spec.tools.overrides.*.annotations': 'Tool annotations (readOnlyHint, destructiveHint, idempotentHint, ...) that replace the server’s own.',
  'spec.tools.audit': 'Audit of tool definitions for poisoning and drift.',
  'spec.tools.audit.maxDescriptionWords': 'Descriptions longer than this are a finding.',
  'spec.tools.audit.onFinding': 'block: hide tools with findings; warn: list them and report.',
  'spec.tools.audit.pin': 'Pin a digest of each whole tool; a later change is a finding (rug-pull detection).',
  'spec.output': 'Tool output policy: size budget, sanitization, spotlighting, secret redaction.',
  'spec.output.maxBytes': 'Largest tool result passed to the client; larger results are paginated or truncated.',
  'spec.output.sanitize': 'strip: remove invisible characters and injection patterns; flag: keep and mark; off: pass through.',
  'spec.output.spotlight': 'Wrap untrusted tool output in delimiters that tell the model it is data.',
  'spec.output.redactSecrets': 'Redact strings that look like credentials from tool output.',
  'spec.session': 'Legacy (2025-era) sessions: idle timeout, cap, and resumability.',
  'spec.session.idleTimeoutSeconds': 'A session unused for this long expires.',
  'spec.session.maxSessions': 'Most concurrent sessions; new sessions beyond this get 503.',
  'spec.session.resumability': 'Event log kept for Last-Event-ID replay.',
  'spec.session.resumability.maxEvents': 'Events kept per stream.',
  'spec.session.resumability.retentionSeconds': 'How long events are kept.',
  'spec.timeouts': 'Timeouts on requests, tool calls, streams and idle connections.',
  'spec.drain': 'Graceful shutdown of a replica.',
  'spec.drain.gracePeriodSeconds': 'In-flight requests get this long after SIGTERM; terminationGracePeriodSeconds leaves room beyond it.',
  'spec.networkPolicy': 'Extra allows on top of the default-deny NetworkPolicy (DNS, Redis and peer replicas are always allowed).',
  'spec.redis.secretRef': 'A Secret in the namespace with key "url"; no ACL user is managed for it.',
  'spec.redis.secretRef.name': 'Name of the Secret.',
  'spec.rateLimits.global.requestsPerSecond': 'Steady rate in requests per second.',
  'spec.rateLimits.global.requestsPerMinute': 'Steady rate in requests per minute.',
  'spec.rateLimits.perPrincipal.requestsPerSecond': 'Steady rate in requests per second.',
  'spec.rateLimits.perPrincipal.requestsPerMinute': 'Steady rate in requests per minute.',
  'spec.rateLimits.perSession.requestsPerSecond': 'Steady rate in requests per second.',
  'spec.rateLimits.perSession.requestsPerMinute': 'Steady rate in requests per minute.',
  'spec.rateLimits.tools.*.requestsPerSecond': 'Steady rate in requests per second.',
  'spec.rateLimits.tools.*.requestsPerMinute': 'Steady rate in requests per minute.',
};

const exactlyOne = (fields: readonly string[]): string => `[${fields.map((f) => `has(self.${f})`).join(', ')}].exists_one(x, x)`;

const RATE_LIMIT_RULE: ValidationRule = {
  rule: 'has(self.requestsPerSecond) != has(self.requestsPerMinute)',
  message: 'exactly one of requestsPerSecond, requestsPerMinute must be set',
};

/**
 * CEL rules by dotted path under the root. Each mirrors a check of the zod
 * schema's superRefine (or a constraint zod expresses that JSON Schema can't),
 * so the apiserver rejects what `berth run -f` rejects.
 */
export const VALIDATIONS: Readonly<Record<string, readonly ValidationRule[]>> = {
  '': [
    {
      rule: "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
      message: 'metadata.name must be a DNS-1035 label (lowercase letters, digits and "-", starting with a letter, at most 63 characters): it names the Service',
    },
  ],
  'spec': [
    {
      rule: "!has(self.auth.oauth) || (has(self.auth.oauth.audience) && self.auth.oauth.audience != '') || (has(self.endpoint) && has(self.endpoint.publicUrl))",
      message: 'auth.oauth.audience is required when endpoint.publicUrl is not set',
      fieldPath: '.auth.oauth.audience',
      reason: 'FieldValueRequired',
    },
  ],
  'spec.source': [{ rule: exactlyOne(['module', 'stdio', 'remote']), message: 'exactly one of module, stdio, remote must be set' }],
  'spec.source.module': [{ rule: exactlyOne(['package', 'configMapRef', 'path']), message: 'exactly one of package, configMapRef, path must be set' }],
  'spec.source.stdio.instances': [
    { rule: '!has(self.min) || !has(self.max) || self.min <= self.max', message: 'min must be less than or equal to max', fieldPath: '.min' },
  ],
  'spec.source.remote': [{ rule: "self.url.matches('^https?://')", message: 'url must be an http or https URL', fieldPath: '.url' }],
  'spec.auth': [{ rule: exactlyOne(['oauth', 'apiKeys', 'none']), message: 'exactly one of oauth, apiKeys, none must be set' }],
  'spec.rateLimits.global': [RATE_LIMIT_RULE],
  'spec.rateLimits.perPrincipal': [RATE_LIMIT_RULE],
  'spec.rateLimits.perSession': [RATE_LIMIT_RULE],
  'spec.rateLimits.tools.*': [RATE_LIMIT_RULE],
};

export const PRINTER_COLUMNS = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether every desired replica runs the current spec and is ready.' },
  { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Pods of the current Deployment.' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1, description: 'Why the server is or is not ready.' },
  { name: 'URL', type: 'string', jsonPath: '.status.url', priority: 1, description: 'In-cluster URL of the MCP endpoint.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
] as const;

/** The openAPIV3Schema of McpServer. */
export function openApiSchema(): SchemaProps {
  const spec = toStructural(zodToJsonSchema(McpServerSpec), 'spec');
  const status = toStructural(zodToJsonSchema(McpServerStatus), 'status');
  const conditions = nodeAt(status, 'conditions');
  conditions['x-kubernetes-list-type'] = 'map';
  conditions['x-kubernetes-list-map-keys'] = ['type'];

  const root: SchemaProps = {
    type: 'object',
    description: 'An MCP server hosted by Berth: the operator runs it on the shared runtime image with auth, rate limits and tool policy.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { type: 'object' },
      spec,
      status,
    },
  };
  for (const [path, description] of Object.entries(EXTRA_DESCRIPTIONS)) {
    const node = nodeAt(root, path);
    if (!node.description) node.description = description;
  }
  for (const [path, rules] of Object.entries(VALIDATIONS)) {
    const node = path === '' ? root : nodeAt(root, path);
    node['x-kubernetes-validations'] = [...rules];
  }
  return root;
}

/** Paths of schema nodes still without a description (kept empty by a test). */
export function undocumentedPaths(schema: SchemaProps = openApiSchema()): string[] {
  const missing: string[] = [];
  walk(nodeAt(schema, 'spec'), (node, path) => {
    // Elements of lists and maps are described by their parent unless they are structured.
    const element = path.endsWith('[]') || path.endsWith('*');
    if (element && !node.properties) return;
    if (!node.description) missing.push(path ? `spec.${path}` : 'spec');
  });
  return missing;
}

/** The CustomResourceDefinition object. */
export function customResourceDefinition(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openApiSchema() },
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
        },
      ],
    },
  };
}
