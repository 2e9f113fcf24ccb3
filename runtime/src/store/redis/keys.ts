/**
 * The Redis key layout of one McpServer. Every key and channel starts with
 * `berth:{<namespace>/<name>}:` — the braces are a Cluster hash tag, so all of
 * a tenant's keys live in one slot and every script touches a single slot; the
 * operator's per-tenant ACL user is limited to exactly this prefix.
 *
 *   <p>s:<sid>        hash    session record (sliding idle TTL)
 *   <p>sessions       zset    live session ids scored by expiry (maxSessions, count)
 *   <p>e:<sid>        stream  server→client events of all SSE streams of a session
 *   <p>f:<sid>        hash    in-flight tools/call per SSE stream (owner, tool, idempotency)
 *   <p>r:<replica>    string  replica heartbeat (internal URL, draining flag), short TTL
 *   <p>token          string  shared secret for the internal hop when no token file is configured
 *   <p>probe          string  the client-tracking probe (tracking.ts): set and deleted within one script
 *   <p>bus            channel ServerChangeEvent fan-out
 *   <p>t:<sid>        channel live events of a session (tails on other replicas)
 */

/** The key prefix of one McpServer (also the operator's ACL key/channel pattern without the `*`). */
export function keyPrefixFor(namespace: string, name: string): string {
  if (/[{}]/.test(namespace) || /[{}]/.test(name)) throw new Error('namespace and name must not contain braces');
  return `berth:{${namespace}/${name}}:`;
}

/** The hash tag of a prefix (the part inside the first braces), or undefined. */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

/** Key builders bound to one prefix. */
export function keysFor(prefix: string) {
  return {
    prefix,
    session: (sid: string) => `${prefix}s:${sid}`,
    sessionIndex: `${prefix}sessions`,
    events: (sid: string) => `${prefix}e:${sid}`,
    inflight: (sid: string) => `${prefix}f:${sid}`,
    replica: (replicaId: string) => `${prefix}r:${replicaId}`,
    token: `${prefix}token`,
    trackingProbe: `${prefix}probe`,
    busChannel: `${prefix}bus`,
    signalChannel: `${prefix}sig`,
    tailChannel: (sid: string) => `${prefix}t:${sid}`,
  };
}

export type Keys = ReturnType<typeof keysFor>;

/**
 * Prefixes without a hash tag would scatter a tenant over many Cluster slots and
 * break multi-key scripts; callers pass user-supplied prefixes through this check.
 */
export function assertClusterSafePrefix(prefix: string): void {
  if (!hashTagOf(prefix)) throw new Error(`redis key prefix "${prefix}" must contain a {hash tag} so every key of the McpServer shares one Cluster slot`);
}
