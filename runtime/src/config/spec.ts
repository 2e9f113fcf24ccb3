/**
 * The McpServer v1alpha1 spec: the one source of truth for the CRD's OpenAPI
 * schema, the CRD reference docs, `berth run -f` validation and the runtime
 * config document. Field names are the public contract (see docs/crd-reference.md).
 */
import { z } from 'zod';

const name = z.string().min(1).max(253).describe('Name of a Kubernetes object in the same namespace.');

/** A `secretKeyRef` as in core/v1 EnvVarSource. */
export const SecretKeyRef = z
  .object({
    name,
    key: z.string().min(1).describe('Key inside the Secret.'),
    optional: z.boolean().optional().describe('Tolerate a missing Secret or key.'),
  })
  .strict()
  .describe('Selects a key of a Secret in the McpServer namespace.');

export const ConfigMapKeyRef = z
  .object({ name, key: z.string().min(1), optional: z.boolean().optional() })
  .strict()
  .describe('Selects a key of a ConfigMap in the McpServer namespace.');

const ValueFrom = z
  .object({
    secretKeyRef: SecretKeyRef.optional(),
    configMapKeyRef: ConfigMapKeyRef.optional(),
  })
  .strict()
  .describe('Source of a value: a Secret key or a ConfigMap key.');

/** core/v1 EnvVar (value or valueFrom). */
export const EnvVar = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name')
      .describe('Environment variable name.'),
    value: z.string().optional().describe('Literal value.'),
    valueFrom: ValueFrom.optional(),
  })
  .strict()
  .describe('An environment variable for a stdio child: a literal value or a reference.');

export const HeaderVar = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a valid HTTP header name')
      .describe('HTTP header name sent to the upstream.'),
    value: z.string().optional(),
    valueFrom: ValueFrom.optional(),
  })
  .strict()
  .describe('A header injected into every upstream request: a literal value or a Secret reference.');

const npmPackage = z
  .string()
  .min(1)
  .max(214)
  .regex(/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(@[\w.^~<>=*|+-]+)?$/i, 'must be an npm package spec like "@scope/name@1.2.3"');

export const ModuleSource = z
  .object({
    package: npmPackage.optional().describe('npm package (pinned spec) whose entry point exports the server factory.'),
    configMapRef: ConfigMapKeyRef.optional().describe('A ConfigMap key holding the module source (mounted as a file).'),
    path: z.string().min(1).optional().describe('Absolute or manifest-relative path of the module file.'),
    export: z.string().min(1).default('default').describe('Name of the export that is the MCP server factory.'),
  })
  .strict()
  .describe('An ES module run in-process; its export is a factory returning an McpServer.');

export const StdioInstances = z
  .object({
    mode: z
      .enum(['shared', 'perSession'])
      .default('shared')
      .describe('shared: a warm pool serves all clients; perSession: one child per legacy session.'),
    min: z.number().int().min(0).max(64).default(1).describe('Children kept warm.'),
    max: z.number().int().min(1).max(256).default(4).describe('Upper bound on children.'),
  })
  .strict()
  .describe('How stdio children are pooled.');

export const StdioSource = z
  .object({
    command: z.array(z.string().min(1)).min(1).describe('Executable and leading arguments.'),
    args: z.array(z.string()).default([]).describe('Extra arguments.'),
    package: npmPackage.optional().describe('npm package that provides the command, installed once per tenant.'),
    env: z.array(EnvVar).default([]).describe('Environment of the children; nothing else is inherited but PATH and HOME.'),
    instances: StdioInstances.default({ mode: 'shared', min: 1, max: 4 }),
    handshakeTimeoutSeconds: z.number().int().min(1).max(300).default(30).describe('A child that has not answered initialize by then is killed.'),
  })
  .strict()
  .describe('A command speaking MCP over stdio, run as child processes.');

export const RemoteSource = z
  .object({
    url: z.url({ protocol: /^https?$/ }).describe('Upstream Streamable HTTP endpoint.'),
    headers: z.array(HeaderVar).default([]).describe('Headers injected into upstream requests.'),
    timeoutSeconds: z.number().int().min(1).max(3600).default(30).describe('Per-request upstream timeout.'),
  })
  .strict()
  .describe('An upstream Streamable HTTP MCP server of either protocol era.');

export const Source = z
  .object({
    module: ModuleSource.optional(),
    stdio: StdioSource.optional(),
    remote: RemoteSource.optional(),
  })
  .strict()
  .describe('Where the MCP server comes from: exactly one of module, stdio, remote.');

export const Endpoint = z
  .object({
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~\/-]*$/, 'must be an absolute URL path')
      .default('/mcp')
      .describe('HTTP path of the MCP endpoint.'),
    publicUrl: z.url().optional().describe('Canonical URI of the endpoint as clients see it; the OAuth audience.'),
    allowedOrigins: z.array(z.string().min(1)).default([]).describe('Origins allowed to call the endpoint (exact match, or "*").'),
    allowedHosts: z.array(z.string().min(1)).default([]).describe('Host header values accepted; empty accepts any Host when the server binds a non-loopback address.'),
    maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024).describe('Largest accepted request body.'),
  })
  .strict()
  .default({ path: '/mcp', allowedOrigins: [], allowedHosts: [], maxBodyBytes: 1024 * 1024 });

