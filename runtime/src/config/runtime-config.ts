/**
 * The runtime config document: what one runtime process serves. The operator
 * renders it into a ConfigMap (secrets stay references, resolved from files
 * under `secretsDir`); `berth run -f` builds it from a manifest.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { McpServerSpec } from './spec.ts';

export const RUNTIME_CONFIG_API_VERSION = 'berth.dev/v1alpha1';
export const RUNTIME_CONFIG_KIND = 'RuntimeConfig';

export const RuntimeSettings = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8080 }),
    /** Referenced Secrets are mounted here as `<secret>/<key>` files. */
    secretsDir: z.string().default('/var/run/berth/secrets'),
    /** Referenced ConfigMaps are mounted here as `<configmap>/<key>` files. */
    configMapsDir: z.string().default('/var/run/berth/configmaps'),
    /** npm packages named by `source.*.package` are installed under here. */
    packagesDir: z.string().default('/var/lib/berth/packages'),
    /** Directory that manifest-relative paths resolve against. */
    baseDir: z.string().default('.'),
    redis: z
      .object({
        /** Literal URL (no credentials in a ConfigMap: prefer urlFile/urlEnv). */
        url: z.string().optional(),
        /** Environment variable holding the URL. */
        urlEnv: z.string().optional(),
        /** File holding the URL (a mounted Secret key). */
        urlFile: z.string().optional(),
        /** Every key and channel of this McpServer starts with this prefix. */
        keyPrefix: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Shared secret (file) authenticating owner-forwarded requests between replicas. */
    internalTokenFile: z.string().optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const RuntimeConfig = z
  .object({
    apiVersion: z.literal(RUNTIME_CONFIG_API_VERSION),
    kind: z.literal(RUNTIME_CONFIG_KIND),
    tenant: z
      .object({
        namespace: z.string().min(1),
        name: z.string().min(1),
      })
      .strict(),
    spec: McpServerSpec,
    runtime: RuntimeSettings.default(RuntimeSettings.parse({})),
  })
  .strict();

export type RuntimeConfig = z.infer<typeof RuntimeConfig>;
export type RuntimeConfigInput = z.input<typeof RuntimeConfig>;
export type RuntimeSettings = z.infer<typeof RuntimeSettings>;

/** Formats zod issues as `field.path: what was expected`, one per issue. */
export function formatIssues(error: z.ZodError, prefix: readonly (string | number)[] = []): string[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.') || '(root)';
    return `${path}: ${issue.message}`;
  });
}

/** Validates a parsed config document, throwing ConfigError naming each bad field. */
export function parseRuntimeConfig(doc: unknown, source = 'config'): RuntimeConfig {
  const result = RuntimeConfig.safeParse(doc);
  if (!result.success) throw new ConfigError(source, formatIssues(result.error));
  return result.data;
}

/** Environment overrides applied on top of the document (PORT, HOST, BERTH_REDIS_URL, BERTH_LOG_LEVEL). */
export function applyEnv(doc: RuntimeConfigInput, env: NodeJS.ProcessEnv): RuntimeConfigInput {
  const runtime = { ...(doc.runtime ?? {}) } as NonNullable<RuntimeConfigInput['runtime']>;
  const listen = { ...(runtime.listen ?? {}) };
  if (env.PORT !== undefined) listen.port = Number(env.PORT);
  if (env.HOST !== undefined) listen.host = env.HOST;
  runtime.listen = listen;
  if (env.BERTH_REDIS_URL) runtime.redis = { ...(runtime.redis ?? {}), url: env.BERTH_REDIS_URL };
  if (env.BERTH_LOG_LEVEL) runtime.logLevel = env.BERTH_LOG_LEVEL as RuntimeSettings['logLevel'];
  return { ...doc, runtime };
}

/** Loads the config file named by `path` (JSON or YAML), applies env, validates. */
export async function loadRuntimeConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`(file): cannot read: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    const { parse } = await import('yaml');
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(path, [`(file): not valid JSON or YAML: ${(err as Error).message}`]);
  }
  if (doc === null || typeof doc !== 'object') throw new ConfigError(path, ['(root): expected an object']);
  return parseRuntimeConfig(applyEnv(doc as RuntimeConfigInput, env), path);
}
