/**
 * Per-McpServer Redis isolation: an ACL user limited to the tenant's key and
 * channel prefix, and cleanup of both when the McpServer goes away. ACLs are
 * per node, so on a Cluster every node gets the user.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redisKeyPrefix, redisUserName } from '../mcpserver/names.ts';

interface ParsedUrl {
  scheme: string;
  username: string;
  password: string;
  hosts: string;
  rest: string;
}

const URL_RE = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?#]*)(.*)$/i;

function parseUrl(url: string): ParsedUrl {
  const m = URL_RE.exec(url.trim());
  if (!m) throw new Error('the Redis admin URL must look like redis://[user:password@]host:port[/db]');
  const [user = '', pass = ''] = (m[2] ?? '').split(/:(.*)/s);
  return { scheme: m[1]!.toLowerCase(), username: decodeURIComponent(user), password: decodeURIComponent(pass), hosts: m[3]!, rest: m[4] ?? '' };
}

/** The tenant's URL: the admin URL's scheme, hosts (or `address`), db and options with the tenant's credentials. */
export function tenantUrl(adminUrl: string, username: string, password: string, address = ''): string {
  const u = parseUrl(adminUrl);
  return `${u.scheme}://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${address || u.hosts}${u.rest}`;
}

/** The user and password of a URL, or undefined when it has none. */
export function credentialsOf(url: string): { username: string; password: string } | undefined {
  try {
    const u = parseUrl(url);
    return u.username && u.password ? { username: u.username, password: u.password } : undefined;
  } catch {
    return undefined;
  }
}

/** The port of the first host of a Redis URL. */
export function redisPort(url: string): number {
  const first = parseUrl(url).hosts.split(',')[0] ?? '';
  const port = /:(\d+)$/.exec(first)?.[1];
  return port ? Number(port) : 6379;
}

/** A new random password (256 bits). */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Redis prints a user's command rules in hash order, which differs between nodes and users: compare as sets. */
const sameRules = (a: string, b: string): boolean => a.split(' ').sort().join(' ') === b.split(' ').sort().join(' ');

interface AclUser {
  flags: string[];
  passwords: string[];
  commands: string;
  keys: string;
  channels: string;
}

function parseGetUser(reply: unknown): AclUser | undefined {
  if (!Array.isArray(reply)) return undefined;
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  return {
    flags: (m.get('flags') as string[] | undefined) ?? [],
    passwords: (m.get('passwords') as string[] | undefined) ?? [],
    commands: String(m.get('commands') ?? ''),
    keys: String(m.get('keys') ?? ''),
    channels: String(m.get('channels') ?? ''),
  };
}

export interface TenantRedis {
  /** Creates or corrects the tenant's ACL user; true when Redis was changed. */
  ensureUser(namespace: string, name: string, password: string): Promise<boolean>;
  /** Deletes every key of the tenant and its ACL user; returns the number of keys removed. */
  deleteTenant(namespace: string, name: string): Promise<number>;
  /** Whether the admin connection is up. */
  healthy(): boolean;
  /** Called after a reconnect (ACL users may be gone if Redis restarted without an ACL file). */
  onReconnect(fn: () => void): void;
  close(): Promise<void>;
}

const PROBE_USER = 'berth-operator-acl-probe';

