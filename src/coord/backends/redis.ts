/**
 * Redis backend (ioredis). Every step is one Lua script, so "is a permit free?" and "take it" are
 * one atomic operation on the server: no check-then-add race (the common ZCARD-then-ZADD recipe
 * lets two clients both see a free permit). Time comes from the server (`TIME`), so every process
 * agrees on lease expiry. Waiters are woken by pub/sub on one channel per backend prefix.
 *
 * Keys per semaphore `<prefix>:sem:<name>:`: `h` (ZSET holder → lease expiry), `p` (HASH holder →
 * permits), `q` (ZSET waiter → ticket, the FIFO order), `qx` (ZSET waiter → expiry), `f` (fencing
 * counter), `t` (ticket counter). `h`, `p`, `q`, `qx` expire on their own when unused; the two counters
 * are kept (a few bytes per semaphore name) so fencing tokens never restart. Rate limiter `<prefix>:rate:<name>`: the GCRA arrival time.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { CoordBackend, RateRequest, RateResult, TryAcquireRequest, TryAcquireResult } from "../backend.js";

/** Options of {@link redisBackend}. */
export interface RedisBackendOptions {
  /** An ioredis client (not closed by the backend), or a URL / options to open one. */
  redis: Redis | string | RedisOptions;
  /** Prefix of every key and of the pub/sub channel. @defaultValue "sluice:coord" */
  prefix?: string;
}

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: h p q qx f t   ARGV: id permits limit ttl channel key
const ACQUIRE = `
${NOW}
local id, permits, limit, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, h in ipairs(expired) do redis.call('HDEL', KEYS[2], h) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, w in ipairs(gone) do
  if w ~= id then redis.call('ZREM', KEYS[3], w); redis.call('ZREM', KEYS[4], w) end
end
if not redis.call('ZSCORE', KEYS[3], id) then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[6]), id)
end
redis.call('ZADD', KEYS[4], now + ttl, id)
-- Holders and queue vanish on their own once unused; the counters (f, t) never expire, so a
-- fencing token keeps growing after any idle period and tickets keep their order.
local keep = ttl * 2 + 60000
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], keep) end
local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
local used = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do used = used + tonumber(v) end
if head ~= id or used + permits > limit then return {0} end
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('HSET', KEYS[2], id, permits)
local fence = redis.call('INCR', KEYS[5])
if used + permits < limit and redis.call('ZCARD', KEYS[3]) > 0 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], keep) end
return {1, fence}
`;

// KEYS: h   ARGV: id ttl
const RENEW = `
${NOW}
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]) * 2 + 60000) end
return 1
`;

// Release: KEYS h p, ARGV id channel key "hash".  Leave the queue: KEYS q qx, ARGV id channel key "zset".
const REMOVE = `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[4] == 'hash' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
`;

// KEYS: tat   ARGV: cost emissionMs burst
const RATE = `
${NOW}
local cost, T, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local newTat = math.max(tat, now) + cost * T
local allowAt = newTat - burst * T
if allowAt > now then return {0, tostring(allowAt - now), now} end
redis.call('SET', KEYS[1], tostring(newTat), 'PX', math.ceil(newTat - now) + 1000)
return {1, '0', now}
`;

type Scripted = Redis & {
  coordAcquire(...args: (string | number)[]): Promise<[number, number?]>;
  coordRenew(...args: (string | number)[]): Promise<number>;
  coordRemove(...args: (string | number)[]): Promise<number>;
  coordRate(...args: (string | number)[]): Promise<[number, string, number]>;
};

/**
 * A backend shared by every process that reaches the same Redis with the same prefix.
 *
 * @example
 * import { Redis } from "ioredis";
 * const backend = redisBackend({ redis: new Redis("redis://127.0.0.1:6379"), prefix: "billing" });
 */
export function redisBackend(options: RedisBackendOptions): CoordBackend {
  const owned = !(options.redis instanceof Redis);
  const redis = (options.redis instanceof Redis ? options.redis : typeof options.redis === "string" ? new Redis(options.redis) : new Redis(options.redis)) as Scripted;
  const prefix = options.prefix ?? "sluice:coord";
  const channel = `${prefix}:wake`;
  for (const [name, lua, keys] of [
    ["coordAcquire", ACQUIRE, 6],
    ["coordRenew", RENEW, 6],
    ["coordRemove", REMOVE, 2],
    ["coordRate", RATE, 1],
  ] as const) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: keys });
  }
  const keys = (name: string): string[] => ["h", "p", "q", "qx", "f", "t"].map((k) => `${prefix}:sem:{${name}}:${k}`);

  // One subscriber connection per backend, opened on first use.
  let subscriber: Redis | null = null;
  const listeners = new Map<string, Set<() => void>>();
  const subscribe = async (): Promise<Redis> => {
    if (subscriber) return subscriber;
    subscriber = redis.duplicate();
    subscriber.on("message", (_channel: string, key: string) => {
      for (const fn of listeners.get(key) ?? []) fn();
    });
    await subscriber.subscribe(channel);
    return subscriber;
  };

  return {
    kind: "redis",
    async tryAcquire(r: TryAcquireRequest): Promise<TryAcquireResult> {
      const [ok, fence] = await redis.coordAcquire(...keys(r.key), r.id, r.permits, r.limit, r.ttlMs, channel, r.key);
      return ok === 1 ? { acquired: true, fencingToken: Number(fence) } : { acquired: false };
    },
    async renew(key, id, ttlMs) {
      return (await redis.coordRenew(...keys(key), id, ttlMs)) === 1;
    },
    async release(key, id) {
      const [h, p] = keys(key) as [string, string];
      await redis.coordRemove(h, p, id, channel, key, "hash");
    },
    async leave(key, id) {
      const k = keys(key);
      await redis.coordRemove(k[2]!, k[3]!, id, channel, key, "zset");
    },
    async subscribe(key, onWake) {
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(onWake);
      await subscribe();
      return async () => {
        set.delete(onWake);
        if (set.size === 0) listeners.delete(key);
      };
    },
    async rate(r: RateRequest): Promise<RateResult> {
      const [ok, retry, at] = await redis.coordRate(`${prefix}:rate:{${r.key}}`, r.cost, r.emissionMs, r.burst);
      return { admitted: ok === 1, retryAfterMs: Number(retry), at: Number(at) };
    },
    async close() {
      listeners.clear();
      const sub = subscriber;
      subscriber = null;
      if (sub) await sub.quit().catch(() => sub.disconnect());
      if (owned) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
