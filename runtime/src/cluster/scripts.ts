/**
 * Lua scripts of the ownership protocol. Replica heartbeat keys are read by
 * name inside the scripts; they share the McpServer's hash tag, so every
 * script still touches a single Cluster slot.
 */
import type { LuaScript } from '../store/redis/scripts.ts';

/** KEYS: heartbeat, token. ARGV: heartbeat JSON, ttlMs, candidate token, tokenTtlMs → the shared token. */
export const heartbeat: LuaScript = {
  name: 'berthHeartbeat',
  keys: 2,
  lua: `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return redis.call('GET', KEYS[2])`,
};

/**
 * Decides where a session's POST/DELETE is served. KEYS: session.
 * ARGV: me, prefix, force-claim-from (an owner known to be dead, or '').
 * → {'gone'} | {'local'} | {'forward', owner, url} | {'claimed', previousOwner}
 */
export const routeSession: LuaScript = {
  name: 'berthRouteSession',
  keys: 1,
  lua: `local owner = redis.call('HGET', KEYS[1], 'o')
if not owner then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
  owner = ''
end
if owner == ARGV[1] then return {'local'} end
if owner ~= '' and owner ~= ARGV[3] then
  local hb = redis.call('GET', ARGV[2] .. 'r:' .. owner)
  if hb then
    local ok, info = pcall(cjson.decode, hb)
    if ok and type(info) == 'table' and info.d ~= 1 and type(info.u) == 'string' then return {'forward', owner, info.u} end
  end
end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
return {'claimed', owner}`,
};

/** KEYS: inflight. ARGV: streamId, entry, ttlMs. */
export const beginCall: LuaScript = {
  name: 'berthBeginCall',
  keys: 1,
  lua: `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
};

/**
 * Takes over an unfinished call whose owner is gone. Entries are
 * `<owner>\\t<attempts>\\t<request JSON>`. KEYS: inflight, session.
 * ARGV: streamId, me, prefix, force ('1' = the owner is known dead).
 * → {'none'} | {'mine'} | {'alive', owner} | {'taken', entry}
 */
export const takeOverCall: LuaScript = {
  name: 'berthTakeOverCall',
  keys: 2,
  lua: `local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'none'} end
local tab1 = string.find(raw, '\\t', 1, true)
local tab2 = tab1 and string.find(raw, '\\t', tab1 + 1, true)
if not tab2 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'none'}
end
local owner = string.sub(raw, 1, tab1 - 1)
local attempts = tonumber(string.sub(raw, tab1 + 1, tab2 - 1)) or 0
if owner == ARGV[2] then return {'mine'} end
if ARGV[4] ~= '1' and redis.call('EXISTS', ARGV[3] .. 'r:' .. owner) == 1 then return {'alive', owner} end
local entry = ARGV[2] .. '\\t' .. (attempts + 1) .. string.sub(raw, tab2)
redis.call('HSET', KEYS[1], ARGV[1], entry)
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'o', ARGV[2]) end
return {'taken', entry}`,
};

/** KEYS: heartbeat → {value or nil, PTTL}: another replica's heartbeat, read so that client tracking watches it. */
export const heartbeatRead: LuaScript = {
  name: 'berthHeartbeatRead',
  keys: 1,
  lua: `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}`,
};

export const CLUSTER_SCRIPTS: readonly LuaScript[] = [heartbeat, routeSession, beginCall, takeOverCall, heartbeatRead];
