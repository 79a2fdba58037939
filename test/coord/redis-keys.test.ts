/**
 * Redis keys of a semaphore: holders and queue expire on their own when unused, but the fencing
 * counter never does, so a fencing token keeps growing after any idle period.
 */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { Semaphore } from "../../src/coord/index.js";
import { TEST_REDIS_URL } from "../support/redis.js";
import { backendFixture } from "./backends.js";

const fixture = backendFixture("redis", "keys");
const backend = fixture.open();
const redis = new Redis(TEST_REDIS_URL);
afterAll(async () => {
  await backend.close();
  await redis.quit();
  await fixture.drop();
});

it("the fencing counter has no expiry; holder keys do", async () => {
  const sem = new Semaphore({ backend, name: "idle", limit: 1 });
  const first = await sem.acquire();
  const prefix = fixture.where[2]!;
  expect(await redis.pttl(`${prefix}:sem:{idle}:f`)).toBe(-1);
  expect(await redis.pttl(`${prefix}:sem:{idle}:h`)).toBeGreaterThan(0);
  await first.release();
  // Simulate a long idle period: everything that may expire has expired.
  for (const k of ["h", "p", "q", "qx"]) await redis.del(`${prefix}:sem:{idle}:${k}`);
  const next = await sem.acquire();
  expect(next.fencingToken).toBeGreaterThan(first.fencingToken);
  await next.release();
});
