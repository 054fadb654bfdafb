import type { Cluster, Redis } from 'ioredis';

import { LEGAL_TRANSITIONS, LIVE_STATES, RUNNER_STATES } from './runner.state';

/** A single Redis or a Redis Cluster client from ioredis; the registry works with either. */
export type RedisClient = Redis | Cluster;

/** Runs one Lua script with explicit KEYS and ARGV. */
export type ScriptRunner = (
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<unknown>;

type DefinedCommand = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Registers `lua` on `client` with ioredis `defineCommand` (EVALSHA with an EVAL fallback) and
 * returns a typed runner. The number of keys is passed per call, so scripts may take a variable
 * number of keys.
 */
export function defineScript(client: RedisClient, name: string, lua: string): ScriptRunner {
  client.defineCommand(name, { lua });
  const commands = client as unknown as Record<string, DefinedCommand | undefined>;
  return (keys, args) => {
    const command = commands[name];
    if (command === undefined) {
      return Promise.reject(new Error(`Lua command ${name} is not defined on this client`));
    }
    return command.call(client, keys.length, ...keys, ...args);
  };
}

const luaList = (items: readonly string[]): string => `{${items.map((s) => `'${s}'`).join(', ')}}`;

const luaLegalTable = Object.entries(LEGAL_TRANSITIONS)
  .map(
    ([from, targets]) => `  ['${from}'] = {${targets.map((t) => `['${t}'] = true`).join(', ')}},`,
  )
  .join('\n');

// Milliseconds from the Redis server clock, so every client orders runners by the same clock.
const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
`;

// The one place a runner entry is born: hash fields and its place in the `reserved` set.
const NEW_RUNNER = `
local function new_runner(runner_key, reserved_key, name, scale_set_id, now)
  redis.call('HSET', runner_key, 'name', name, 'scaleSetId', scale_set_id, 'state', 'reserved',
    'createdAt', now, 'updatedAt', now, 'stateChangedAt', now, 'attempts', 0)
  redis.call('ZADD', reserved_key, now, name)
end
`;

// Returns nil when the epoch matches (or none was given), else the current epoch.
const CHECK_EPOCH = `
local function stale_epoch(epoch_key, expected)
  if expected == '' then
    return nil
  end
  local current = redis.call('GET', epoch_key) or '0'
  if current ~= expected then
    return current
  end
  return nil
end
`;

/**
 * KEYS: runner hash, one sorted set per state (RUNNER_STATES order), epoch, tombstone.
 * ARGV: target, epoch or '', allowed-from states (comma-separated) or '', tombstone TTL ms,
 * then field/value pairs to set along with the move.
 * Returns {status, detail[, createdAt]}: applied|unchanged (detail = previous state, then the
 * runner's createdAt while it had an entry, so a caller needs no read for it), illegal|unexpected
 * (detail = current state), notfound, stale (detail = current epoch).
 */
export const TRANSITION_LUA = `${NOW_MS}${CHECK_EPOCH}
local states = ${luaList(RUNNER_STATES)}
local legal = {
${luaLegalTable}
}
local state_key = {}
for i, s in ipairs(states) do
  state_key[s] = KEYS[i + 1]
end
local n = #states
local epoch_key = KEYS[n + 2]
local tombstone_key = KEYS[n + 3]
local target = ARGV[1]

local stale = stale_epoch(epoch_key, ARGV[2])
if stale then
  return {'stale', stale}
end

local fields = redis.call('HMGET', KEYS[1], 'state', 'name', 'createdAt')
local from = fields[1]
if not from then
  if target == 'deleted' and redis.call('EXISTS', tombstone_key) == 1 then
    return {'unchanged', 'deleted'}
  end
  return {'notfound', ''}
end
local created = fields[3] or ''
if from == target then
  return {'unchanged', from, created}
end
if ARGV[3] ~= '' then
  local allowed = false
  for s in string.gmatch(ARGV[3], '[^,]+') do
    if s == from then
      allowed = true
    end
  end
  if not allowed then
    return {'unexpected', from}
  end
end
if not (legal[from] and legal[from][target]) then
  return {'illegal', from}
end

local name = fields[2]
local now = now_ms()
redis.call('ZREM', state_key[from], name)
if target == 'deleted' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', tombstone_key, now, 'PX', ARGV[4])
  return {'applied', from, created}
end
redis.call('ZADD', state_key[target], now, name)
redis.call('HSET', KEYS[1], 'state', target, 'updatedAt', now, 'stateChangedAt', now)
if target == 'provisioning' then
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return {'applied', from, created}
`;

/**
 * KEYS: the live states' sorted sets (LIVE_STATES order), epoch, then one runner hash key per
 * candidate name. ARGV: maxRunners, count, epoch or '', scaleSetId, candidate names.
 * Returns {'ok', liveBefore, name...} or {'stale', currentEpoch}.
 */
export const RESERVE_LUA = `${NOW_MS}${CHECK_EPOCH}${NEW_RUNNER}
local live_states = ${luaList(LIVE_STATES)}
local nlive = #live_states
local epoch_key = KEYS[nlive + 1]
local stale = stale_epoch(epoch_key, ARGV[3])
if stale then
  return {'stale', stale}
end
local live = 0
for i = 1, nlive do
  live = live + redis.call('ZCARD', KEYS[i])
end
local want = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - live)
local out = {'ok', tostring(live)}
if want <= 0 then
  return out
