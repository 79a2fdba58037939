/**
 * A worker process with prefetched attempts starts the next one as soon as a function ends, not a
 * round trip later when the store has recorded the result: the slot is the function's, the
 * attempt stays the worker's (lease renewed) until its result is recorded. On PostgreSQL, a real
 * scheduler and a worker in this process, the worker's reports held back by hand.
 */
import { hostname } from "node:os";
import { afterAll, expect, it } from "vitest";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import { PgStore } from "../../src/store/pg/pg-store.js";
import type { Store, WorkerStore } from "../../src/store/types.js";
import { WorkerProcess } from "../../src/worker/remote-worker.js";
import { waitFor } from "../cli/helpers.js";
import { config, pipeline, task } from "../core/fixtures.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

const quiet = () => ({ debug() {}, info() {}, warn() {}, error() {} }) as never;

it("starts a prefetched attempt when the function before it ends, while that result is still being recorded", async () => {
  const schema = freshSchema("prefetch_start");
  schemas.push(schema);
  const store = await PgStore.open(parsePgUrl(pgUrl(schema)));
  const events: string[] = [];
  const fn = (name: string) => () => void events.push(`${name} ran`);
  const cfg = config({ parallelism: 10, pipelines: [pipeline("two", [{ ...task("two", "a"), fn: fn("a") }, { ...task("two", "b"), fn: fn("b") }])] });

  // The worker's first report waits until the test lets it through.
  let letThrough!: () => void;
  const gate = new Promise<void>((r) => (letThrough = r));
  let held = 0;
  const workerStore = new Proxy(store, {
    get(target, key) {
      if (key === "completeAttempts") {
        return async (...args: Parameters<PgStore["completeAttempts"]>) => {
          if (held++ === 0) {
            events.push("report held");
            await gate;
          }
          return target.completeAttempts(...args);
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store & WorkerStore;

  const scheduler = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20, remote: { store, leaseTtlMs: 60_000, pollMs: 100 } });
  await scheduler.start();
  // One slot, one attempt ahead of it: the scheduler gives it both tasks at once.
  const worker = new WorkerProcess({ config: cfg, store: workerStore, name: "w1", host: hostname(), queues: ["default"], slots: 1, prefetch: 1, memoryMb: null, fingerprint: "test", leaseTtlMs: 60_000, pollMs: 100, taskLogger: quiet });
  await worker.start();
  try {
    const runId = await scheduler.trigger("two");
    // Both functions run while the first one's result is still held back.
    await waitFor(() => (events.filter((e) => e.endsWith("ran")).length === 2 ? true : undefined), "both functions to run while the first report is held", { timeoutMs: 10_000, intervalMs: 10 });
    // The first report reached the store and waits there; nothing is recorded yet.
    expect(events).toContain("report held");
    expect((await store.listAttempts({ runId })).map((a) => a.state)).toEqual(["running", "running"]);
    letThrough();
    const run = await waitFor(async () => {
      const r = await store.getRun(runId);
      return r?.state === "success" ? r : undefined;
    }, "the run to succeed", { timeoutMs: 10_000, intervalMs: 10 });
    expect(run.state).toBe("success");
    expect((await store.listAttempts({ runId })).map((a) => a.state)).toEqual(["success", "success"]);
  } finally {
    letThrough();
    await worker.stop(Date.now() + 5_000);
    await scheduler.stop(Date.now() + 5_000);
    await store.close();
  }
});
