// `sluice worker --prefetch`: a worker takes attempts ahead of its free slots and starts each the
// moment a slot frees. Its slots are never exceeded, pools hold (a queued attempt holds its pool),
// and what it holds but has not started goes back at once when it stops or the run is cancelled.
// Real processes, the local PostgreSQL.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import type { WorkerInfo } from "../../src/store/types.js";
import pg from "pg";
import { TEST_DATABASE_URL } from "../support/pg.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { storeAttempts, storeRuns } from "../support/store.js";
import { waitFor, type Observation } from "./helpers.js";

const PREFETCH = fileURLToPath(new URL("../fixtures/distributed/prefetch.config.ts", import.meta.url));

// Runs and attempts are read from the store: a `sluice runs`/`history` process per look cost ~0.4 s of CPU.
const pgBoxes = pgSandboxes("prefetch");
afterAll(pgBoxes.dispose);

async function unreleased(schema: string): Promise<number> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".attempts WHERE released_at IS NULL`)).rows[0]?.n ?? -1;
  } finally {
    await c.end();
  }
}

/** Most attempts running at once per process, and on the pool, from the observations. */
function peaks(obs: readonly Observation[]): { perPid: Map<number, number>; pool: number } {
  const events = obs.filter((o) => o.event === "start" || o.event === "end").sort((a, b) => a.t - b.t || (a.event === "end" ? -1 : 1));
  const now = new Map<number, number>();
  const perPid = new Map<number, number>();
  let pool = 0;
  let poolPeak = 0;
  for (const e of events) {
    const d = e.event === "start" ? 1 : -1;
    now.set(e.pid, (now.get(e.pid) ?? 0) + d);
    perPid.set(e.pid, Math.max(perPid.get(e.pid) ?? 0, now.get(e.pid) ?? 0));
    if (e.pools) {
      pool += d;
      poolPeak = Math.max(poolPeak, pool);
    }
  }
  return { perPid, pool: poolPeak };
}

const ended = (runs: RunRecord[]) => runs.length > 0 && runs.every((r) => r.state !== "running" && r.state !== "queued");

