/** Regression tests for scheduler bugs found in review (runtime: scheduler + local worker + SQLite in memory). */
import { afterEach, describe, expect, it } from "vitest";
import type { ResolvedConfig } from "../../src/define/resolved.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store, StoreWrite } from "../../src/store/types.js";
import { LocalWorker } from "../../src/worker/local-worker.js";
import { config, pipeline, type TaskOpts, task } from "../core/fixtures.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = () => ({ debug() {}, info() {}, warn() {}, error() {} }) as never;
const stores: SqliteStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function setup(cfg: ResolvedConfig, wrap: (store: Store) => Store = (s) => s) {
  const inner = await SqliteStore.open(":memory:");
  stores.push(inner);
  const store = wrap(inner);
  const scheduler = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20 });
  const errors: Error[] = [];
  scheduler.on("error", (e) => errors.push(e));
  const worker = new LocalWorker({ config: cfg, channel: scheduler.channel, taskLogger: quiet });
  await scheduler.start(worker);
  return { scheduler, store: inner, errors };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** `store` with its `apply` replaced. */
function withApply(store: Store, apply: (batch: readonly StoreWrite[]) => Promise<void>): Store {
  return new Proxy(store, {
    get(target, key) {
      if (key === "apply") return apply;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function withFn(pipelineId: string, id: string, o: TaskOpts, fn: (ctx: { signal: AbortSignal }) => unknown) {
  return { ...task(pipelineId, id, o), fn: fn as never };
}

describe("scheduler", () => {
  it("a batch the store refuses once is written by the next turn, and only then acted on: the run still finishes", async () => {
    const cfg = config({ pipelines: [pipeline("etl", [withFn("etl", "a", {}, () => "ok"), withFn("etl", "b", { deps: ["a"] }, () => "ok")])] });
    let failed = false;
    const { scheduler, store, errors } = await setup(cfg, (s) =>
      withApply(s, async (batch) => {
          if (!failed && batch.some((w) => w.type === "createAttempt")) {
            failed = true;
            throw new Error("SQLITE_BUSY: database is locked");
          }
          return s.apply(batch);
      }),
    );
    const runId = await scheduler.trigger("etl");
    const run = await until("the run to end", async () => {
      const r = await store.getRun(runId);
      return r && r.state !== "running" && r.state !== "queued" ? r : undefined;
    });
    expect(failed).toBe(true);
    expect(errors.map((e) => e.message)).toEqual(["SQLITE_BUSY: database is locked"]);
    expect(run.state).toBe("success");
    expect((await store.listAttempts({ runId })).map((a) => [a.task, a.state])).toEqual([
      ["b", "success"],
      ["a", "success"],
    ]);
    await scheduler.stop(Date.now() + 1000);
  });

  it("a store that refuses five batches in a row is reported once as SLUICE_STORE_UNAVAILABLE", async () => {
    const cfg = config({ pipelines: [pipeline("etl", [withFn("etl", "a", {}, () => "ok")])] });
    let refused = 0;
    const { scheduler, errors } = await setup(cfg, (s) =>
      withApply(s, async (batch) => {
        if (batch.some((w) => w.type === "createAttempt")) {
          refused++;
          throw new Error("SQLITE_FULL: database or disk is full");
        }
        return s.apply(batch);
      }),
    );
    void scheduler.trigger("etl");
    const fatal = await until("the store to be declared unavailable", async () => errors.find((e) => (e as { code?: string }).code === "SLUICE_STORE_UNAVAILABLE"), 10_000);
    expect(fatal.message).toContain("SQLITE_FULL");
    expect(refused).toBe(5);
    expect(errors.filter((e) => (e as { code?: string }).code === "SLUICE_STORE_UNAVAILABLE")).toHaveLength(1);
    await scheduler.stop(Date.now(), 10).catch(() => undefined);
  }, 15_000);

  it("writes nothing after stop() has released the lease, even when an abandoned attempt reports late", async () => {
    let release: () => void = () => {};
    const stubborn = new Promise<void>((r) => (release = r));
    const cfg = config({ pipelines: [pipeline("etl", [withFn("etl", "slow", { retries: 1, retryDelayMs: 50 }, () => stubborn)])] });
    const writesAfterStop: StoreWrite[][] = [];
    let stopped = false;
    const { scheduler, store } = await setup(cfg, (s) =>
      withApply(s, async (batch) => {
          if (stopped) writesAfterStop.push([...batch]);
          return s.apply(batch);
      }),
    );
    const runId = await scheduler.trigger("etl");
    await until("the attempt to start", async () => ((await store.listAttempts({ runId })).length > 0 ? true : undefined));
    // Deadline now, 20 ms of abort grace: the task ignores its signal, so it is recorded lost (retry due 50 ms later).
    await scheduler.stop(Date.now(), 20);
    stopped = true;
    await sleep(100); // the retry is due
    release(); // the abandoned attempt finally ends and reports
    await sleep(50);
    expect(writesAfterStop).toEqual([]);
    expect((await store.listAttempts({ runId })).map((a) => a.state)).toEqual(["lost"]);
  });
});

describe("scheduler lease", () => {
  it("once the lease is lost it writes nothing more and aborts its attempts (the new owner retries them)", async () => {
    let signal: AbortSignal | undefined;
    const cfg = config({
      pipelines: [
        pipeline("etl", [
          withFn("etl", "slow", {}, (ctx) => {
            signal = ctx.signal;
            return new Promise((r) => setTimeout(r, 300));
          }),
        ]),
      ],
    });
    const inner = await SqliteStore.open(":memory:");
    stores.push(inner);
    const writes: StoreWrite[][] = [];
    const store = withApply(inner, async (batch) => {
      writes.push([...batch]);
      return inner.apply(batch);
    });
    const scheduler = new Scheduler({ config: cfg, store, schedules: false, pollMs: 20, leaseTtlMs: 300 });
    const errors: Error[] = [];
    scheduler.on("error", (e) => errors.push(e));
    await scheduler.start(new LocalWorker({ config: cfg, channel: scheduler.channel, taskLogger: quiet }));
    const runId = await scheduler.trigger("etl");
    await until("the attempt to start", async () => ((await inner.listAttempts({ runId })).length > 0 ? true : undefined));
    // Another scheduler takes over (as if this one's lease had expired while its event loop was blocked).
    expect(await inner.acquireSchedulerLease({ owner: "other", pid: 1, host: "elsewhere", ttlMs: 60_000, now: Date.now() + 10_000 })).toEqual({ acquired: true });
    await until("the lease loss to be noticed", async () => (errors.length > 0 ? true : undefined));
    const before = writes.length;
    expect(signal?.aborted).toBe(true);
    await sleep(400); // the task would have finished by now
    await scheduler.stop(Date.now() + 1000);
    expect(writes.length).toBe(before);
    expect((await inner.listAttempts({ runId })).map((a) => a.state)).toEqual(["running"]);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["SLUICE_LEASE_LOST"]);
  });
});
