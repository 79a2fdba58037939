/**
 * Cross-process guarantees on the backends processes can share (PostgreSQL, Redis), with real
 * child processes and an independent observer (a Redis counter, one clock for all):
 * - 6 processes × 200 acquisitions of a 3-permit semaphore: never more than 3 holders;
 * - waiters from 5 processes are served in the order they queued;
 * - a SIGKILLed holder's permit returns within TTL + renew interval;
 * - every() with `exclusive` across 3 processes: never two cycles anywhere at once;
 * - a rate limiter across 4 processes: in any window, admitted events stay within the budget.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { Semaphore, type CoordBackend } from "../../src/coord/index.js";
import { TEST_REDIS_URL, dropPrefixes, freshPrefix } from "../support/redis.js";
import { backendFixture } from "./backends.js";
import { spawnChild } from "./spawn.js";

const observer = new Redis(TEST_REDIS_URL, { lazyConnect: true });
const observed: string[] = [];

/** The cross-process suite for one backend (one *.serial.test.ts file per backend keeps each under a minute). */
export function crossProcessSuite(kind: "postgres" | "redis"): void {
  describe(`${kind} backend, several processes`, () => {
    const fixture = backendFixture(kind, "procs");
    const backends: CoordBackend[] = [];
    afterAll(async () => {
      for (const b of backends) await b.close();
      await fixture.drop();
      await dropPrefixes(...observed);
      await observer.quit();
    });
    const obs = (): string => {
      const p = freshPrefix(`obs-${kind}`);
      observed.push(p);
      return p;
    };

    it("6 processes × 200 acquisitions of a 3-permit semaphore: never more than 3 holders", { timeout: 120_000 }, async () => {
      const prefix = obs();
      const children = Array.from({ length: 6 }, () => spawnChild(["loop", TEST_REDIS_URL, prefix, ...fixture.where], { iterations: 200, limit: 3, holdMs: 1 }));
      const outputs = await Promise.all(children.map((c) => c.done));
      const maxima = outputs.map((o) => Number(/max (\d+)/.exec(o)?.[1]));
      expect(Math.max(...maxima)).toBeLessThanOrEqual(3);
      // Not vacuous: the permits were really contended.
      expect(Math.max(...maxima)).toBe(3);
      expect(await observer.get(`${prefix}:holders`)).toBe("0");
    });

    it("waiters in 5 processes are served in the order they queued (FIFO)", { timeout: 60_000 }, async () => {
      const prefix = obs();
      const backend = fixture.open();
      backends.push(backend);
      const sem = new Semaphore({ backend, name: "fifo", limit: 1 });
      const held = await sem.acquire();
      // All five start at once (a process start is most of this test's time); each joins the queue
      // when told to, the next one only once the one before is in the queue.
      const children = Array.from({ length: 5 }, (_, index) => spawnChild(["queue", TEST_REDIS_URL, prefix, ...fixture.where], { index }));
      for (let index = 0; index < 5; index++) {
        await observer.rpush(`${prefix}:go:${index}`, "go");
        await waitFor(async () => (await queueLength(kind, fixture.where, "fifo")) === index + 1);
      }
      await held.release();
      await Promise.all(children.map((c) => c.done));
      expect(await observer.lrange(`${prefix}:order`, 0, -1)).toEqual(["0", "1", "2", "3", "4"]);
    });

    it("a SIGKILLed holder's permit returns within TTL + renew interval", { timeout: 60_000 }, async () => {
      const leaseMs = 1_500;
      const backend = fixture.open();
      backends.push(backend);
      const sem = new Semaphore({ backend, name: "crash", limit: 1, leaseMs });
      const holder = spawnChild(["hold", TEST_REDIS_URL, "-", ...fixture.where], { leaseMs });
      const token = Number((await holder.line(/^held \d+/)).split(" ")[1]);
      // Let it renew a few times first: the permit must outlive its first lease while the holder lives.
      await new Promise((r) => setTimeout(r, leaseMs * 1.5));
      expect(await sem.tryAcquire()).toBeNull();
      const killedAt = Date.now();
      holder.process.kill("SIGKILL");
      const permit = await sem.acquire({ timeout: 10_000 });
      const waited = Date.now() - killedAt;
      expect(permit.fencingToken).toBeGreaterThan(token);
      // Renewed at most leaseMs/3 before the kill, so it lapses at most leaseMs after it; a waiter
      // notices within one fallback poll (≤ leaseMs/3). 300 ms of slack for a loaded machine.
      expect(waited).toBeLessThanOrEqual(leaseMs + leaseMs / 3 + 300);
      expect(waited).toBeGreaterThanOrEqual(leaseMs - leaseMs / 3 - 50);
      await permit.release();
      await holder.done.catch(() => {});
    });

    it("every() with `exclusive` across 3 processes: never two cycles anywhere at once", { timeout: 60_000 }, async () => {
      const prefix = obs();
      const children = Array.from({ length: 3 }, () => spawnChild(["every", TEST_REDIS_URL, prefix, ...fixture.where], { intervalMs: 10, workMs: 30, runMs: 2_000 }));
      const outputs = await Promise.all(children.map((c) => c.done));
      const cycles = outputs.map((o) => Number(/cycles (\d+)/.exec(o)?.[1]));
      expect(await observer.get(`${prefix}:overlap`)).toBeNull();
      // Not vacuous: cycles ran, back to back.
      expect(cycles.reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
    });

    it("a rate limiter across 4 processes keeps every window within the budget", { timeout: 60_000 }, async () => {
      const prefix = obs();
      const limit = 40;
      const intervalMs = 1_000;
      const burst = 5;
      const children = Array.from({ length: 4 }, () => spawnChild(["rate", TEST_REDIS_URL, prefix, ...fixture.where], { limit, intervalMs, burst, runMs: 2_500 }));
      await Promise.all(children.map((c) => c.done));
      const at = (await observer.lrange(`${prefix}:rate`, 0, -1)).map(Number).sort((a, b) => a - b);
      const T = intervalMs / limit;
      // GCRA's promise: events i..j (sorted by the backend's clock) satisfy j − i + 1 ≤ burst + (t_j − t_i) / T.
      for (let i = 0; i < at.length; i++) {
        for (let j = i; j < at.length && at[j]! - at[i]! <= intervalMs; j++) {
          expect(j - i + 1, `events ${i}..${j} within ${at[j]! - at[i]!} ms`).toBeLessThanOrEqual(burst + (at[j]! - at[i]!) / T + 1e-6);
        }
      }
      // Not vacuous: the budget was used, and it was the limiter that held them back.
      expect(at.length).toBeGreaterThan(burst + ((at.at(-1)! - at[0]!) / T) * 0.5);
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waiters queued on semaphore `name`, read straight from the backend's storage. */
async function queueLength(kind: "postgres" | "redis", where: string[], name: string): Promise<number> {
  const [, url, ns] = where;
  if (kind === "redis") {
    return observer.zcard(`${ns}:sem:{${name}}:q`);
  }
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${ns}".waiters WHERE name = $1`, [name]);
    return Number(r.rows[0]?.n);
  } finally {
    await client.end();
  }
}
