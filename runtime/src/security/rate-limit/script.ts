/**
 * The atomic multi-bucket token-bucket script. Time comes from Redis `TIME`
 * inside the script, so replicas' clocks never matter; all buckets of one
 * decision are checked and charged together (all-or-nothing), and their keys
 * share the McpServer's hash tag so the script touches a single Cluster slot.
 *
 * KEYS[i]            bucket hash {k = tokens, t = last refill in µs}
 * ARGV[2i-1], ARGV[2i] rate (tokens/s) and capacity of bucket i
 * returns {denied index (0 = admitted), wait in µs as a string}
 */
import { createHash } from 'node:crypto';

export const BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tokens, stamps = {}, {}
local deny, wait = 0, 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local cap = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 'k', 't')
  local k, ts = tonumber(v[1]), tonumber(v[2])
  if k == nil or ts == nil then k = cap; ts = now end
  if now > ts then
    k = math.min(cap, k + (now - ts) * rate / 1000000)
    ts = now
  end
  tokens[i], stamps[i] = k, ts
  if k < 1 then
    local w = (1 - k) / rate * 1000000
    if w > wait then wait = w; deny = i end
  end
end
if deny == 0 then
  for i = 1, n do
    local rate = tonumber(ARGV[2 * i - 1])
    local cap = tonumber(ARGV[2 * i])
    redis.call('HSET', KEYS[i], 'k', string.format('%.17g', tokens[i] - 1), 't', string.format('%.0f', stamps[i]))
    redis.call('PEXPIRE', KEYS[i], math.ceil(cap / rate * 1000) + 1000)
  end
end
return {deny, string.format('%.0f', math.ceil(wait))}
`;

export const BUCKET_SHA = createHash('sha1').update(BUCKET_LUA).digest('hex');
