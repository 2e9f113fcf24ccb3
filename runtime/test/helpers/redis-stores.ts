/** Shared fixtures for the Redis store tests: silent logger, isolated prefixes, key scans. */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { InitializeParams } from '../../src/backend/types.ts';
import { createRedisStores, keyPrefixFor, type RedisStores } from '../../src/store/redis/index.ts';
import type { RedisClient } from '../../src/store/redis/connection.ts';
import type { SessionRecord } from '../../src/store/types.ts';

export const silent = pino({ level: 'silent' });

export interface SessionSpecLike {
  idleTimeoutSeconds: number;
  maxSessions: number;
  resumability: { maxEvents: number; retentionSeconds: number };
}

export const defaultSession: SessionSpecLike = { idleTimeoutSeconds: 60, maxSessions: 1000, resumability: { maxEvents: 1000, retentionSeconds: 600 } };

/** A prefix no other test uses. */
export function freshPrefix(): string {
  return keyPrefixFor('test', randomBytes(6).toString('hex'));
}

/** Stores on `url` under `prefix` (a second call with the same prefix plays another replica). */
export function stores(url: string, prefix: string, session: Partial<SessionSpecLike> = {}, replicaId = randomBytes(4).toString('hex')): Promise<RedisStores> {
  return createRedisStores({ url, keyPrefix: prefix, spec: { session: { ...defaultSession, ...session } }, logger: silent, replicaId, connectWaitMs: 10_000 });
}

export const initialize: InitializeParams = {
  protocolVersion: '2025-11-25',
  capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
  clientInfo: { name: 'test-client', version: '1.2.3' },
};

/** A session record with a 128-bit random id. */
export function record(principal = 'apikey:alice', extra: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: randomBytes(16).toString('base64url'), principal, protocolVersion: '2025-11-25', initialize, createdAt: now, lastSeenAt: now, ...extra };
}

/** Every key under `prefix` (SCAN on each master of a Cluster). */
export async function keysUnder(client: RedisClient, prefix: string): Promise<string[]> {
  const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix.replace(/[[\]*?\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      out.push(...batch);
    } while (cursor !== '0');
  }
  return out.sort();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
