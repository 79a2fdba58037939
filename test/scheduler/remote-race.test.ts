/**
 * The scheduler with worker processes (remote mode), on PostgreSQL, with the worker's side driven
 * by hand through the store, to place a report exactly where a race puts it.
 */
import { hostname } from "node:os";
import { afterAll, expect, it } from "vitest";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import { PgStore } from "../../src/store/pg/pg-store.js";
import type { ClaimedWork, WorkerStore } from "../../src/store/types.js";
import { config, pipeline, task } from "../core/fixtures.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

/** The worker side: the work the scheduler gave w1, or else any of its queue it can claim. */
async function claimOne(store: PgStore, startedAt: number, ms = 5_000): Promise<ClaimedWork | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const [work] = [...(await store.assignedWork("w1", startedAt, 0)), ...(await store.claimWork("w1", ["default"], 1, null, [], Date.now(), Date.now() + 60_000)).work];
    if (work) return work;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

it("a worker's end read while the run is being cancelled: the end is refused, and the release that follows still gives the pool back", async () => {
  const schema = freshSchema("race");
  schemas.push(schema);
  const store = await PgStore.open(parsePgUrl(pgUrl(schema)));
  const now = Date.now();
  await store.registerWorker({ name: "w1", host: hostname(), pid: process.pid, queues: ["default"], slots: 4, memoryMb: null, fingerprint: "test", avoid: [], startedAt: now, heartbeatAt: now }, 60_000);
  const cfg = config({ pools: { db: 1 }, pipelines: [pipeline("etl", [task("etl", "a", { pools: { db: 1 } })])] });
  // The cancel reaches the scheduler between its read of the worker's report and the turn that
  // takes the report in: the turn cancels the run first, so the report is for an attempt that no
  // longer runs (it drains until its worker says the function settled, which it already has).
  let cancelAtRead: number | undefined;
  const late: { scheduler?: Scheduler } = {};
  const remote = new Proxy(store, {
    get(target, key) {
      if (key === "remoteStates") {
        return async (ids: readonly number[]) => {
          const states = await target.remoteStates(ids);
          if (cancelAtRead !== undefined && states.some((s) => s.state === "success")) {
            void late.scheduler?.cancel(cancelAtRead);
            cancelAtRead = undefined;
          }
          return states;
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as WorkerStore;
  const scheduler = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20, remote: { store: remote, leaseTtlMs: 60_000, pollMs: 100 } });
  late.scheduler = scheduler;
  const refused: string[] = [];
  scheduler.on("refused", (r) => refused.push(r.reason));
  await scheduler.start();
  try {
    const first = await scheduler.trigger("etl");
    const work = await claimOne(store, now);
    expect(work).toBeDefined();
    cancelAtRead = first;
    await store.completeAttempts([{ attemptId: work?.attemptId ?? 0, fencingToken: work?.fencingToken ?? 0, outcome: { state: "success", output: null }, endedAt: Date.now() }]);
    await expect.poll(() => store.getRun(first).then((r) => r?.state), { timeout: 5_000 }).toBe("cancelled");
    expect(refused).toHaveLength(1); // the end came too late: the run was cancelled

    // The only slot of pool db came back: the next run's task is admitted and dispatched.
    const second = await scheduler.trigger("etl");
    const next = await claimOne(store, now);
    expect(next, "the pool's slot was never given back").toBeDefined();
    expect((await store.getAttempt(next?.attemptId ?? 0))?.runId).toBe(second);
  } finally {
    await scheduler.stop(Date.now());
    await store.close();
  }
});
