/**
 * The store conformance suite: what every {@link Store} must do, whatever database is behind it.
 * `test/store/sqlite.test.ts` runs it on SQLite; the PostgreSQL store will run it unchanged.
 *
 * Semantics pinned here (beyond the TSDoc of `src/store/types.ts`):
 * - `apply` is all or nothing. A write that would duplicate a record rejects with code
 *   `SLUICE_STORE_CONFLICT`; a write that changes (or points at) a record that does not exist
 *   rejects with `SLUICE_STORE_WRITE`.
 * - In `updateRun` / `updateTask` / `endAttempt`, an optional field left out keeps its value;
 *   an explicit `null` clears it.
 * - `completeAttempt` ends the attempt (state, endedAt, error) and on success stores the output on
 *   the task instance. Nothing else: the task instance's state and attempt count, the run, and the
 *   events are the scheduler's to write.
 * - A JSON value never written reads back as `null`. Lists: tasks by name, resources by key.
 * - An empty `states` / `types` filter is the same as leaving it out.
 *
 * @example
 * describeStoreConformance("sqlite", () => SqliteStore.open(tempFile()), {
 *   openPeer: (store) => SqliteStore.open((store as SqliteStore).path),
 * });
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { isWorkerStore, type AttemptLogLine } from "../../src/store/types.js";
import type { AttemptRecord, RunRecord, Store, StoreWrite } from "../../src/store/types.js";
import { MINUTE, T0, appendEvent, attemptRecord, createAttempt, createRun, eventRecord, runRecord, taskRecord } from "./fixtures.js";

/** Hooks of {@link describeStoreConformance}. */
export interface StoreConformanceHooks {
  /** Called after each test for each store it used, once the suite has closed it (drop a schema, delete a file). */
  cleanup?: (store: Store) => Promise<void> | void;
  /**
   * Opens a second, independent store on the same database as `store`, as another process would
   * (`sluice runs` while `sluice run` writes). Without it, that test is skipped.
   */
  openPeer?: (store: Store) => Promise<Store>;
  /**
   * The store backs the scheduler lease with an exclusive OS lock (SQLite): no other process can
   * take an expired lease while its holder lives, so the holder may keep using it after expiry.
   * The assertions about expired leases of a *living* holder are skipped.
   */
  exclusiveLease?: boolean;
}