export const OAuth = z
  .object({
    issuer: z.url().describe('Exact expected `iss`.'),
    audience: z.string().default('').describe('Expected `aud`; defaults to endpoint.publicUrl.'),
    jwksUri: z.string().default('').describe('JWKS location; discovered from the issuer when empty.'),
    introspection: z
      .object({
        url: z.string().default(''),
        clientId: z.string().default(''),
        clientSecretRef: z.object({ name: z.string().default(''), key: z.string().default('') }).strict().optional(),
      })
      .strict()
      .optional()
      .describe('RFC 7662 introspection for opaque tokens.'),
    requiredScopes: z.array(z.string().min(1)).default([]).describe('Scopes every request needs.'),
    toolScopes: z.record(z.string(), z.array(z.string().min(1))).default({}).describe('Extra scopes per tool name.'),
    algorithms: z.array(z.string()).default(['RS256', 'ES256', 'PS256', 'EdDSA']).describe('Accepted JWS algorithms.'),
    clockSkewSeconds: z.number().int().min(0).max(60).default(60),
  })
  .strict()
  .describe('OAuth 2.1 resource server: JWT via JWKS, or introspection.');

export const Auth = z
  .object({
    oauth: OAuth.optional(),
    apiKeys: z
      .object({ secretRef: z.object({ name }).strict() })
      .strict()
      .optional()
      .describe('API keys: each key of the Secret is a principal name, its value the key.'),
    none: z.object({}).strict().optional().describe('Explicit opt-out of authentication; reported as a warning condition.'),
  })
  .strict()
  .describe('Exactly one of oauth, apiKeys, none.');

export const RateLimit = z
  .object({
    requestsPerSecond: z.number().positive().max(1e6).optional(),
    requestsPerMinute: z.number().positive().max(6e7).optional(),
    burst: z.number().int().min(0).max(1e6).default(0).describe('Requests admitted beyond the steady rate.'),
  })
  .strict()
  .describe('A token bucket: one of requestsPerSecond | requestsPerMinute, plus burst.');

export const RateLimits = z
  .object({
    global: RateLimit.optional(),
    perPrincipal: RateLimit.optional(),
    perSession: RateLimit.optional(),
    tools: z.record(z.string(), RateLimit).default({}),
  })
  .strict()
  .default({ tools: {} });

