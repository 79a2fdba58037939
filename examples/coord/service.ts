/**
 * A long-running service loop: every 2 s a cycle syncs 5 items through a partner API that allows
 * 2 calls at once (Semaphore) and 8 calls per second (RateLimiter), shared by every replica through
 * Redis. Start it in two terminals: the exclusive mutex keeps the replicas' cycles apart, and the
 * semaphore and limiter hold for both together. Ctrl-C stops it after the cycle in flight.
 *
 * Run: node --import tsx examples/coord/service.ts   (REDIS_URL, default redis://127.0.0.1:6379)
 *      add `postgres` to use PostgreSQL instead (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 */
import { pino } from "pino";
import { every, Mutex, postgresBackend, RateLimiter, redisBackend, Semaphore } from "sluice/coord";

const logger = pino({ base: undefined });
const backend =
  process.argv[2] === "postgres"
    ? postgresBackend({ pool: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test", schema: "sluice_coord_example" })
    : redisBackend({ redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", prefix: "sluice:coord:example" });

const api = new Semaphore({ backend, name: "partner-api", limit: 2 });
const quota = new RateLimiter({ backend, name: "partner-api", limit: 8, intervalMs: 1_000 });
const cycleLock = new Mutex({ backend, name: "sync-cycle" });

async function callPartnerApi(item: number, fencingToken: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
  logger.info({ item, fencingToken }, "synced");
}

const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());

const loop = every(
  2_000,
  async ({ signal }) => {
    await Promise.all(
      [1, 2, 3, 4, 5].map(async (item) => {
        await quota.take({ signal });
        await using permit = await api.acquire({ timeout: 10_000, signal });
        await callPartnerApi(item, permit.fencingToken);
      }),
    );
  },
  { name: "sync", exclusive: cycleLock, signal: stop.signal, logger },
);

await loop.stopped;
await backend.close();
logger.info("stopped");
