/**
 * sluice/coord benchmark: acquire/release throughput and release-to-next-holder latency per
 * backend, beside the `redis-semaphore` npm package on the same Redis.
 *
 * Method (printed with the figures):
 * - uncontended: one client, `acquire()` then `release()` in a loop, N times; ops/s.
 * - contended: 8 concurrent clients (each its own backend connection) on a 3-permit semaphore,
 *   N acquisitions in total; ops/s.
 * - handoff latency: A holds the only permit, B waits (own connection); A releases at t0, B holds
 *   at t1; t1 − t0 over R rounds, median and p95. Both in this process, so one clock.
 *
 * Run: npx tsx bench/coord.ts   (SLUICE_TEST_DATABASE_URL, SLUICE_TEST_REDIS_URL as for tests)
 */
import { Redis } from "ioredis";
import pg from "pg";
import RedisSemaphore from "redis-semaphore";
import { memoryBackend, postgresBackend, redisBackend, Semaphore, type CoordBackend } from "../src/coord/index.js";

const PG_URL = process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const N = Number(process.env.N ?? 2_000);
const ROUNDS = Number(process.env.ROUNDS ?? 50);
const CLIENTS = 8;
const RUN = `bench-${process.pid}-${Date.now().toString(36)}`;

interface Lock {
  acquire(): Promise<() => Promise<void>>;
}
type Subject = { name: string; lock(name: string, limit: number, client: number): Lock; close(): Promise<void> };

function sluiceSubject(name: string, open: () => CoordBackend): Subject {
  const backends = new Map<number, CoordBackend>();
  const backend = (client: number): CoordBackend => {
    let b = backends.get(client);
    if (!b) backends.set(client, (b = open()));
    return b;
  };
  return {
    name,
    lock: (key, limit, client) => {
      const sem = new Semaphore({ backend: backend(client), name: key, limit });
      return {
        acquire: async () => {
          const p = await sem.acquire();
          return () => p.release();
        },
      };
    },
    close: async () => {
      for (const b of new Set(backends.values())) await b.close();
    },
  };
}

function redisSemaphoreSubject(): Subject {
  const clients = new Map<number, Redis>();
  const client = (i: number): Redis => {
    let c = clients.get(i);
    if (!c) clients.set(i, (c = new Redis(REDIS_URL)));
    return c;
  };
  return {
    name: "redis-semaphore 5.8 (defaults: retryInterval 10 ms)",
    lock: (key, limit, i) => ({
      acquire: async () => {
        const sem = new RedisSemaphore.Semaphore(client(i), `${RUN}:rs:${key}`, limit, { acquireTimeout: 60_000 });
        await sem.acquire();
        return () => sem.release();
      },
    }),
    close: async () => {
      for (const c of clients.values()) await c.quit();
    },
  };
}

async function uncontended(s: Subject): Promise<number> {
  const lock = s.lock("uncontended", 1, 0);
  for (let i = 0; i < 50; i++) await (await lock.acquire())(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await (await lock.acquire())();
  return N / ((performance.now() - t0) / 1000);
}

async function contended(s: Subject): Promise<number> {
  let left = N;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const lock = s.lock("contended", 3, c);
      while (left-- > 0) await (await lock.acquire())();
    }),
  );
  return N / ((performance.now() - t0) / 1000);
}

async function handoff(s: Subject): Promise<number[]> {
  const a = s.lock("handoff", 1, 0);
  const b = s.lock("handoff", 1, 1);
  const latencies: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const releaseA = await a.acquire();
    let t1 = 0;
    const waiter = b.acquire().then((release) => {
      t1 = performance.now();
      return release;
    });
    // B is waiting; a random extra delay so a poller's retry timer is not in step with the release.
    await new Promise((res) => setTimeout(res, 20 + Math.random() * 20));
    const t0 = performance.now();
    await releaseA();
    await (await waiter)();
    latencies.push(t1 - t0);
  }
  return latencies.sort((x, y) => x - y);
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const subjects: Subject[] = [
  sluiceSubject("sluice/coord memory", () => memoryBackendShared()),
  sluiceSubject("sluice/coord postgres", () => postgresBackend({ pool: new pg.Pool({ connectionString: PG_URL, max: 2 }), schema: `${RUN.replaceAll("-", "_")}` })),
  sluiceSubject("sluice/coord redis", () => redisBackend({ redis: REDIS_URL, prefix: RUN })),
  redisSemaphoreSubject(),
];
let sharedMemory: CoordBackend | null = null;
function memoryBackendShared(): CoordBackend {
  return (sharedMemory ??= memoryBackend());
}

console.log(`sluice/coord benchmark — node ${process.version}, ${new Date().toISOString()}`);
console.log(`method: uncontended = 1 client, ${N} acquire+release; contended = ${CLIENTS} clients (own connections) on a 3-permit semaphore, ${N} in total;`);
console.log(`        handoff = A releases, B (already waiting, own connection) holds: t1 − t0 over ${ROUNDS} rounds (release 20-40 ms after B starts waiting), same process clock.\n`);
console.log(["backend", "uncontended ops/s", "contended ops/s", "handoff median ms", "handoff p95 ms"].join(" | "));
for (const s of subjects) {
  const u = await uncontended(s);
  const c = await contended(s);
  const h = await handoff(s);
  console.log([s.name, u.toFixed(0), c.toFixed(0), pct(h, 0.5).toFixed(2), pct(h, 0.95).toFixed(2)].join(" | "));
  await s.close();
}

// Clean up: the PostgreSQL schema and the Redis keys of this run.
const client = new pg.Client({ connectionString: PG_URL });
await client.connect();
await client.query(`DROP SCHEMA IF EXISTS "${RUN.replaceAll("-", "_")}" CASCADE`);
await client.end();
const redis = new Redis(REDIS_URL);
const keys = await redis.keys(`${RUN}:*`);
if (keys.length > 0) await redis.del(...keys);
await redis.quit();
