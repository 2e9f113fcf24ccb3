/**
 * The atomic token-bucket script: every limit of one request (its request
 * group: global, principal, session; and its tool group) in one EVALSHA, so
 * a tools/call costs a single Redis round trip. Time comes from Redis `TIME`
 * (read once) so replicas' clocks never matter; the keys share the
 * McpServer's hash tag so the script touches a single Cluster slot.
 *
 * Each bucket is one string "<tokens>:<last refill µs>": all are read with a
 * single MGET and each charged bucket is written with a single SET … PX, so a
 * decision over n buckets runs n + 2 commands inside the script.
 *
 * The request group is all-or-nothing. The tool group is looked at only when
 * the request group admits, and is itself all-or-nothing; a refused tool
 * group leaves the (charged) request group admitted — the same outcome as
 * checking the request and then the tool one after the other.
 *
 * A charged bucket may also hand out a lease: up to `want` extra tokens the
 * replica then spends locally (see lease.ts). They leave the shared bucket
 * at once, so leasing can never admit more than the limit.
 *
 * KEYS[i]                          bucket i (the first ARGV[1] form the request group)
 * ARGV[1]                          size of the request group
 * ARGV[3i-1], ARGV[3i], ARGV[3i+1] rate (tokens/s), capacity and wanted lease of bucket i
 * returns {request denied index (0 = admitted), its wait µs, tool denied index (0 = admitted or none), its wait µs, lease granted per bucket…}
 */
import { createHash } from 'node:crypto';

export const BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local nreq = tonumber(ARGV[1])
local vals = redis.call('MGET', unpack(KEYS))
local tokens, stamps = {}, {}
local function fill(i)
  local rate = tonumber(ARGV[3 * i - 1])
  local cap = tonumber(ARGV[3 * i])
  local k, ts
  local v = vals[i]
  if v then
    local sep = string.find(v, ':', 1, true)
    if sep then
      k = tonumber(string.sub(v, 1, sep - 1))
      ts = tonumber(string.sub(v, sep + 1))
    end
  end
  if k == nil or ts == nil then k = cap; ts = now end
  if now > ts then
    k = math.min(cap, k + (now - ts) * rate / 1000000)
    ts = now
  end
  tokens[i], stamps[i] = k, ts
  if k < 1 then return (1 - k) / rate * 1000000 end
  return 0
end
local function group(from, to)
  local deny, wait = 0, 0
  for i = from, to do
    local w = fill(i)
    if w > wait then wait = w; deny = i - from + 1 end
  end
  return deny, wait
end
local out = {0, '0', 0, '0'}
for i = 1, n do out[4 + i] = 0 end
local function charge(from, to)
  for i = from, to do
    local rate = tonumber(ARGV[3 * i - 1])
    local cap = tonumber(ARGV[3 * i])
    local want = tonumber(ARGV[3 * i + 1])
    local extra = math.min(want, math.floor(tokens[i] - 1))
    if extra < 0 then extra = 0 end
    out[4 + i] = extra
    redis.call('SET', KEYS[i], string.format('%.17g:%.0f', tokens[i] - 1 - extra, stamps[i]), 'PX', math.ceil(cap / rate * 1000) + 1000)
  end
end
local rdeny, rwait = group(1, nreq)
if rdeny > 0 then
  out[1] = rdeny
  out[2] = string.format('%.0f', math.ceil(rwait))
  return out
end
local tdeny, twait = group(nreq + 1, n)
charge(1, nreq)
if tdeny == 0 then charge(nreq + 1, n) end
out[3] = tdeny
out[4] = string.format('%.0f', math.ceil(twait))
return out
`;

export const BUCKET_SHA = createHash('sha1').update(BUCKET_LUA).digest('hex');
