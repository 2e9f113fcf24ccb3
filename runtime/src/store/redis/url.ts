/**
 * Redis connection URLs (pure parsing, no I/O).
 *
 *   redis://[user:pass@]host[:port][/db]                    standalone
 *   rediss://…                                              standalone over TLS
 *   redis+sentinel://[user:pass@]host:port[,host:port…]/master[/db][?sentinelUsername=…&sentinelPassword=…]
 *   rediss+sentinel://…                                     TLS to sentinels and master
 *   redis+cluster://[user:pass@]host:port[,host:port…]      Redis Cluster (seed nodes)
 *   rediss+cluster://…                                      Cluster over TLS
 *   redis://host:port?cluster=true                          also Cluster (single seed)
 *
 * User and password in the authority are the data-node credentials (ACL user);
 * the query may add `sentinelUsername`, `sentinelPassword` and `tlsInsecure=true`
 * (skip certificate verification, for tests only).
 */

export interface HostPort {
  host: string;
  port: number;
}

interface Common {
  username?: string;
  password?: string;
  tls: boolean;
  tlsInsecure: boolean;
}

export type RedisTarget =
  | (Common & { mode: 'standalone'; host: string; port: number; db: number })
  | (Common & { mode: 'sentinel'; sentinels: HostPort[]; masterName: string; db: number; sentinelUsername?: string; sentinelPassword?: string })
  | (Common & { mode: 'cluster'; nodes: HostPort[] });

export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

const DEFAULT_PORTS = { redis: 6379, sentinel: 26379 };

/** Parses a Redis URL into a connection target; throws RedisUrlError naming the problem. */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z+]+):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i.exec(url.trim());
  if (!m) throw new RedisUrlError('redis url must look like redis://host:port (or rediss://, redis+sentinel://, redis+cluster://)');
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!;
  const path = m[3]!;
  const query = new URLSearchParams(m[4] ?? '');
  const schemes: Record<string, { tls: boolean; kind: 'standalone' | 'sentinel' | 'cluster' }> = {
    redis: { tls: false, kind: 'standalone' },
    rediss: { tls: true, kind: 'standalone' },
    'redis+sentinel': { tls: false, kind: 'sentinel' },
    'rediss+sentinel': { tls: true, kind: 'sentinel' },
    'redis+cluster': { tls: false, kind: 'cluster' },
    'rediss+cluster': { tls: true, kind: 'cluster' },
  };
  const s = schemes[scheme];
  if (!s) throw new RedisUrlError(`unsupported redis url scheme "${scheme}:" (use redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster)`);

  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  const hostlist = at >= 0 ? authority.slice(at + 1) : authority;
  const common: Common = { tls: s.tls || query.get('tls') === 'true', tlsInsecure: query.get('tlsInsecure') === 'true' };
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
    const pass = colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined;
    if (colon >= 0) {
      if (user) common.username = user;
      if (pass) common.password = pass;
    } else if (user) {
      // `redis://secret@host` is the historical password-only form.
      common.password = user;
    }
  }
  const kind = s.kind === 'standalone' && truthy(query.get('cluster')) ? 'cluster' : s.kind;
  const defaultPort = kind === 'sentinel' ? DEFAULT_PORTS.sentinel : DEFAULT_PORTS.redis;
  const hosts = hostlist.split(',').filter((h) => h.length > 0).map((h) => parseHostPort(h, defaultPort));
  if (hosts.length === 0) throw new RedisUrlError('redis url names no host');
  const segments = path.split('/').filter((p) => p.length > 0).map(decode);

  if (kind === 'standalone') {
    if (hosts.length > 1) throw new RedisUrlError('several hosts need redis+sentinel:// or redis+cluster://');
    if (segments.length > 1) throw new RedisUrlError('standalone redis url path is only the database number');
    return { mode: 'standalone', ...common, host: hosts[0]!.host, port: hosts[0]!.port, db: parseDb(segments[0]) };
  }
  if (kind === 'sentinel') {
    const masterName = segments[0];
    if (!masterName) throw new RedisUrlError('redis+sentinel url needs the master name as its path: redis+sentinel://host:26379/mymaster');
    if (segments.length > 2) throw new RedisUrlError('redis+sentinel url path is /<master>[/<db>]');
    const target: RedisTarget = { mode: 'sentinel', ...common, sentinels: hosts, masterName, db: parseDb(segments[1]) };
    const su = query.get('sentinelUsername');
    const sp = query.get('sentinelPassword');
    if (su) target.sentinelUsername = su;
    if (sp) target.sentinelPassword = sp;
    return target;
  }
  if (segments.length > 0 && !(segments.length === 1 && segments[0] === '0')) throw new RedisUrlError('redis cluster has only database 0');
  return { mode: 'cluster', ...common, nodes: hosts };
}

/** The URL with its password replaced by `***`, for logs and errors. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)([^@/?#]*)@/i, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}

function parseHostPort(text: string, defaultPort: number): HostPort {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new RedisUrlError(`bad IPv6 host "${text}"`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest && !rest.startsWith(':')) throw new RedisUrlError(`bad host "${text}"`);
    portText = rest ? rest.slice(1) : undefined;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  if (!host) throw new RedisUrlError(`empty host in "${text}"`);
  const port = portText === undefined || portText === '' ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisUrlError(`bad port in "${text}"`);
  return { host, port };
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0) throw new RedisUrlError(`bad database number "${text}"`);
  return db;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RedisUrlError('redis url has a malformed percent-escape');
  }
}

function truthy(v: string | null): boolean {
  return v === 'true' || v === '1' || v === 'yes';
}
