/**
 * `berth run -f` / `berth validate -f`: reads an McpServer manifest (the CRD
 * YAML), validates it with the McpServer schema, and turns it into the
 * runtime config document a local process serves. Every problem becomes a
 * ConfigError naming the field (the CLI exits 2).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from './errors.ts';
import { RUNTIME_CONFIG_API_VERSION, RUNTIME_CONFIG_KIND, formatIssues, parseRuntimeConfig, type RuntimeConfig, type RuntimeConfigInput } from './runtime-config.ts';
import { McpServerManifest } from './spec.ts';

/** Reads a manifest file: a YAML (or JSON) stream holding exactly one McpServer. */
export function readManifestFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [`(file): cannot read: ${(error as Error).message}`]);
  }
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const parsed: unknown[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      throw new ConfigError(path, doc.errors.map((e) => `(file): not valid YAML: ${e.message.split('\n')[0]}`));
    }
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) parsed.push(value);
  }
  if (parsed.length === 0) throw new ConfigError(path, ['(root): the file holds no document; expected an McpServer']);
  if (parsed.length === 1) return parsed[0];
  const servers = parsed.filter((d) => typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'McpServer');
  if (servers.length !== 1) throw new ConfigError(path, [`(root): expected exactly one McpServer document, found ${servers.length} among ${parsed.length} documents`]);
  return servers[0];
}

/** Validates a parsed manifest; issues name the field (`spec.source: exactly one of ...`). */
export function parseManifest(doc: unknown, source = 'manifest'): McpServerManifest {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(source, ['(root): expected an McpServer object']);
  const result = McpServerManifest.safeParse(doc);
  if (!result.success) throw new ConfigError(source, formatIssues(result.error));
  return result.data;
}

/** Reads and validates a manifest file. */
export function loadManifest(path: string): McpServerManifest {
  return parseManifest(readManifestFile(path), path);
}

export interface LocalRunOptions {
  /** Folder the manifest lives in: relative paths resolve against it. */
  manifestDir: string;
  /** `--host`; else HOST; else 127.0.0.1 (a local run stays on loopback unless asked). */
  host?: string;
  /** `--port`; else PORT; else 8080. */
  port?: number;
  /** `--redis`; else BERTH_REDIS_URL; else in-memory stores. */
  redisUrl?: string;
  /** `--secrets-dir`; else `<manifest dir>/secrets` (files `<name>/<key>`). */
  secretsDir?: string;
  /** `--configmaps-dir`; else `<manifest dir>/configmaps`. */
  configMapsDir?: string;
  /** `--packages-dir`; else `<manifest dir>/.berth/packages`. */
  packagesDir?: string;
  /** `--log-level`; else BERTH_LOG_LEVEL; else info. */
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
}

/** Parses a `--port` / PORT value; a ConfigError names `field` when it is not a port. */
export function parsePort(value: string, field: string): number {
  const port = /^\d{1,5}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(field, [`${field}: expected a port number 0-65535, got "${value}"`]);
  return port;
}

/** The runtime config for serving `manifest` locally (flags beat env, env beats defaults). */
export function manifestToRuntimeConfig(manifest: McpServerManifest, opts: LocalRunOptions): RuntimeConfig {
  const env = opts.env ?? process.env;
  const base = resolve(opts.manifestDir);
  const port = opts.port ?? (env.PORT !== undefined && env.PORT !== '' ? parsePort(env.PORT, 'PORT') : 8080);
  const redisUrl = opts.redisUrl ?? (env.BERTH_REDIS_URL || undefined);
  const logLevel = opts.logLevel ?? (env.BERTH_LOG_LEVEL || undefined);
  const runtime: NonNullable<RuntimeConfigInput['runtime']> = {
    listen: { host: opts.host ?? (env.HOST || '127.0.0.1'), port },
    baseDir: base,
    secretsDir: resolve(opts.secretsDir ?? join(base, 'secrets')),
    configMapsDir: resolve(opts.configMapsDir ?? join(base, 'configmaps')),
    packagesDir: resolve(opts.packagesDir ?? join(base, '.berth', 'packages')),
  };
  if (redisUrl) runtime.redis = { url: redisUrl };
  if (logLevel) runtime.logLevel = logLevel as NonNullable<typeof runtime.logLevel>;
  const doc: RuntimeConfigInput = {
    apiVersion: RUNTIME_CONFIG_API_VERSION,
    kind: RUNTIME_CONFIG_KIND,
    tenant: { namespace: manifest.metadata.namespace, name: manifest.metadata.name },
    spec: manifest.spec,
    runtime,
  };
  return parseRuntimeConfig(doc, 'command line / environment');
}

/** Reads, validates and converts a manifest file for a local run. */
export function loadLocalRuntimeConfig(path: string, opts: Omit<LocalRunOptions, 'manifestDir'> & { manifestDir?: string }): RuntimeConfig {
  const manifest = loadManifest(path);
  return manifestToRuntimeConfig(manifest, { ...opts, manifestDir: opts.manifestDir ?? dirname(resolve(path)) });
}