export const ToolOverride = z
  .object({
    description: z.string().optional(),
    title: z.string().optional(),
    annotations: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const Tools = z
  .object({
    allow: z.array(z.string().min(1)).default([]).describe('Tool name globs; empty allows all.'),
    deny: z.array(z.string().min(1)).default([]).describe('Tool name globs hidden and refused.'),
    overrides: z.record(z.string(), ToolOverride).default({}),
    audit: z
      .object({
        maxDescriptionWords: z.number().int().min(1).max(10000).default(50),
        onFinding: z.enum(['block', 'warn']).default('block'),
        pin: z.boolean().default(true),
      })
      .strict()
      .default({ maxDescriptionWords: 50, onFinding: 'block', pin: true }),
    requireExplicitDestructive: z.boolean().default(false).describe('Tools with destructiveHint need an explicit allow or a toolScopes entry.'),
  })
  .strict()
  .default({ allow: [], deny: [], overrides: {}, audit: { maxDescriptionWords: 50, onFinding: 'block', pin: true }, requireExplicitDestructive: false });

export const Output = z
  .object({
    maxBytes: z.number().int().min(256).max(16 * 1024 * 1024).default(65536),
    sanitize: z.enum(['strip', 'flag', 'off']).default('strip'),
    spotlight: z.boolean().default(false),
    redactSecrets: z.boolean().default(true),
  })
  .strict()
  .default({ maxBytes: 65536, sanitize: 'strip', spotlight: false, redactSecrets: true });

export const Session = z
  .object({
    idleTimeoutSeconds: z.number().int().min(10).max(7 * 86400).default(1800),
    maxSessions: z.number().int().min(1).max(10_000_000).default(10000),
    resumability: z
      .object({
        maxEvents: z.number().int().min(0).max(1_000_000).default(1000),
        retentionSeconds: z.number().int().min(0).max(86400).default(600),
      })
      .strict()
      .default({ maxEvents: 1000, retentionSeconds: 600 }),
  })
  .strict()
  .default({ idleTimeoutSeconds: 1800, maxSessions: 10000, resumability: { maxEvents: 1000, retentionSeconds: 600 } });

export const Timeouts = z
  .object({
    requestSeconds: z.number().int().min(1).max(3600).default(30).describe('Reading a request (headers and body).'),
    toolCallSeconds: z.number().int().min(1).max(3600).default(60).describe('A tool call that has not finished by then gets an isError result.'),
    streamSeconds: z.number().int().min(1).max(86400).default(3600).describe('Longest life of one SSE stream; clients resume afterwards.'),
    keepAliveSeconds: z.number().int().min(1).max(3600).default(65).describe('Idle keep-alive connections are closed after this.'),
  })
  .strict()
  .default({ requestSeconds: 30, toolCallSeconds: 60, streamSeconds: 3600, keepAliveSeconds: 65 });

export const Drain = z
  .object({ gracePeriodSeconds: z.number().min(0).max(300).default(2) })
  .strict()
  .default({ gracePeriodSeconds: 2 });

export const NetworkPolicySpec = z
  .object({
    ingressFrom: z.array(z.record(z.string(), z.unknown())).default([]).describe('NetworkPolicyPeer entries allowed to reach the endpoint.'),
    egressTo: z.array(z.record(z.string(), z.unknown())).default([]).describe('NetworkPolicyEgressRule entries (to + ports) the pods may reach.'),
  })
  .strict()
  .default({ ingressFrom: [], egressTo: [] });

/** The whole McpServer spec. */
export const McpServerSpec = z
  .object({
    source: Source,
    replicas: z.number().int().min(0).max(1000).optional().describe('Desired replicas; omit to let an HPA own them.'),
    endpoint: Endpoint,
    auth: Auth,
    rateLimits: RateLimits,
    tools: Tools,
    output: Output,
    session: Session,
    timeouts: Timeouts,
    drain: Drain,
    resources: z.record(z.string(), z.unknown()).default({}).describe('Runtime container resources (requests/limits).'),
    podTemplate: z.record(z.string(), z.unknown()).default({}).describe('Pod metadata and scheduling fields merged into the pod template.'),
    networkPolicy: NetworkPolicySpec,
    redis: z
      .object({ secretRef: z.object({ name: z.string().default('') }).strict().default({ name: '' }) })
      .strict()
      .optional()
      .describe('Override of the operator-wide Redis: a Secret with key "url".'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const sources = (['module', 'stdio', 'remote'] as const).filter((k) => spec.source[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: `exactly one of module, stdio, remote is required (got ${sources.length ? sources.join(', ') : 'none'})` });
    }
    const mod = spec.source.module;
    if (mod) {
      const forms = (['package', 'configMapRef', 'path'] as const).filter((k) => mod[k] !== undefined);
      if (forms.length !== 1) {
        ctx.addIssue({ code: 'custom', path: ['source', 'module'], message: 'exactly one of package, configMapRef, path is required' });
      }
    }
    const st = spec.source.stdio;
    if (st && st.instances.min > st.instances.max) {
      ctx.addIssue({ code: 'custom', path: ['source', 'stdio', 'instances', 'min'], message: 'must be <= max' });
    }
    const modes = (['oauth', 'apiKeys', 'none'] as const).filter((k) => spec.auth[k] !== undefined);
    if (modes.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: `exactly one of oauth, apiKeys, none is required (got ${modes.length ? modes.join(', ') : 'none'})` });
    }
    const limits: Array<[string[], z.infer<typeof RateLimit> | undefined]> = [
      [['rateLimits', 'global'], spec.rateLimits.global],
      [['rateLimits', 'perPrincipal'], spec.rateLimits.perPrincipal],
      [['rateLimits', 'perSession'], spec.rateLimits.perSession],
      ...Object.entries(spec.rateLimits.tools).map(([k, v]): [string[], z.infer<typeof RateLimit>] => [['rateLimits', 'tools', k], v]),
    ];
    for (const [path, rl] of limits) {
      if (rl && (rl.requestsPerSecond === undefined) === (rl.requestsPerMinute === undefined)) {
        ctx.addIssue({ code: 'custom', path, message: 'exactly one of requestsPerSecond, requestsPerMinute is required' });
      }
    }
    if (spec.auth.oauth && !spec.auth.oauth.audience && !spec.endpoint.publicUrl) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'oauth', 'audience'], message: 'required when endpoint.publicUrl is not set' });
    }
  });

export type McpServerSpec = z.infer<typeof McpServerSpec>;
export type McpServerSpecInput = z.input<typeof McpServerSpec>;
export type RateLimitSpec = z.infer<typeof RateLimit>;
export type EnvVarSpec = z.infer<typeof EnvVar>;
export type HeaderVarSpec = z.infer<typeof HeaderVar>;

/** The McpServer manifest as applied with kubectl or `berth run -f`. */
export const McpServerManifest = z
  .object({
    apiVersion: z.literal('berth.dev/v1alpha1'),
    kind: z.literal('McpServer'),
    metadata: z
      .object({
        name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label').max(63),
        namespace: z.string().default('default'),
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .loose(),
    spec: McpServerSpec,
  })
  .loose();

export type McpServerManifest = z.infer<typeof McpServerManifest>;