/**
 * Declares the conformance suite for one store implementation.
 *
 * @param makeStore - Returns a fresh, empty, migrated store for each test.
 * @param hooks - A cleanup function, or {@link StoreConformanceHooks}.
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Promise<Store>,
  hooks: StoreConformanceHooks | StoreConformanceHooks["cleanup"] = {},
): void {
  const { cleanup, openPeer, exclusiveLease } = typeof hooks === "function" ? { cleanup: hooks, openPeer: undefined, exclusiveLease: false } : hooks;

  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let opened: Store[] = [];

    beforeEach(async () => {
      store = await makeStore();
      opened = [store];
    });

    afterEach(async () => {
      for (const s of opened.reverse()) {
        await s.close();
        await cleanup?.(s);
      }
    });

    describe("migrate", () => {
      it("is idempotent", async () => {
        await store.migrate();
        await store.migrate();
        await store.apply([createRun(1)]);
        expect(await store.getRun(1)).toEqual(runRecord(1));
      });
    });

    describe("apply", () => {
      it("accepts an empty batch", async () => {
        await store.apply([]);
        expect(await store.listRuns()).toEqual([]);
      });

      it("creates a run with its task instances", async () => {
        const run = runRecord(7, { params: { day: "2025-01-01", nested: { n: [1, 2] } }, trigger: "manual" });
        const tasks = [taskRecord(7, "load"), taskRecord(7, "extract", { state: "ready", readyAt: T0 })];
        await store.apply([{ type: "createRun", run, tasks }]);
        expect(await store.getRun(7)).toEqual(run);
        expect(await store.listTasks(7)).toEqual([tasks[1], tasks[0]]);
        expect(await store.getRun(8)).toBeUndefined();
        expect(await store.listTasks(8)).toEqual([]);
      });

      it("updates a run; left-out times keep their value, null clears", async () => {
        await store.apply([createRun(1), { type: "updateRun", id: 1, state: "running", startedAt: T0 + 5 }]);
        expect(await store.getRun(1)).toMatchObject({ state: "running", startedAt: T0 + 5, endedAt: null });
        await store.apply([{ type: "updateRun", id: 1, state: "success", endedAt: T0 + 9 }]);
        expect(await store.getRun(1)).toMatchObject({ state: "success", startedAt: T0 + 5, endedAt: T0 + 9 });
        await store.apply([{ type: "updateRun", id: 1, state: "queued", startedAt: null, endedAt: null }]);
        expect(await store.getRun(1)).toMatchObject({ state: "queued", startedAt: null, endedAt: null });
      });

      it("updates a task instance; left-out fields keep their value, null clears", async () => {
        await store.apply([
          createRun(1, ["a"]),
          { type: "updateTask", runId: 1, task: "a", state: "ready", readyAt: T0 + 1 },
          { type: "updateTask", runId: 1, task: "a", state: "running", attempts: 1 },
        ]);
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "a", { state: "running", attempts: 1, readyAt: T0 + 1 })]);
        await store.apply([{ type: "updateTask", runId: 1, task: "a", state: "success", readyAt: null, output: { rows: [1, 2] } }]);
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "a", { state: "success", attempts: 1, output: { rows: [1, 2] } })]);
      });

      it("creates and ends attempts, with the resources they hold", async () => {
        const resources = [{ key: "parallelism", amount: 1 }, { key: "pool:warehouse_db", amount: 2 }];
        await store.apply([createRun(1, ["a"]), createAttempt(10, 1, "a", { resources, progress: { pct: 5 } })]);
        expect(await store.getAttempt(10)).toEqual(attemptRecord(10, 1, "a", { resources, progress: { pct: 5 } }));

        const error = { message: "boom", stack: "at x", code: "E_BOOM" };
        await store.apply([{ type: "endAttempt", id: 10, state: "failed", endedAt: T0 + 99, error }]);
        expect(await store.getAttempt(10)).toEqual(
          attemptRecord(10, 1, "a", { resources, progress: { pct: 5 }, state: "failed", endedAt: T0 + 99, error }),
        );
        expect(await store.getAttempt(11)).toBeUndefined();
      });

      it("ends an attempt without an error", async () => {
        await store.apply([createRun(1, ["a"]), createAttempt(1, 1, "a"), { type: "endAttempt", id: 1, state: "lost", endedAt: T0 + 7 }]);
        expect(await store.getAttempt(1)).toMatchObject({ state: "lost", endedAt: T0 + 7, error: null });
      });

      it("records schedule decisions, adding up skipped cycles", async () => {
        await store.apply([{ type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0, skippedDelta: 0 }]);
        await store.apply([
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0 + MINUTE, skippedDelta: 2 },
          { type: "recordSchedule", pipeline: "bulk", lastScheduledFor: T0, skippedDelta: 1 },
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0 + 2 * MINUTE, skippedDelta: 1 },
        ]);
        expect(await store.listSchedules()).toEqual([
          { pipeline: "bulk", lastScheduledFor: T0, skipped: 1, pausedAt: null, backfillMaxActive: null },
          { pipeline: "etl", lastScheduledFor: T0 + 2 * MINUTE, skipped: 3, pausedAt: null, backfillMaxActive: null },
        ]);
      });

      it("records a pipeline's pause and backfill cap, each field only when given, in batches with schedule decisions", async () => {
        await store.apply([{ type: "controlPipeline", pipeline: "new", pausedAt: T0 }]);
        await store.apply([
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0, skippedDelta: 1 },
          { type: "controlPipeline", pipeline: "etl", backfillMaxActive: 3 },
          { type: "controlPipeline", pipeline: "etl", pausedAt: T0 + MINUTE },
        ]);
        expect(await store.listSchedules()).toEqual([
          { pipeline: "etl", lastScheduledFor: T0, skipped: 1, pausedAt: T0 + MINUTE, backfillMaxActive: 3 },
          { pipeline: "new", lastScheduledFor: null, skipped: 0, pausedAt: T0, backfillMaxActive: null },
        ]);
        await store.apply([
          { type: "controlPipeline", pipeline: "etl", pausedAt: null },
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0 + MINUTE, skippedDelta: 0 },
        ]);
        expect((await store.loadActiveState()).schedules.find((x) => x.pipeline === "etl")).toEqual({ pipeline: "etl", lastScheduledFor: T0 + MINUTE, skipped: 1, pausedAt: null, backfillMaxActive: 3 });
      });

      it("appends events with growing ids assigned by the store", async () => {
        const event = eventRecord({ runId: 1, task: "extract", attemptId: 3, message: "hi", data: { a: [1] }, level: "warn" });
        await store.apply([createRun(1), { type: "appendEvent", event }]);
        await store.apply([appendEvent({ id: 999, type: "run.created", pipeline: null })]);
        const events = await store.listEvents();
        expect(events).toHaveLength(2);
        const [first, second] = events;
        expect(first).toEqual({ ...event, id: first?.id });
        expect(second).toMatchObject({ type: "run.created", pipeline: null });
        expect(second?.id).toBeGreaterThan(first?.id ?? Infinity);
        expect(second?.id).not.toBe(999);
      });

      it("is atomic: a batch whose later write conflicts leaves nothing behind", async () => {
        await store.apply([createRun(1)]);
        const batch: StoreWrite[] = [
          createRun(2, ["a", "b"], { scheduledFor: T0 + 100 * MINUTE }),
          { type: "updateRun", id: 1, state: "running", startedAt: T0 },
          appendEvent({ runId: 2 }),
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0, skippedDelta: 1 },
          createRun(3, ["a"], { scheduledFor: T0 + 100 * MINUTE }),
        ];
        await expect(store.apply(batch)).rejects.toMatchObject({ code: "SLUICE_STORE_CONFLICT" });
        expect(await store.getRun(2)).toBeUndefined();
        expect(await store.listTasks(2)).toEqual([]);
        expect(await store.getRun(1)).toEqual(runRecord(1));
        expect(await store.listEvents()).toEqual([]);
        expect(await store.listSchedules()).toEqual([]);
        // The store is still usable after the rollback.
        await store.apply([batch[0] as StoreWrite]);
        expect(await store.getRun(2)).toMatchObject({ id: 2 });
      });

      it("is atomic: a write to a record that does not exist rejects the whole batch", async () => {
        const missing: StoreWrite[] = [
          { type: "updateRun", id: 42, state: "running" },
          { type: "updateTask", runId: 1, task: "nope", state: "ready" },
          { type: "endAttempt", id: 42, state: "lost", endedAt: T0 },
          createAttempt(5, 1, "nope"),
          createAttempt(5, 42, "a"),
        ];
        for (const write of missing) {
          await expect(store.apply([createRun(1, ["a"]), appendEvent(), write])).rejects.toMatchObject({ code: "SLUICE_STORE_WRITE" });
          expect(await store.getRun(1)).toBeUndefined();
          expect(await store.listEvents()).toEqual([]);
        }
      });

      it("rejects a duplicate run id or attempt id", async () => {
        await store.apply([createRun(1, ["a"]), createAttempt(1, 1, "a")]);
        await expect(store.apply([createRun(1, ["a"], { trigger: "manual" })])).rejects.toMatchObject({ code: "SLUICE_STORE_CONFLICT" });
        await expect(store.apply([createAttempt(1, 1, "a", { fencingToken: 50 })])).rejects.toMatchObject({ code: "SLUICE_STORE_CONFLICT" });
      });
    });

    describe("one run per schedule tick", () => {
      it("rejects a second scheduled or catch-up run for the same pipeline and time", async () => {
        await store.apply([createRun(1, ["a"], { scheduledFor: T0 })]);
        for (const trigger of ["schedule", "catchup"] as const) {
          await expect(store.apply([createRun(2, ["a"], { scheduledFor: T0, trigger })])).rejects.toMatchObject({
            code: "SLUICE_STORE_CONFLICT",
          });
        }
        expect((await store.listRuns()).map((r) => r.id)).toEqual([1]);
      });

      it("lets manual runs share a time, and other pipelines use the same tick", async () => {
        await store.apply([
          createRun(1, ["a"], { scheduledFor: T0 }),
          createRun(2, ["a"], { scheduledFor: T0, trigger: "manual" }),
          createRun(3, ["a"], { scheduledFor: T0, trigger: "manual" }),
          createRun(4, ["a"], { scheduledFor: T0, pipeline: "other" }),
        ]);
        expect((await store.listRuns()).map((r) => r.id)).toEqual([4, 3, 2, 1]);
      });
    });

    describe("leases", () => {
      beforeEach(async () => {
        await store.apply([
          createRun(1, ["a"]),
          { type: "updateTask", runId: 1, task: "a", state: "running", attempts: 1 },
          createAttempt(1, 1, "a", { fencingToken: 7, resources: [{ key: "pool:db", amount: 1 }] }),
        ]);
      });

      it("renewLease refuses a wrong token and changes nothing", async () => {
        const before = await store.getAttempt(1);
        expect(await store.renewLease(1, 6, T0 + 99_999, { pct: 50 })).toBe(false);
        expect(await store.renewLease(2, 7, T0 + 99_999)).toBe(false);
        expect(await store.getAttempt(1)).toEqual(before);
      });

      it("renewLease extends the lease with the right token and keeps progress when none is given", async () => {
        expect(await store.renewLease(1, 7, T0 + 60_000, { pct: 50 })).toBe(true);
        expect(await store.getAttempt(1)).toMatchObject({ leaseExpiresAt: T0 + 60_000, progress: { pct: 50 }, state: "running" });
        expect(await store.renewLease(1, 7, T0 + 90_000)).toBe(true);
        expect(await store.getAttempt(1)).toMatchObject({ leaseExpiresAt: T0 + 90_000, progress: { pct: 50 } });
      });

      it("renewLease refuses an attempt that is no longer running", async () => {
        await store.apply([{ type: "endAttempt", id: 1, state: "lost", endedAt: T0 + 5 }]);
        const before = await store.getAttempt(1);
        expect(await store.renewLease(1, 7, T0 + 60_000)).toBe(false);
        expect(await store.getAttempt(1)).toEqual(before);
      });

      it("completeAttempt refuses a wrong token and changes nothing", async () => {
        const before = await store.getAttempt(1);
        expect(await store.completeAttempt(1, 8, { state: "success", output: 1 }, T0 + 10)).toBe(false);
        expect(await store.completeAttempt(9, 7, { state: "success", output: 1 }, T0 + 10)).toBe(false);
        expect(await store.getAttempt(1)).toEqual(before);
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "a", { state: "running", attempts: 1 })]);
      });

      it("completeAttempt ends the attempt and stores the output, leaving task state to the scheduler", async () => {
        expect(await store.completeAttempt(1, 7, { state: "success", output: { rows: 3 } }, T0 + 10)).toBe(true);
        expect(await store.getAttempt(1)).toMatchObject({ state: "success", endedAt: T0 + 10, error: null, resources: [{ key: "pool:db", amount: 1 }] });
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "a", { state: "running", attempts: 1, output: { rows: 3 } })]);
        expect(await store.getRun(1)).toEqual(runRecord(1));
        // A zombie repeating the call, or a late failure report, changes nothing.
        expect(await store.completeAttempt(1, 7, { state: "failed", error: { message: "late" } }, T0 + 20)).toBe(false);
        expect(await store.getAttempt(1)).toMatchObject({ state: "success", endedAt: T0 + 10, error: null });
      });

      it("completeAttempt records a failure without touching the output", async () => {
        const error = { message: "timeout", code: "E_TIMEOUT" };
        expect(await store.completeAttempt(1, 7, { state: "timed_out", error }, T0 + 10)).toBe(true);
        expect(await store.getAttempt(1)).toMatchObject({ state: "timed_out", endedAt: T0 + 10, error });
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "a", { state: "running", attempts: 1 })]);
      });

      it("only the attempt's own token works while it runs (property)", async () => {
        await store.apply([createRun(2, ["b"]), { type: "updateTask", runId: 2, task: "b", state: "running" }]);
        let nextId = 100;
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.record({ complete: fc.boolean(), tokenOffset: fc.integer({ min: -2, max: 2 }) }), { minLength: 1, maxLength: 8 }),
            async (calls) => {
              const id = nextId++;
              await store.apply([createAttempt(id, 2, "b", { fencingToken: id })]);
              let running = true;
              for (const [i, { complete, tokenOffset }] of calls.entries()) {
                const ok = complete
                  ? await store.completeAttempt(id, id + tokenOffset, { state: "success", output: i }, T0 + i)
                  : await store.renewLease(id, id + tokenOffset, T0 + i);
                expect(ok).toBe(running && tokenOffset === 0);
                if (ok && complete) running = false;
              }
              expect((await store.getAttempt(id))?.state).toBe(running ? "running" : "success");
            },
          ),
          { numRuns: 30 },
        );
      });
    });

    describe("loadActiveState", () => {
      it("is empty with zero ids on a new store", async () => {
        expect(await store.loadActiveState()).toEqual({
          runs: [], tasks: [], attempts: [], draining: [], schedules: [], maxRunId: 0, maxAttemptId: 0, maxFencingToken: 0,
        });
      });

      it("returns active runs, their tasks, running attempts, schedules and the highest ids", async () => {
        const held = [{ key: "parallelism", amount: 1 }, { key: "pool:db", amount: 3 }];
        await store.apply([
          createRun(1, ["a"], { state: "success" }),
          createRun(2, ["a", "b"], { state: "running" }),
          createRun(3, ["a"], { state: "failed" }),
          createRun(4, ["c"], { state: "queued" }),
          createRun(5, ["a"], { state: "cancelled" }),
          createAttempt(1, 1, "a", { state: "success", fencingToken: 90 }),
          createAttempt(2, 2, "a", { fencingToken: 91, resources: held }),
          createAttempt(3, 2, "b", { state: "failed", fencingToken: 92 }),
          createAttempt(4, 2, "b", { fencingToken: 93 }),
          createAttempt(5, 3, "a", { fencingToken: 95, state: "lost" }),
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0, skippedDelta: 4 },
        ]);
        const state = await store.loadActiveState();
        expect(state.runs.map((r) => [r.id, r.state])).toEqual([[2, "running"], [4, "queued"]]);
        expect(state.tasks.map((t) => [t.runId, t.task])).toEqual([[2, "a"], [2, "b"], [4, "c"]]);
        expect(state.attempts).toEqual([
          attemptRecord(2, 2, "a", { fencingToken: 91, resources: held }),
          attemptRecord(4, 2, "b", { fencingToken: 93 }),
        ]);
        expect(state.schedules).toEqual([{ pipeline: "etl", lastScheduledFor: T0, skipped: 4, pausedAt: null, backfillMaxActive: null }]);
        expect(state).toMatchObject({ maxRunId: 5, maxAttemptId: 5, maxFencingToken: 95 });
      });
    });

    describe("lists", () => {
      it("listRuns filters by pipeline and states, newest first, 50 by default", async () => {
        const writes: StoreWrite[] = [];
        for (let id = 1; id <= 60; id++) {
          writes.push(createRun(id, ["a"], { pipeline: id % 2 === 0 ? "even" : "odd", state: id % 3 === 0 ? "running" : "success" }));
        }
        await store.apply(writes);
        const all = await store.listRuns();
        expect(all.map((r) => r.id)).toEqual(range(60, 11));
        expect((await store.listRuns({ limit: 3 })).map((r) => r.id)).toEqual([60, 59, 58]);
        expect((await store.listRuns({ pipeline: "odd", limit: 3 })).map((r) => r.id)).toEqual([59, 57, 55]);
        expect((await store.listRuns({ states: ["running"], limit: 3 })).map((r) => r.id)).toEqual([60, 57, 54]);
        expect((await store.listRuns({ pipeline: "even", states: ["running", "queued"], limit: 3 })).map((r) => r.id)).toEqual([60, 54, 48]);
        expect((await store.listRuns({ states: [], limit: 2 })).map((r) => r.id)).toEqual([60, 59]);
        expect(await store.listRuns({ pipeline: "none" })).toEqual([]);
        expect(all[0]).toEqual(runRecord(60, { pipeline: "even", state: "running" }));
      });

      it("listAttempts filters by run, pipeline and task, newest first, with resources", async () => {
        const held = [{ key: "pool:db", amount: 1 }];
        await store.apply([
          createRun(1, ["a", "b"]),
          createRun(2, ["a"], { pipeline: "other" }),
          createAttempt(1, 1, "a", { resources: held }),
          createAttempt(2, 1, "b"),
          createAttempt(3, 2, "a", { pipeline: "other" }),
          createAttempt(4, 1, "a", { attempt: 2 }),
        ]);
        const ids = async (q: Parameters<Store["listAttempts"]>[0]): Promise<number[]> => (await store.listAttempts(q)).map((a) => a.id);
        expect(await ids({})).toEqual([4, 3, 2, 1]);
        expect(await ids({ runId: 1 })).toEqual([4, 2, 1]);
        expect(await ids({ pipeline: "etl", task: "a" })).toEqual([4, 1]);
        expect(await ids({ pipeline: "other" })).toEqual([3]);
        expect(await ids({ runId: 1, task: "b" })).toEqual([2]);
        expect(await ids({ limit: 2 })).toEqual([4, 3]);
        expect((await store.listAttempts({ runId: 1 })).at(-1)).toEqual(attemptRecord(1, 1, "a", { resources: held }));
      });

      it("listEvents filters by afterId, run and types, oldest first, 1000 by default", async () => {
        const writes: StoreWrite[] = [createRun(1), createRun(2)];
        for (let i = 0; i < 1100; i++) {
          writes.push(appendEvent({ at: T0 + i, runId: (i % 2) + 1, type: i % 5 === 0 ? "pool.waiting" : "task.started", message: `e${i}` }));
        }
        await store.apply(writes);
        const page = await store.listEvents();
        expect(page).toHaveLength(1000);
        expect(page.map((e) => e.message).slice(0, 3)).toEqual(["e0", "e1", "e2"]);
        const afterId = page[9]?.id;
        expect((await store.listEvents({ afterId, limit: 2 })).map((e) => e.message)).toEqual(["e10", "e11"]);
        expect((await store.listEvents({ runId: 2, limit: 3 })).map((e) => e.message)).toEqual(["e1", "e3", "e5"]);
        expect((await store.listEvents({ types: ["pool.waiting"], limit: 3 })).map((e) => e.message)).toEqual(["e0", "e5", "e10"]);
        expect((await store.listEvents({ runId: 2, types: ["pool.waiting"], afterId, limit: 2 })).map((e) => e.message)).toEqual(["e15", "e25"]);
        expect((await store.listEvents({ types: [], limit: 1 })).map((e) => e.message)).toEqual(["e0"]);
        expect(await store.listEvents({ types: ["nothing"] })).toEqual([]);
        expect((await store.listEvents({ newestFirst: true, limit: 2 })).map((e) => e.message)).toEqual(["e1099", "e1098"]);
        expect((await store.listEvents({ types: ["pool.waiting"], newestFirst: true, limit: 2 })).map((e) => e.message)).toEqual(["e1095", "e1090"]);
      });

      it("keeps ctx.log lines per attempt in order, pages them, drops lines of attempts that do not exist, and deletes them with the run", async () => {
        await store.apply([createRun(1), createAttempt(1, 1, "extract")]);
        const line = (seq: number, extra: Partial<AttemptLogLine> = {}): AttemptLogLine => ({ attemptId: 1, seq, at: T0 + seq, level: "info", msg: `m${seq}`, data: null, ...extra });
        await store.appendAttemptLogs([line(1), line(2, { level: "warn", data: { rows: 3 } }), { ...line(1), attemptId: 999 }]);
        await store.appendAttemptLogs([line(3), line(2, { msg: "a repeat is ignored" })]);
        expect((await store.listAttemptLogs(1)).map((l) => [l.seq, l.level, l.msg, l.data])).toEqual([
          [1, "info", "m1", null],
          [2, "warn", "m2", { rows: 3 }],
          [3, "info", "m3", null],
        ]);
        expect((await store.listAttemptLogs(1, 1, 1)).map((l) => l.seq)).toEqual([2]);
        expect(await store.listAttemptLogs(999)).toEqual([]);
        await store.apply([{ type: "updateRun", id: 1, state: "success", startedAt: T0, endedAt: T0 }]);
        await store.prune(T0 + 1, 10);
        expect(await store.listAttemptLogs(1)).toEqual([]);
      });

      it("listEvents filters by pipeline", async () => {
        await store.apply([
          appendEvent({ type: "run.skipped", pipeline: "a", message: "a1" }),
          appendEvent({ type: "run.skipped", pipeline: "b", message: "b1" }),
          appendEvent({ type: "run.skipped", pipeline: "a", message: "a2" }),
        ]);
        expect((await store.listEvents({ pipeline: "a" })).map((e) => e.message)).toEqual(["a1", "a2"]);
        expect((await store.listEvents({ pipeline: "a", types: ["run.skipped"], newestFirst: true, limit: 1 })).map((e) => e.message)).toEqual(["a2"]);
      });

      it("paging with afterId returns every event exactly once, in order (property)", async () => {
        await store.apply(Array.from({ length: 37 }, (_, i) => appendEvent({ message: `e${i}` })));
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 40 }), async (pageSize) => {
            const seen: string[] = [];
            let afterId: number | undefined;
            for (;;) {
              const page = await store.listEvents({ afterId, limit: pageSize });
              if (page.length === 0) break;
              seen.push(...page.map((e) => e.message));
              afterId = page.at(-1)?.id;
            }
            expect(seen).toEqual(Array.from({ length: 37 }, (_, i) => `e${i}`));
          }),
          { numRuns: 15 },
        );
      });
    });

    describe("scheduler lease", () => {
      const claim = (owner: string, now: number, ttlMs = 10_000) => ({ owner, pid: process.pid, host: "conformance-host", ttlMs, now });

      it("is held by one owner at a time, until released or expired", async () => {
        expect(await store.acquireSchedulerLease(claim("a", T0))).toEqual({ acquired: true });
        const other = await store.acquireSchedulerLease(claim("b", T0 + 1));
        expect(other.acquired).toBe(false);
        expect(other.acquired ? "" : other.holder).toContain("a");
        // The holder may take it again (restart of the same owner) and renew it.
        expect(await store.acquireSchedulerLease(claim("a", T0 + 2))).toEqual({ acquired: true });
        expect(await store.renewSchedulerLease("a", T0 + 60_000)).toBe(true);
        expect(await store.renewSchedulerLease("b", T0 + 60_000)).toBe(false);
        expect((await store.acquireSchedulerLease(claim("b", T0 + 59_999))).acquired).toBe(false);
        // Expired: anyone may take it; the old owner can no longer renew.
        expect(await store.acquireSchedulerLease(claim("b", T0 + 60_000))).toEqual({ acquired: true });
        expect(await store.renewSchedulerLease("a", T0 + 90_000)).toBe(false);
        // Released by its owner only.
        await store.releaseSchedulerLease("a");
        expect((await store.acquireSchedulerLease(claim("c", T0 + 60_001))).acquired).toBe(false);
        await store.releaseSchedulerLease("b");
        expect(await store.acquireSchedulerLease(claim("c", T0 + 60_002))).toEqual({ acquired: true });
      });

      it.skipIf(exclusiveLease)("renewing with a clock refuses a lease that already expired (a paused scheduler cannot revive it)", async () => {
        expect(await store.acquireSchedulerLease(claim("a", T0, 1_000))).toEqual({ acquired: true });
        expect(await store.renewSchedulerLease("a", T0 + 1_500, T0 + 999)).toBe(true);
        expect(await store.renewSchedulerLease("a", T0 + 5_000, T0 + 1_500)).toBe(false);
      });

      it("fences a batch: applied only while its owner holds an unexpired lease, checked in the same transaction", async () => {
        expect(await store.acquireSchedulerLease(claim("a", T0, 1_000))).toEqual({ acquired: true });
        await store.apply([createRun(1)], { owner: "a", now: T0 + 500 });
        await expect(store.apply([createRun(2)], { owner: "b", now: T0 + 500 })).rejects.toMatchObject({ code: "SLUICE_LEASE_LOST" });
        if (!exclusiveLease) await expect(store.apply([createRun(3)], { owner: "a", now: T0 + 1_000 })).rejects.toMatchObject({ code: "SLUICE_LEASE_LOST" });
        expect(await store.acquireSchedulerLease(claim("b", T0 + 1_001))).toEqual({ acquired: true });
        await expect(store.apply([createRun(4)], { owner: "a", now: T0 + 800 })).rejects.toMatchObject({ code: "SLUICE_LEASE_LOST" });
        expect((await store.listRuns()).map((r) => r.id)).toEqual([1]);
      });

      it("a fenced batch of updates and appends alone changes nothing once its owner lost the lease", async () => {
        expect(await store.acquireSchedulerLease(claim("a", T0, 1_000))).toEqual({ acquired: true });
        await store.apply([createRun(1, ["x"]), createAttempt(10, 1, "x")], { owner: "a", now: T0 + 100 });
        expect(await store.acquireSchedulerLease(claim("b", T0 + 1_001))).toEqual({ acquired: true });
        const late: StoreWrite[] = [
          { type: "updateRun", id: 1, state: "running", startedAt: T0 + 900 },
          { type: "updateTask", runId: 1, task: "x", state: "running", attempts: 1 },
          { type: "endAttempt", id: 10, state: "failed", endedAt: T0 + 900 },
          { type: "recordSchedule", pipeline: "etl", lastScheduledFor: T0, skippedDelta: 1 },
          appendEvent({ runId: 1 }),
        ];
        await expect(store.apply(late, { owner: "a", now: T0 + 900 })).rejects.toMatchObject({ code: "SLUICE_LEASE_LOST" });
        expect(await store.getRun(1)).toEqual(runRecord(1));
        expect(await store.listTasks(1)).toEqual([taskRecord(1, "x")]);
        expect(await store.getAttempt(10)).toMatchObject({ state: "running", endedAt: null });
        expect(await store.listSchedules()).toEqual([]);
        expect(await store.listEvents()).toEqual([]);
        // The holder's same batch goes through.
        await store.apply(late, { owner: "b", now: T0 + 1_100 });
        expect(await store.getAttempt(10)).toMatchObject({ state: "failed", endedAt: T0 + 900 });
        expect(await store.getRun(1)).toMatchObject({ state: "running", startedAt: T0 + 900 });
      });
    });

    describe("draining attempts", () => {
      it("an attempt ended while its function still runs keeps its resources in loadActiveState until released", async () => {
        await store.apply([createRun(1, ["a", "b"], { state: "running" }), createAttempt(7, 1, "a", { resources: [{ key: "pool:db", amount: 2 }] }), createAttempt(8, 1, "b")]);
        await store.apply([
          { type: "endAttempt", id: 7, state: "cancelled", endedAt: T0 + 10, error: { message: "cancelled" }, stillRunning: true },
          { type: "endAttempt", id: 8, state: "cancelled", endedAt: T0 + 10 },
        ]);
        const state = await store.loadActiveState();
        expect(state.attempts).toEqual([]);
        expect(state.draining?.map((a) => [a.id, a.state, a.resources])).toEqual([[7, "cancelled", [{ key: "pool:db", amount: 2 }]]]);
        await store.apply([{ type: "releaseAttempt", id: 7, at: T0 + 20 }]);
        expect((await store.loadActiveState()).draining).toEqual([]);
        await expect(store.apply([{ type: "releaseAttempt", id: 99, at: T0 + 30 }])).rejects.toMatchObject({ code: "SLUICE_STORE_WRITE" });
      });
    });

    describe("peak memory of attempts", () => {
      const MB = 1024 * 1024;

      it("is null until reported; endAttempt records it (left out: kept), a release raises it but never lowers it", async () => {
        await store.apply([createRun(1, ["a", "b", "c"], { state: "running" }), createAttempt(1, 1, "a"), createAttempt(2, 1, "b"), createAttempt(3, 1, "c")]);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBeNull();
        // 5 GB: past 2^32, as a child process's RSS may be.
        await store.apply([
          { type: "endAttempt", id: 1, state: "success", endedAt: T0 + 10, peakMemoryBytes: 5 * 1024 * MB },
          { type: "endAttempt", id: 2, state: "cancelled", endedAt: T0 + 10, stillRunning: true, peakMemoryBytes: 40 * MB },
          { type: "endAttempt", id: 3, state: "lost", endedAt: T0 + 10 },
        ]);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBe(5 * 1024 * MB);
        expect((await store.getAttempt(2))?.peakMemoryBytes).toBe(40 * MB);
        expect((await store.getAttempt(3))?.peakMemoryBytes).toBeNull();
        // Measured until the function settled: higher than at the attempt's end.
        await store.apply([{ type: "releaseAttempt", id: 2, at: T0 + 20, peakMemoryBytes: 64 * MB }]);
        expect((await store.getAttempt(2))?.peakMemoryBytes).toBe(64 * MB);
        await store.apply([{ type: "releaseAttempt", id: 2, at: T0 + 30, peakMemoryBytes: 1 * MB }, { type: "releaseAttempt", id: 3, at: T0 + 30 }]);
        expect((await store.getAttempt(2))?.peakMemoryBytes).toBe(64 * MB);
        expect((await store.getAttempt(3))?.peakMemoryBytes).toBeNull();
        const listed = await store.listAttempts({ runId: 1 });
        expect(Object.fromEntries(listed.map((a) => [a.id, a.peakMemoryBytes]))).toEqual({ 1: 5 * 1024 * MB, 2: 64 * MB, 3: null });
      });

      it("completeAttempt records the peak a worker reports with the result", async () => {
        await store.apply([createRun(1, ["a", "b"], { state: "running" }), createAttempt(1, 1, "a", { fencingToken: 7 }), createAttempt(2, 1, "b", { fencingToken: 8 })]);
        expect(await store.completeAttempt(1, 7, { state: "success", output: 1, peakMemoryBytes: 300 * MB }, T0 + 10)).toBe(true);
        expect(await store.completeAttempt(2, 8, { state: "failed", error: { message: "memory limit", code: "SLUICE_MEMORY_LIMIT" }, peakMemoryBytes: 257 * MB }, T0 + 10)).toBe(true);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBe(300 * MB);
        expect(await store.getAttempt(2)).toMatchObject({ state: "failed", peakMemoryBytes: 257 * MB, error: { code: "SLUICE_MEMORY_LIMIT" } });
        // The scheduler's endAttempt that follows (without a peak) keeps it.
        await store.apply([{ type: "endAttempt", id: 1, state: "success", endedAt: T0 + 10 }]);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBe(300 * MB);
      });

      it("markReleased (a worker process's report) raises the peak of a draining attempt, checked against its token", async () => {
        if (!isWorkerStore(store)) return; // only stores that worker processes share
        await store.apply([createRun(1, ["a"], { state: "running" }), createAttempt(1, 1, "a", { fencingToken: 7 })]);
        await store.apply([{ type: "endAttempt", id: 1, state: "cancelled", endedAt: T0 + 10, stillRunning: true, peakMemoryBytes: 10 * MB }]);
        expect(await store.markReleased(1, 6, T0 + 20, 99 * MB)).toBe(false);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBe(10 * MB);
        expect(await store.markReleased(1, 7, T0 + 20, 90 * MB)).toBe(true);
        expect((await store.getAttempt(1))?.peakMemoryBytes).toBe(90 * MB);
      });
    });

    describe("prune", () => {
      const DAY = 86_400_000;
      it("deletes finished runs older than the cutoff with their attempts and events, never an active run, and never reuses ids", async () => {
        const finished = (id: number, endedAt: number, state: RunRecord["state"] = "success") => [
          createRun(id, ["extract"], { state, startedAt: T0, endedAt }),
          createAttempt(id * 10, id, "extract", { state: "success", endedAt, resources: [{ key: "pool:db", amount: 1 }], fencingToken: id * 10 }),
          appendEvent({ runId: id, at: endedAt, type: "run.success" }),
        ];
        await store.apply([
          ...finished(1, T0 + DAY),
          createRun(2, ["extract"], { state: "running", startedAt: T0 }),
          createAttempt(20, 2, "extract"),
          ...finished(3, T0 + 10 * DAY, "failed"),
          ...finished(4, T0 + 2 * DAY, "cancelled"),
          appendEvent({ at: T0, type: "schedule.missed" }),
        ]);
        const id = await store.addRequest({ type: "trigger", pipeline: "etl", at: T0 });
        await store.apply([{ type: "resolveRequest", id, runId: 1, error: null, at: T0 + 1 }]);

        const first = await store.prune(T0 + 5 * DAY, 1);
        expect(first).toMatchObject({ runs: 1, attempts: 1, more: true });
        const rest = await store.prune(T0 + 5 * DAY, 10);
        expect(rest).toMatchObject({ runs: 1, attempts: 1, more: false });
        expect((await store.listRuns()).map((r) => r.id)).toEqual([3, 2]);
        expect((await store.listAttempts()).map((a) => a.id)).toEqual([30, 20]);
        expect((await store.listEvents()).map((e) => e.runId)).toEqual([3]);
        expect((await store.getRequest(id))).toBeUndefined();
        expect(await store.listTasks(1)).toEqual([]);

        // The newest runs go too: ids still grow from the highest ever handed out.
        await store.apply([{ type: "updateRun", id: 2, state: "success", endedAt: T0 + DAY }, { type: "endAttempt", id: 20, state: "success", endedAt: T0 + DAY }]);
        await store.prune(T0 + 100 * DAY, 10);
        expect(await store.listRuns()).toEqual([]);
        const state = await store.loadActiveState();
        expect(state).toMatchObject({ maxRunId: 4, maxAttemptId: 40, maxFencingToken: 40 });
      });
    });

    describe("requests", () => {
      it("a sender may withdraw a request nobody took; it is answered as withdrawn and never handed out", async () => {
        const id = await store.addRequest({ type: "trigger", pipeline: "etl", at: T0 });
        expect(await store.abandonRequest(id, T0 + 10, "withdrawn: no answer")).toBe(true);
        expect(await store.getRequest(id)).toMatchObject({ resolvedAt: T0 + 10, error: "withdrawn: no answer", takenAt: null });
        expect(await store.takeRequests(10, T0 + 20, "s")).toEqual([]);
        expect(await store.abandonRequest(id, T0 + 30, "again")).toBe(false);
        expect(await store.reclaimRequests(T0 + 40, 15_000)).toBe(0);
        expect(await store.takeRequests(10, T0 + 50, "s")).toEqual([]);
      });

      it("a request taken by a scheduler that holds its lease cannot be withdrawn; once that lease is gone, it can", async () => {
        expect(await store.acquireSchedulerLease({ owner: "s", pid: process.pid, host: "conformance-host", ttlMs: 1_000, now: T0 })).toEqual({ acquired: true });
        const id = await store.addRequest({ type: "trigger", pipeline: "etl", at: T0 });
        expect((await store.takeRequests(10, T0 + 1, "s")).map((r) => [r.id, r.takenBy])).toEqual([[id, "s"]]);
        expect(await store.abandonRequest(id, T0 + 500, "withdrawn")).toBe(false);
        // Another scheduler took the lease over: the taker can no longer commit an answer (its
        // batches are fenced), so the sender may withdraw the request.
        expect(await store.acquireSchedulerLease({ owner: "t", pid: process.pid, host: "conformance-host", ttlMs: 1_000, now: T0 + 1_000 })).toEqual({ acquired: true });
        expect(await store.abandonRequest(id, T0 + 1_000, "withdrawn")).toBe(true);
        await expect(store.apply([{ type: "resolveRequest", id, runId: null, error: null, at: T0 + 1_001 }], { owner: "s", now: T0 + 1_001 })).rejects.toMatchObject({ code: "SLUICE_LEASE_LOST" });
        expect(await store.getRequest(id)).toMatchObject({ error: "withdrawn" });
      });

      it("are handed out once, oldest first, and answered through apply", async () => {
        const first = await store.addRequest({ type: "trigger", pipeline: "etl", params: { day: "2024-06-01" }, at: T0 });
        const second = await store.addRequest({ type: "cancel", runId: 7, at: T0 + 1 });
        expect(second).toBeGreaterThan(first);
        const taken = await store.takeRequests(10, T0 + 2);
        expect(taken.map((r) => [r.id, r.type, r.pipeline, r.runId])).toEqual([
          [first, "trigger", "etl", null],
          [second, "cancel", null, 7],
        ]);
        expect(taken[0]?.params).toEqual({ day: "2024-06-01" });
        expect(await store.takeRequests(10, T0 + 3)).toEqual([]);
        expect(await store.getRequest(first)).toMatchObject({ takenAt: T0 + 2, resolvedAt: null, error: null });

        await store.apply([createRun(1), { type: "resolveRequest", id: first, runId: 1, error: null, at: T0 + 4 }]);
        await store.apply([{ type: "resolveRequest", id: second, runId: 7, error: "run 7 is not queued or running", at: T0 + 5 }]);
        expect(await store.getRequest(first)).toMatchObject({ runId: 1, resolvedAt: T0 + 4, error: null });
        expect(await store.getRequest(second)).toMatchObject({ runId: 7, resolvedAt: T0 + 5, error: "run 7 is not queued or running" });
        expect(await store.getRequest(9999)).toBeUndefined();
      });

      it("reclaim: unanswered requests are handed out again while young, answered as expired when old", async () => {
        const old = await store.addRequest({ type: "trigger", pipeline: "old", at: T0 });
        const young = await store.addRequest({ type: "trigger", pipeline: "young", at: T0 + 50_000 });
        const answered = await store.addRequest({ type: "trigger", pipeline: "answered", at: T0 + 50_000 });
        expect(await store.takeRequests(10, T0 + 55_000)).toHaveLength(3);
        await store.apply([{ type: "resolveRequest", id: answered, runId: null, error: null, at: T0 + 55_001 }]);
        // The scheduler that took them died; a new one reclaims at T0 + 60 s with a 15 s horizon.
        expect(await store.reclaimRequests(T0 + 60_000, 15_000)).toBe(1);
        expect((await store.takeRequests(10, T0 + 60_001)).map((r) => r.id)).toEqual([young]);
        expect(await store.getRequest(old)).toMatchObject({ resolvedAt: T0 + 60_000, error: expect.stringContaining("expired") });
        expect(await store.getRequest(answered)).toMatchObject({ resolvedAt: T0 + 55_001, error: null });
      });

      it("take at most the limit", async () => {
        for (let i = 0; i < 5; i++) await store.addRequest({ type: "trigger", pipeline: `p${i}`, at: T0 + i });
        expect((await store.takeRequests(2, T0 + 10)).map((r) => r.pipeline)).toEqual(["p0", "p1"]);
        expect((await store.takeRequests(10, T0 + 11)).map((r) => r.pipeline)).toEqual(["p2", "p3", "p4"]);
      });
    });

    describe.skipIf(openPeer === undefined)("a second store on the same database", () => {
      it("sees what the first committed, and the reverse", async () => {
        const peer = await (openPeer as NonNullable<typeof openPeer>)(store);
        opened.push(peer);
        await store.apply([createRun(1, ["a"], { state: "running" }), createAttempt(1, 1, "a"), appendEvent({ runId: 1 })]);
        expect(await peer.getRun(1)).toEqual(runRecord(1, { state: "running" }));
        expect(await peer.listEvents({ runId: 1 })).toHaveLength(1);
        expect((await peer.loadActiveState()).attempts.map((a: AttemptRecord) => a.id)).toEqual([1]);

        expect(await peer.completeAttempt(1, 1, { state: "success", output: "done" }, T0 + 5)).toBe(true);
        expect(await store.getAttempt(1)).toMatchObject({ state: "success" });
        expect(await store.listTasks(1)).toMatchObject([{ output: "done" }]);
        await store.apply([{ type: "updateRun", id: 1, state: "success", endedAt: T0 + 6 }]);
        expect(await peer.listRuns({ states: ["success"] })).toHaveLength(1);
      });
    });
  });
}

/** `from` down to `to`, inclusive. */
function range(from: number, to: number): number[] {
  return Array.from({ length: from - to + 1 }, (_, i) => from - i);
}