/** Connects with the admin URL (standalone `redis://`/`rediss://`, or Cluster `redis+cluster://` / `?cluster=true`). */
export function connectTenantRedis(adminUrl: string, aclCommands: string, log: Logger): TenantRedis {
  const u = parseUrl(adminUrl);
  const tls = u.scheme.startsWith('rediss');
  const cluster = u.scheme.endsWith('+cluster') || /[?&]cluster=true\b/.test(u.rest);
  const auth = { ...(u.username ? { username: u.username } : {}), ...(u.password ? { password: u.password } : {}) };
  const common = { ...auth, connectionName: 'berth-operator', maxRetriesPerRequest: 2, enableOfflineQueue: true, ...(tls ? { tls: {} } : {}) };
  const hosts = u.hosts.split(',').map((h) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(h)!;
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 6379 };
  });
  const db = Number(/^\/(\d+)/.exec(u.rest)?.[1] ?? 0);
  const client: Redis | Cluster = cluster
    ? new Cluster(hosts, { redisOptions: common, enableOfflineQueue: true })
    : new Redis({ ...common, host: hosts[0]!.host, port: hosts[0]!.port, db, retryStrategy: (n) => Math.min(100 * 2 ** n, 5000) });
  let up = false;
  let everUp = false;
  const reconnectHandlers: Array<() => void> = [];
  client.on('ready', () => {
    up = true;
    if (everUp) {
      log.info('Reconnected to Redis');
      for (const fn of reconnectHandlers) fn();
    }
    everUp = true;
  });
  client.on('error', (err: Error) => {
    if (up) log.warn({ err: err.message }, 'Lost the Redis admin connection');
    up = false;
  });
  client.on('end', () => {
    up = false;
  });

  /**
   * Resolves once connected (a Cluster must know its nodes before ACLs can be
   * set on each). After the first connection, fails fast while Redis is away
   * instead of holding a worker through reconnects.
   */
  const available = async (): Promise<void> => {
    if (up) return;
    if (everUp) throw new Error('the Redis admin connection is down');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(new Error('could not connect to Redis within 10 s'));
      }, 10_000);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  };
  const nodes = (): Array<Redis | Cluster> => (client instanceof Cluster ? client.nodes('all') : [client]);
  let normalizedCommands: Promise<string> | undefined;
  /** How Redis spells our command rules, learned once from a disabled probe user. */
  const expectedCommands = (): Promise<string> =>
    (normalizedCommands ??= (async () => {
      const node = nodes()[0]!;
      await node.call('ACL', 'SETUSER', PROBE_USER, 'reset', 'off', ...aclCommands.split(/\s+/).filter(Boolean));
      const probe = parseGetUser(await node.call('ACL', 'GETUSER', PROBE_USER));
      await node.call('ACL', 'DELUSER', PROBE_USER);
      return probe?.commands ?? '';
    })().catch((err) => {
      normalizedCommands = undefined;
      throw err;
    }));

  return {
    async ensureUser(namespace, name, password) {
      await available();
      const user = redisUserName(namespace, name);
      const prefix = redisKeyPrefix(namespace, name);
      const want = { password: sha256(password), keys: `~${prefix}*`, channels: `&${prefix}*`, commands: await expectedCommands() };
      let changed = false;
      for (const node of nodes()) {
        const have = parseGetUser(await node.call('ACL', 'GETUSER', user));
        const same =
          have &&
          have.flags.includes('on') &&
          have.passwords.length === 1 &&
          have.passwords[0] === want.password &&
          have.keys === want.keys &&
          have.channels === want.channels &&
          sameRules(have.commands, want.commands);
        if (same) continue;
        await node.call('ACL', 'SETUSER', user, 'reset', 'on', `#${want.password}`, want.keys, want.channels, ...aclCommands.split(/\s+/).filter(Boolean));
        changed = true;
      }
      if (changed) log.info({ tenant: `${namespace}/${name}`, user }, 'Configured the Redis ACL user');
      return changed;
    },

    async deleteTenant(namespace, name) {
      await available();
      const prefix = redisKeyPrefix(namespace, name);
      // Glob-escape the prefix (namespaces and names are DNS labels, but be exact anyway).
      const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      let removed = 0;
      const masters = client instanceof Cluster ? client.nodes('master') : [client];
      for (const node of masters) {
        let cursor = '0';
        do {
          const [next, keys] = (await node.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [string, string[]];
          cursor = next;
          if (keys.length) removed += Number(await node.call('UNLINK', ...keys));
        } while (cursor !== '0');
      }
      for (const node of nodes()) await node.call('ACL', 'DELUSER', redisUserName(namespace, name));
      log.info({ tenant: `${namespace}/${name}`, keys: removed }, 'Removed the tenant from Redis');
      return removed;
    },

    healthy: () => up,
    onReconnect: (fn) => {
      reconnectHandlers.push(fn);
    },
    async close() {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