end
local now = now_ms()
local made = 0
for i = 1, #KEYS - nlive - 1 do
  if made >= want then
    break
  end
  local runner_key = KEYS[nlive + 1 + i]
  local name = ARGV[4 + i]
  if redis.call('EXISTS', runner_key) == 0 then
    new_runner(runner_key, KEYS[1], name, ARGV[4], now)
    made = made + 1
    out[#out + 1] = name
  end
end
return out
`;

/**
 * KEYS: runner hash, epoch. ARGV: epoch or '', field/value pairs.
 * Returns {'ok', state}, {'notfound', ''} or {'stale', currentEpoch}.
 */
export const ANNOTATE_LUA = `${NOW_MS}${CHECK_EPOCH}
local stale = stale_epoch(KEYS[2], ARGV[1])
if stale then
  return {'stale', stale}
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'notfound', ''}
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'updatedAt', now_ms())
return {'ok', state}
`;

/** KEYS: lease, epoch. ARGV: token, ttl ms. Returns {1, epoch} or {0, pttl of the holder}. */
export const LEASE_ACQUIRE_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
`;

/** KEYS: lease. ARGV: token, ttl ms. Returns 1 renewed, 0 expired (no holder), -1 taken. */
export const LEASE_RENEW_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  return 0
end
return -1
`;

/** KEYS: lease. ARGV: token. Returns 1 released, 0 expired (no holder), -1 held by another. */
export const LEASE_RELEASE_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if not holder then
  return 0
end
return -1
`;

/**
 * KEYS: epoch, target key. ARGV: epoch, value ('' deletes the key).
 * Returns {'ok', ''} or {'stale', currentEpoch}.
 */
export const FENCED_SET_LUA = `${CHECK_EPOCH}
local stale = stale_epoch(KEYS[1], ARGV[1])
if stale then
  return {'stale', stale}
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return {'ok', ''}
`;

/**
 * KEYS: epoch, cursor. ARGV: epoch, message id. Moves the cursor forward only.
 * Returns {'applied', id}, {'unchanged', current} or {'stale', currentEpoch}.
 */
export const CURSOR_SET_LUA = `${CHECK_EPOCH}
local stale = stale_epoch(KEYS[1], ARGV[1])
if stale then
  return {'stale', stale}
end
local current = redis.call('GET', KEYS[2])
if current and tonumber(current) >= tonumber(ARGV[2]) then
  return {'unchanged', current}
end
redis.call('SET', KEYS[2], ARGV[2])
return {'applied', ARGV[2]}
`;

/**
 * Re-creates the entry of a runner whose compute runs but whose entry was lost (the
 * reconciler's registry rebuild): like a reservation, without the capacity check.
 * KEYS: runner hash, `reserved` set, tombstone. ARGV: name, scaleSetId.
 * Returns 1 created, 0 when the entry or a tombstone exists.
 */
export const RESTORE_LUA = `${NOW_MS}${NEW_RUNNER}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
new_runner(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now_ms())
return 1
`;
