/**
 * The scheduler with worker processes (remote mode), on PostgreSQL: which worker a started attempt
 * is given to. The workers are registered by hand; the test reads the dispatch rows.
 */
import { hostname } from "node:os";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { restoredEngine } from "../../src/cli/context.js";
import { describeReason } from "../../src/observe/describe.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import { PgStore } from "../../src/store/pg/pg-store.js";
import { config, pipeline, task } from "../core/fixtures.js";
import { dropSchemas, freshSchema, pgUrl, TEST_DATABASE_URL } from "../support/pg.js";

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

async function givenTo(schema: string): Promise<Array<string | null>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<{ worker: string | null }>(`SELECT worker FROM "${schema}".dispatch WHERE queue IS NOT NULL ORDER BY attempt_id`)).rows.map((r) => r.worker);
  } finally {
    await client.end();
  }
}

it("gives started attempts to workers with a free slot first, in turns, then to prefetch room, and starts no more than the workers have room for", async () => {
  const schema = freshSchema("give");
  schemas.push(schema);
  const store = await PgStore.open(parsePgUrl(pgUrl(schema)));
  const now = Date.now();
  const worker = { host: hostname(), pid: process.pid, queues: ["default"], memoryMb: null, fingerprint: "test", avoid: [], startedAt: now, heartbeatAt: now };
  // Room: a has 1 slot and 2 in its prefetch queue, b has 2 slots.
  await store.registerWorker({ ...worker, name: "a", slots: 1, prefetch: 2 }, 60_000);
  await store.registerWorker({ ...worker, name: "b", slots: 2 }, 60_000);
  const cfg = config({ parallelism: 100, pipelines: [pipeline("etl", Array.from({ length: 6 }, (_, i) => task("etl", `t${i}`)))] });
  const scheduler = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20, remote: { store, leaseTtlMs: 60_000, pollMs: 100 } });
  await scheduler.start();
  try {
    await scheduler.trigger("etl");
    let given: Array<string | null> = [];
    for (const end = Date.now() + 5_000; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) {
      given = await givenTo(schema);
      if (given.length === 5) break;
    }
    // Capacity is 1 + 2 + 2 = 5: five start, each placed on a worker by admission. The three
    // free slots first (b, a, b in some turn order: b has the most free slots), then a's
    // prefetch room; the sixth waits in admission, not in a queue to be claimed.
    expect(given).toHaveLength(5);
    expect(given.slice(0, 3).sort()).toEqual(["a", "b", "b"]);
    expect(given.slice(3)).toEqual(["a", "a"]);
  } finally {
    await scheduler.stop(Date.now());
  }
  // A scheduler that takes over counts what each worker holds from the attempts recorded on it
  // (they still run there): the workers are full, and the sixth task still waits. (It used to
  // start counting from nothing, and gave the sixth to a worker with no room for it.)
  const next = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20, remote: { store, leaseTtlMs: 60_000, pollMs: 100 } });
  await next.start();
  try {
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await givenTo(schema)).toHaveLength(5);
    const engine = await restoredEngine(cfg, store, Date.now());
    const waiting = engine.explain(1).filter((t) => t.state === "ready");
    expect(waiting).toHaveLength(1);
    expect(waiting[0]?.reasons.map((r) => describeReason(r))).toEqual([expect.stringMatching(/^waiting for a worker on queue default: 0 of 5 slots free on 2 workers — held by /)]);
    // One of a's attempts ends: a has room again, b still has none, and the sixth goes to a.
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    const [done] = (await client.query<{ id: number; token: number }>(`SELECT id, fencing_token AS token FROM "${schema}".attempts WHERE worker_id = 'a' AND state = 'running' ORDER BY id LIMIT 1`)).rows;
    await client.end();
    expect(await store.completeAttempts([{ attemptId: Number(done?.id), fencingToken: Number(done?.token), outcome: { state: "success", output: null }, endedAt: Date.now() }])).toEqual([true]);
    let after: Array<string | null> = [];
    for (const end = Date.now() + 5_000; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) {
      after = await givenTo(schema);
      if (after.length === 5 && after.filter((w) => w === "a").length === 3) break;
    }
    expect(after.sort()).toEqual(["a", "a", "a", "b", "b"]);
  } finally {
    await next.stop(Date.now());
    await store.close();
  }
});