describe("sluice worker --prefetch", () => {
  it("runs at most --concurrency at once, keeps the pool's limit, runs every task once; sluice workers shows the prefetch", async () => {
    const box = await pgBoxes.create();
    // The scheduler and both workers start at once (a worker may come before its scheduler).
    const [scheduler, w1, w2] = await Promise.all([
      box.started(["scheduler", PREFETCH]),
      box.started(["worker", PREFETCH, "--name", "w1", "--prefetch", "4"]),
      box.started(["worker", PREFETCH, "--name", "w2", "--prefetch", "4"]),
    ]);
    const workers = await box.json<WorkerInfo[]>(["workers"]);
    expect(workers.map((w) => [w.name, w.slots, w.prefetch])).toEqual([
      ["w1", 2, 4],
      ["w2", 2, 4],
    ]);
    for (const t of await Promise.all([1, 2, 3].map(() => box.cli(["trigger", "short"])))) expect(t.code, t.stderr).toBe(0);
    const runs = await waitFor(async () => {
      const r = await storeRuns(box.db);
      return r.length === 3 && ended(r) ? r : undefined;
    }, "the three runs to end", { timeoutMs: 60_000, intervalMs: 500 });
    expect(runs.map((r) => r.state)).toEqual(["success", "success", "success"]);
    const obs = box.observations();
    const starts = obs.filter((o) => o.event === "start");
    expect(starts).toHaveLength(90);
    expect(new Set(starts.map((o) => `${o.run}/${o.task}`)).size).toBe(90);
    const { perPid, pool } = peaks(obs);
    for (const [pid, peak] of perPid) expect(peak, `attempts at once in worker ${pid}`).toBeLessThanOrEqual(2);
    expect(pool).toBeLessThanOrEqual(3);
    // Every completion was taken in once: the scheduler refused no report (it used to refuse, and
    // warn about, completions it read twice before a turn took them in).
    expect(scheduler.logs().filter((l) => /refused/.test(String(l.msg)))).toEqual([]);
    for (const p of [w1, w2, scheduler]) p.kill("SIGTERM");
    for (const p of [w1, w2, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 120_000);

  it("SIGTERM hands the attempts a worker holds but has not started back at once: they run on another worker", async () => {
    const box = await pgBoxes.create();
    // A shutdown timeout past anything this test waits for: a's two running tasks must end on a.
    const [scheduler, a] = await Promise.all([
      box.started(["scheduler", PREFETCH, "--lease-ttl", "30s"]),
      box.started(["worker", PREFETCH, "--name", "a", "--prefetch", "4", "--lease-ttl", "30s", "--shutdown-timeout", "80s"]),
    ]);
    expect((await box.cli(["trigger", "held"])).code).toBe(0);
    // Two run on a, four wait in its queue.
    await box.waitForObservation((o) => (o.filter((x) => x.event === "start").length === 2 ? true : undefined), "two held tasks to start on a");
    await waitFor(async () => {
      const held = (await storeAttempts(box.db)).filter((x) => x.state === "running" && x.workerId === "a");
      return held.length === 6 ? held : undefined;
    }, "a to hold all six attempts");
    const b = await box.started(["worker", PREFETCH, "--name", "b", "--lease-ttl", "30s"]);
    a.kill("SIGTERM");
    // Long before the 30 s lease (within 25 s of the signal, a loaded machine included): the four queued ones move to b (two start, two wait for its slots).
    await box.waitForObservation((o) => (o.filter((x) => x.event === "start" && x.pid !== o[0]?.pid).length === 2 ? true : undefined), "two handed-back tasks to start on b", 25_000);
    writeFileSync(join(box.dir, "go"), "");
    const runs = await waitFor(async () => {
      const r = await storeRuns(box.db);
      return ended(r) ? r : undefined;
    }, "the run to end", { timeoutMs: 30_000 });
    expect(runs.map((r) => r.state)).toEqual(["success"]);
    expect((await a.exited).code, a.describe()).toBe(0);
    const attempts = await storeAttempts(box.db);
    // The two that ran on a finished there; the four handed back ran on b: the scheduler had given
    // them to a, which gave them back to the queue unstarted, so they are the same attempts (no
    // retry spent, nothing recorded lost).
    expect(attempts.filter((x) => x.state === "success" && x.workerId === "a")).toHaveLength(2);
    expect(attempts.filter((x) => x.state === "success" && x.workerId === "b")).toHaveLength(4);
    expect(attempts).toHaveLength(6);
    const obs = box.observations();
    expect(obs.filter((o) => o.event === "start")).toHaveLength(6);
    for (const p of [b, scheduler]) p.kill("SIGTERM");
    for (const p of [b, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 120_000);

  it("cancelling a run drops its queued attempts: they never start, and their pools come back", async () => {
    const box = await pgBoxes.create();
    const [scheduler, w] = await Promise.all([box.started(["scheduler", PREFETCH]), box.started(["worker", PREFETCH, "--name", "w", "--prefetch", "4", "--lease-ttl", "3s"])]);
    const t = await box.cli(["trigger", "held", "--json"]);
    const runId = (JSON.parse(t.stdout) as RunRecord).id;
    await box.waitForObservation((o) => (o.filter((x) => x.event === "start").length === 2 ? true : undefined), "two held tasks to start");
    expect((await box.cli(["cancel", String(runId)])).code).toBe(0);
    // The two running ones hold their slots (they ignore the abort until the go-ahead): the four
    // queued ones are dropped at the worker's next heartbeat and reported released.
    await waitFor(async () => ((await unreleased(box.schema)) === 2 ? true : undefined), "the four queued attempts to be released", { timeoutMs: 20_000 });
    writeFileSync(join(box.dir, "go"), "");
    const runs = await waitFor(async () => {
      const r = await storeRuns(box.db);
      return ended(r) ? r : undefined;
    }, "the run to end", { timeoutMs: 30_000 });
    expect(runs[0]?.state).toBe("cancelled");
    const att = await storeAttempts(box.db);
    expect(att.map((x) => x.state)).toEqual(Array(6).fill("cancelled"));
    // The four that waited on the worker were reported released without running (the scheduler
    // holds a cancelled attempt's resources until its worker says it let go), and only the two
    // that ran ever started.
    await waitFor(async () => ((await unreleased(box.schema)) === 0 ? true : undefined), "every attempt to be released", { timeoutMs: 20_000, describe: () => `${w.describe()}\n${scheduler.describe()}` });
    expect(box.observations().filter((o) => o.event === "start")).toHaveLength(2);

    // Cancelled again, and let go at once: the running ones finish, and queued ones may start and
    // finish, before the worker hears of the cancel. Their completions are refused, and they are
    // reported released all the same: nothing stays held.
    rmSync(join(box.dir, "go"));
    const again = (JSON.parse((await box.cli(["trigger", "held", "--json"])).stdout) as RunRecord).id;
    await box.waitForObservation((o) => (o.filter((x) => x.event === "start" && x.run === again).length >= 2 ? true : undefined), "the second run's tasks to start");
    expect((await box.cli(["cancel", String(again)])).code).toBe(0);
    writeFileSync(join(box.dir, "go"), "");
    await waitFor(async () => ((await unreleased(box.schema)) === 0 ? true : undefined), "every attempt of the second run to be released", { timeoutMs: 20_000 });
    for (const p of [w, scheduler]) p.kill("SIGTERM");
    for (const p of [w, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 90_000);
});
