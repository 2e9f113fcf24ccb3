/**
 * Lua scripts: each one is a single round trip, touches only keys of one
 * McpServer prefix (one Cluster slot) and takes time from Redis (`TIME`), so
 * replicas with skewed clocks agree on expiry.
 */
import type { RedisClient } from './connection.ts';

export interface LuaScript {
  readonly name: string;
  readonly keys: number;
  readonly lua: string;
}

const NOW = `local __t = redis.call('TIME')
local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)`;

/** KEYS: session, index. ARGV: sid, ttlMs, maxSessions, field/value pairs… → 1 created, 0 limit reached, -1 exists. */
export const sessionCreate: LuaScript = {
  name: 'berthSessionCreate',
  keys: 2,
  lua: `${NOW}
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'l', now, unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`,
};

/**
 * KEYS: session, index. ARGV: sid, ttlMs, lifeMs → the record's field/value
 * list, or nil. The idle TTL slides lazily: a touch sets the expiry to
 * lifeMs (ttl + slack), and the next touch happens only once the slack has
 * passed (the remaining PTTL is down to ttl). So a read is HGETALL + PTTL
 * most of the time, and a session still lives at least `ttl` after its last
 * read (at most lifeMs). `l` is the time of the last real touch. A read that
 * did not touch ends with the pseudo-field `#r`: the ms until a read must
 * touch again (until then the record may be served from a cache).
 */
export const sessionTouch: LuaScript = {
  name: 'berthSessionTouch',
  keys: 2,
  lua: `local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then
  h[#h + 1] = '#r'
  h[#h + 1] = tostring(left - ttl)
  return h
end
${NOW}
local life = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'l', now)
redis.call('PEXPIRE', KEYS[1], life)
redis.call('ZADD', KEYS[2], now + life, ARGV[1])
redis.call('PEXPIRE', KEYS[2], life)
for i = 1, #h, 2 do
  if h[i] == 'l' then
    h[i + 1] = tostring(now)
    return h
  end
end
h[#h + 1] = 'l'
h[#h + 1] = tostring(now)
return h`,
};

/** KEYS: session, index. ARGV: sid, ttlMs, n, n field/value items to set, then fields to delete → 1 or 0 (unknown). */
export const sessionUpdate: LuaScript = {
  name: 'berthSessionUpdate',
  keys: 2,
  lua: `if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
${NOW}
local ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + n)) end
if #ARGV > 3 + n then redis.call('HDEL', KEYS[1], unpack(ARGV, 4 + n)) end
redis.call('HSET', KEYS[1], 'l', now)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`,
};

/** KEYS: session, index, events, inflight. ARGV: sid → number of keys removed. */
export const sessionDelete: LuaScript = {
  name: 'berthSessionDelete',
  keys: 4,
  lua: `redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])`,
};

/** KEYS: index → live sessions (expired members are pruned first). */
export const sessionCount: LuaScript = {
  name: 'berthSessionCount',
  keys: 1,
  lua: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`,
};

/**
 * KEYS: events, inflight. ARGV: streamId, message ('' = priming), maxLen,
 * retentionMs, channel, isFinalResponse ('1'/'0'), streamTag, publish command
 * → the stream entry id. A final response also clears the stream's in-flight
 * record, atomically with its append.
 */
export const eventAppend: LuaScript = {
  name: 'berthEventAppend',
  keys: 2,
  lua: `local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 's', ARGV[1], 'm', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[6] == '1' then redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call(ARGV[8], ARGV[5], id .. ' ' .. ARGV[7] .. ' ' .. ARGV[2])
return id`,
};

/**
 * KEYS: events. ARGV: streamId, maxLen, retentionMs, messages ('' = priming)…
 * → their entry ids. The whole of a stream no client has seen yet: nothing
 * can tail it and it has no in-flight record, so there is nothing to publish
 * or clear.
 */
export const eventAppendNew: LuaScript = {
  name: 'berthEventAppendNew',
  keys: 1,
  lua: `local ids = {}
for i = 4, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 's', ARGV[1], 'm', ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ids`,
};

/**
 * KEYS: events. ARGV: entryId, streamId, mustExist ('1'/'0') → flat list of
 * entryId, message for the stream's entries after entryId; nil when mustExist
 * and the entry is missing (expired, trimmed, never existed) or belongs to
 * another stream.
 */
export const eventRange: LuaScript = {
  name: 'berthEventRange',
  keys: 1,
  lua: `local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
if ARGV[3] == '1' then
  local first = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
  if #first == 0 or field(first[1][2], 's') ~= ARGV[2] then return false end
end
local out = {}
local rows = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')
for _, row in ipairs(rows) do
  if field(row[2], 's') == ARGV[2] then
    out[#out + 1] = row[1]
    out[#out + 1] = field(row[2], 'm') or ''
  end
end
return out`,
};

export const ALL_SCRIPTS: readonly LuaScript[] = [sessionCreate, sessionTouch, sessionUpdate, sessionDelete, sessionCount, eventAppend, eventAppendNew, eventRange];

/** Registers scripts as ioredis commands (EVALSHA, with EVAL on a socket's first use or after NOSCRIPT). */
export function defineScripts(client: RedisClient, scripts: readonly LuaScript[]): void {
  const registry = client as unknown as Record<string, unknown>;
  for (const s of scripts) {
    if (typeof registry[s.name] !== 'function') client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
  }
}

/** Runs a registered script. */
export function runScript<T>(client: RedisClient, script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[script.name];
  if (typeof fn !== 'function') throw new Error(`script ${script.name} is not defined on this client`);
  return fn.call(client, ...keys, ...args);
}
