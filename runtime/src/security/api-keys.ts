/**
 * API keys from a mounted Secret directory: each file is one principal (file
 * name) and its key (content). Only SHA-256 digests stay in memory and are
 * compared in constant time. The directory is re-read on change and on a
 * timer, so a rotated Secret takes effect without a restart.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Principal } from '../backend/types.ts';
import type { AuthOutcome, AuthRequest, Authenticator } from './types.ts';
import { bearerToken } from './oauth/challenge.ts';

const NAME = /^[A-Za-z0-9._-]+$/;

export interface ApiKeyOptions {
  /** `${secretsDir}/<secretRef.name>` */
  dir: string;
  logger: Logger;
  /** Re-read interval in addition to file-system events (default 5 s). */
  pollMs?: number;
}

interface Entry {
  principal: Principal;
  digest: Buffer;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Reads `dir` into principal entries. Kubernetes' `..data` links and other dot-files are skipped. */
export async function readKeyDir(dir: string, logger?: Logger): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const file = join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (!NAME.test(name)) {
      logger?.warn({ name }, 'Skipped API key file with an invalid principal name');
      continue;
    }
    const key = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    if (!key) {
      logger?.warn({ principal: name }, 'Skipped empty API key');
      continue;
    }
    if (key.length < 16) logger?.warn({ principal: name }, 'API key is shorter than 16 characters');
    out.push({ principal: Object.freeze({ id: `apikey:${name}`, kind: 'apiKey', scopes: Object.freeze([]) as readonly string[] }), digest: sha256(key) });
  }
  return out;
}

/** Finds the entry whose digest equals the presented key's, touching every entry (no early exit). */
export function matchKey(entries: readonly Entry[], presented: string): Principal | undefined {
  const d = sha256(presented);
  let found: Principal | undefined;
  for (const e of entries) if (timingSafeEqual(e.digest, d) && !found) found = e.principal;
  return found;
}

/** The presented key: `Authorization: Bearer <key>` first, else `X-API-Key`. */
function presentedKey(headers: AuthRequest['headers']): string | undefined | null {
  const bearer = bearerToken(headers);
  if (bearer !== undefined) return bearer;
  const x = headers['x-api-key'];
  if (x === undefined) return undefined;
  return typeof x === 'string' && x.length > 0 && x.length <= 4096 ? x : null;
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="berth"' };

/** Creates the API-key authenticator; `reload()` re-reads the directory now. */
export function createApiKeyAuthenticator(o: ApiKeyOptions): Authenticator & { reload(): Promise<void> } {
  let entries: Entry[] = [];
  let signature = '';
  let watcher: FSWatcher | undefined;
  let closed = false;

  async function reload(): Promise<void> {
    try {
      const next = await readKeyDir(o.dir, o.logger);
      const sig = next.map((e) => `${e.principal.id}:${e.digest.toString('hex')}`).join(',');
      if (sig !== signature) {
        signature = sig;
        entries = next;
        o.logger.info({ principals: next.length }, 'Loaded API keys');
      }
      ensureWatch();
    } catch (err) {
      if (entries.length || !signature) o.logger.error({ err: (err as Error).message, dir: o.dir }, 'Cannot read API keys; refusing every key');
      entries = [];
      signature = 'error';
    }
  }

  function ensureWatch(): void {
    if (watcher || closed) return;
    try {
      watcher = watch(o.dir, { persistent: false }, () => void reload());
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined;
    }
  }

  const timer = setInterval(() => void reload(), o.pollMs ?? 5_000);
  timer.unref();
  const ready = reload();

  return {
    mode: 'apiKeys',
    reload,
    async authenticate(req: AuthRequest): Promise<AuthOutcome> {
      await ready;
      const key = presentedKey(req.headers);
      if (key === undefined) return { ok: false, status: 401, headers: CHALLENGE, message: 'missing API key (Authorization: Bearer or X-API-Key)' };
      const principal = key === null ? undefined : matchKey(entries, key);
      if (!principal) return { ok: false, status: 401, headers: { 'www-authenticate': 'Bearer realm="berth", error="invalid_token"' }, message: 'invalid API key' };
      return { ok: true, principal };
    },
    mayUseTool: () => true,
    wellKnown: () => ({}),
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
