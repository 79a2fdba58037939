import { describe, expect, it } from "vitest";
import { Engine } from "../../src/core/engine/engine.js";
import type { ActiveState, Change } from "../../src/core/records.js";
import { retryDelayMs, seededRandom } from "../../src/core/retry.js";
import { ScheduleClock } from "../../src/core/schedule.js";
import type { OverlapPolicy } from "../../src/define/types.js";
import { config, fail, MINUTE, pipeline, Recorder, SECOND, succeed, T0 } from "./fixtures.js";

function taskUpdates(rec: Recorder, runId: number, taskId: string): string[] {
  return rec.changes.flatMap((c) => (c.type === "updateTask" && c.runId === runId && c.task === taskId ? [c.state] : []));
}

function runStates(rec: Recorder, runId: number): string[] {
  return rec.changes.flatMap((c) => (c.type === "updateRun" && c.id === runId ? [c.state] : c.type === "createRun" && c.run.id === runId ? [c.run.state] : []));
}

function lastRunState(rec: Recorder, runId: number): string | undefined {
  return runStates(rec, runId).at(-1);
}

/** A → B, A → C, B → D, C → D with weights A=7, B=3, C=4, D=1 (priorities 1,2,3,1 under `downstream`). */
function diamond(pools: Record<string, number> = { db: 1 }) {
  return config({
    pools,
    pipelines: [
      pipeline("etl", [
        ["A", { weight: 7, pools: { db: 1 }, estimateMs: 1_000 }],
        ["B", { weight: 3, pools: { db: 1 }, deps: ["A"], estimateMs: 1_000 }],
        ["C", { weight: 4, pools: { db: 1 }, deps: ["A"], estimateMs: 1_000 }],
        ["D", { weight: 1, pools: { db: 1 }, deps: ["B", "C"], estimateMs: 1_000 }],
      ]),
    ],
  });
}

describe("priorities", () => {
  it("the diamond on a one-slot pool runs A, C, B, D and passes upstream outputs", () => {
    const engine = new Engine(diamond(), { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    let now = T0;
    for (let i = 0; i < 4; i++) {
      const s = rec.starts.at(-1);
      if (!s) throw new Error("nothing started");
      expect(rec.starts).toHaveLength(i + 1);
      now += SECOND;
      succeed(engine, rec, s, now, `out-${s.task}`);
      rec.take(engine.advance(now));
    }
    expect(rec.startedTasks()).toEqual(["A", "C", "B", "D"]);
    expect(rec.start(runId, "D").upstream).toEqual({ B: "out-B", C: "out-C" });
    expect(rec.start(runId, "B").readyAt).toBe(T0 + SECOND);
    expect(lastRunState(rec, runId)).toBe("success");
    expect(engine.activeRuns()).toEqual([]);
    expect(rec.events("run.success")).toHaveLength(1);
  });

  it("explain shows the effective priority and what a waiting task waits for", () => {
    const engine = new Engine(diamond(), { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const [a, b, , d] = engine.explain(runId, undefined, T0 + MINUTE);
    expect(a).toMatchObject({ task: "A", state: "running", holding: expect.arrayContaining([{ key: "pool:db", amount: 1 }]) });
    expect(b).toMatchObject({ task: "B", state: "pending", reasons: [{ kind: "dependency", waitingFor: ["A"] }], priority: undefined });
    expect(d?.reasons).toEqual([{ kind: "dependency", waitingFor: ["B", "C"] }]);
    succeed(engine, rec, rec.start(runId, "A"), T0 + SECOND);
    rec.take(engine.advance(T0 + SECOND));
    const [bWaiting] = engine.explain(runId, "B", T0 + SECOND + MINUTE);
    // 1 aging point per minute by default.
    expect(bWaiting).toMatchObject({ state: "ready", weight: 3, priority: 4 });
    expect(bWaiting?.reasons).toEqual([{ kind: "pool", name: "db", need: 1, free: 0, capacity: 1, holders: [expect.objectContaining({ id: `${runId}/C`, amount: 1 })] }]);
  });
});

describe("retries", () => {
  it("fixed delay: retried after the delay with a new attempt and a larger fencing token, then failed", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["x", { retries: 2, retryDelayMs: 5_000 }], ["after", { deps: ["x"] }]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const first = rec.start(runId, "x");
    fail(engine, rec, first, T0 + 100);
    expect(taskUpdates(rec, runId, "x").at(-1)).toBe("retry_wait");
    expect(rec.events("task.retry")[0]).toMatchObject({ level: "warn", data: { retryAt: T0 + 5_100 } });
    expect(engine.nextWakeAt()).toBe(T0 + 5_100);
    expect(engine.explain(runId, "x")[0]?.reasons).toEqual([{ kind: "retryDelay", until: T0 + 5_100 }]);

    rec.take(engine.advance(T0 + 5_099));
    expect(rec.starts).toHaveLength(1);
    rec.take(engine.advance(T0 + 5_100));
    const second = rec.start(runId, "x");
    expect(second).toMatchObject({ attempt: 2, readyAt: T0 + 5_100 });
    expect(second.attemptId).toBeGreaterThan(first.attemptId);
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);

    fail(engine, rec, second, T0 + 6_000);
    rec.take(engine.advance(T0 + 11_000));
    const third = rec.start(runId, "x");
    expect(third.attempt).toBe(3);
    fail(engine, rec, third, T0 + 12_000);
    expect(taskUpdates(rec, runId, "x").at(-1)).toBe("failed");
    expect(taskUpdates(rec, runId, "after")).toEqual(["upstream_failed"]);
    expect(lastRunState(rec, runId)).toBe("failed");
    expect(rec.events("task.failed")[0]).toMatchObject({ level: "error", task: "x" });
    expect(rec.changes.filter((c) => c.type === "endAttempt").map((c) => (c as Extract<Change, { type: "endAttempt" }>).state)).toEqual(["failed", "failed", "failed"]);
  });

  it("exponential backoff with a seeded random: doubling, jittered ±20%, reproducible", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["x", { retries: 4, retryDelayMs: 1_000, retryBackoff: "exponential", maxRetryDelayMs: 6_000 }]])] });
    const delays = (seed: number): number[] => {
      const engine = new Engine(cfg, { now: T0, random: seededRandom(seed) });
      const rec = new Recorder();
      const runId = engine.trigger("etl", T0);
      let now = T0;
      rec.take(engine.advance(now));
      const out: number[] = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        const s = rec.start(runId, "x");
        expect(s.attempt).toBe(attempt);
        now += 10;
        fail(engine, rec, s, now);
        const wake = engine.nextWakeAt();
        if (wake === undefined) break;
        out.push(wake - now);
        now = wake;
        rec.take(engine.advance(now));
      }
      expect(lastRunState(rec, runId)).toBe("failed");
      return out;
    };
    const got = delays(42);
    const random = seededRandom(42);
    expect(got).toEqual([1, 2, 3, 4].map((retry) => retryDelayMs({ retryDelayMs: 1_000, retryBackoff: "exponential", maxRetryDelayMs: 6_000 }, retry, random)));
    const bases = [1_000, 2_000, 4_000, 6_000];
    got.forEach((d, i) => {
      const base = bases[i] as number;
      expect(d).toBeGreaterThanOrEqual(Math.round(base * 0.8));
      expect(d).toBeLessThanOrEqual(Math.min(6_000, Math.round(base * 1.2)));
    });
    expect(delays(42)).toEqual(got);
    expect(delays(7)).not.toEqual(got);
  });
});

describe("failure", () => {
  it("a failed task marks everything downstream upstream_failed; running siblings finish; the run fails", () => {
    const cfg = config({
      pipelines: [pipeline("etl", [["a"], ["b", { deps: ["a"] }], ["c", { deps: ["b"] }], ["side", { deps: ["a"] }], ["join", { deps: ["c", "side"] }]])],
    });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    succeed(engine, rec, rec.start(runId, "a"), T0 + 1);
    rec.take(engine.advance(T0 + 1));
    expect(rec.startedTasks()).toEqual(["a", "b", "side"]);
    fail(engine, rec, rec.start(runId, "b"), T0 + 2);
    expect(taskUpdates(rec, runId, "c")).toEqual(["upstream_failed"]);
    expect(taskUpdates(rec, runId, "join")).toEqual(["upstream_failed"]);
    expect(lastRunState(rec, runId)).toBe("running"); // side still runs
    succeed(engine, rec, rec.start(runId, "side"), T0 + 3);
    rec.take(engine.advance(T0 + 3));
    expect(rec.starts).toHaveLength(3);
    expect(lastRunState(rec, runId)).toBe("failed");
    expect(rec.events("run.failed")).toHaveLength(1);
  });
});

describe("fencing", () => {
  it("finish refuses a stale fencing token, an unknown attempt and a second completion", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["x"]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const s = rec.start(runId, "x");
    const stale = engine.finish(s.attemptId, s.fencingToken - 1, { state: "success", output: null }, T0 + 1);
    expect(stale).toEqual({ accepted: false, reason: expect.stringMatching(/stale fencing token/) });
    const unknown = engine.finish(9_999, s.fencingToken, { state: "success", output: null }, T0 + 1);
    expect(unknown).toEqual({ accepted: false, reason: expect.stringMatching(/not running/) });
    expect(engine.runningAttempts).toBe(1);
    expect(engine.finish(s.attemptId, s.fencingToken, { state: "success", output: 1 }, T0 + 2).accepted).toBe(true);
    expect(engine.finish(s.attemptId, s.fencingToken, { state: "success", output: 2 }, T0 + 3).accepted).toBe(false);
  });

  it("a zombie's completion after its attempt was lost and retried is refused; the retry's is accepted", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["x", { retries: 1, retryDelayMs: 0 }]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const zombie = rec.start(runId, "x");
    expect(engine.markLost(zombie.attemptId, T0 + 10, "lease expired")).toBe(true);
    rec.take(engine.advance(T0 + 10));
    const retry = rec.start(runId, "x");
    expect(retry.attempt).toBe(2);
    expect(engine.finish(zombie.attemptId, zombie.fencingToken, { state: "success", output: "zombie" }, T0 + 11).accepted).toBe(false);
    succeed(engine, rec, retry, T0 + 12, "real");
    expect(lastRunState(rec, runId)).toBe("success");
  });
});

describe("cancel", () => {
  it("keeps a cancelled attempt's resources until its function settles, emits abort commands and removes waiting tasks", () => {
    const cfg = config({
      pools: { db: 1 },
      pipelines: [
        pipeline("big", [["a", { weight: 9, pools: { db: 1 } }], ["b", { weight: 8, pools: { db: 1 } }], ["after", { deps: ["a"] }]]),
        pipeline("small", [["c", { weight: 1, pools: { db: 1 } }]]),
      ],
    });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const bigRun = engine.trigger("big", T0);
    const smallRun = engine.trigger("small", T0);
    rec.take(engine.advance(T0));
    expect(rec.startedTasks()).toEqual(["a"]);
    expect(engine.waitingTasks).toBe(2);
    const a = rec.start(bigRun, "a");

    expect(engine.cancelRun(bigRun, T0 + 5, "operator said so")).toBe(true);
    // The attempt is over, but its function may still use the connection: db stays held, by the
    // attempt (draining), until the worker says the function settled.
    expect(engine.usage().find((u) => u.key === "pool:db")).toMatchObject({
      used: 1,
      waiting: 1,
      holders: [expect.objectContaining({ id: `attempt:${a.attemptId}`, task: "a", draining: { attemptId: a.attemptId, why: "cancelled", since: T0 + 5 } })],
    });
    expect(engine.waitingTasks).toBe(1);
    const out = rec.take(engine.advance(T0 + 5));
    expect(out.abort).toEqual([{ attemptId: a.attemptId, reason: "operator said so" }]);
    expect(out.start).toEqual([]);
    const [c] = engine.explain(smallRun, "c");
    expect(c?.reasons).toEqual([expect.objectContaining({ kind: "pool", name: "db", free: 0, holders: [expect.objectContaining({ draining: expect.objectContaining({ why: "cancelled" }) })] })]);
    expect(out.changes).toContainEqual(expect.objectContaining({ type: "endAttempt", id: a.attemptId, state: "cancelled", stillRunning: true }));
    // The function settled: db goes to the waiting task.
    expect(engine.releaseAttempt(a.attemptId, T0 + 6)).toBe(true);
    expect(engine.releaseAttempt(a.attemptId, T0 + 6)).toBe(false);
    const next = rec.take(engine.advance(T0 + 6));
    expect(next.changes).toContainEqual({ type: "releaseAttempt", id: a.attemptId, at: T0 + 6 });
    expect(next.start.map((s) => `${s.runId}/${s.task}`)).toEqual([`${smallRun}/c`]);
    expect(lastRunState(rec, bigRun)).toBe("cancelled");
    for (const t of ["a", "b", "after"]) expect(taskUpdates(rec, bigRun, t).at(-1)).toBe("cancelled");
    expect(engine.explain(bigRun)).toEqual([]);
    expect(engine.finish(a.attemptId, a.fencingToken, { state: "success", output: null }, T0 + 6).accepted).toBe(false);
    expect(engine.cancelRun(bigRun, T0 + 7)).toBe(false);
  });
});

describe("lost attempts", () => {
  it("markLost releases at once and retries from lostRetries, apart from retries, without the retry delay; then fails", () => {
    const cfg = config({ pools: { db: 1 }, pipelines: [pipeline("etl", [["x", { pools: { db: 1 }, retries: 1, lostRetries: 1, retryDelayMs: 1_000 }]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const first = rec.start(runId, "x");
    expect(engine.markLost(first.attemptId, T0 + 100, "lease expired")).toBe(true);
    expect(engine.markLost(first.attemptId, T0 + 100, "again")).toBe(false);
    expect(engine.usage().find((u) => u.key === "pool:db")?.used).toBe(0);
    rec.take(engine.advance(T0 + 100));
    expect(rec.changes).toContainEqual(
      expect.objectContaining({ type: "endAttempt", id: first.attemptId, state: "lost", error: expect.objectContaining({ code: "SLUICE_ATTEMPT_LOST", message: expect.stringContaining("lost-attempt budget (1 of 1)") }) }),
    );
    expect(rec.changes).toContainEqual(expect.objectContaining({ type: "updateTask", runId, task: "x", state: "retry_wait", lostAttempts: 1 }));
    // Again at once: no retry delay for a lost attempt.
    const second = rec.start(runId, "x");
    expect(second.attempt).toBe(2);
    // A real failure still has its own retry.
    engine.finish(second.attemptId, second.fencingToken, { state: "failed", error: { message: "boom" } }, T0 + 200);
    rec.take(engine.advance(T0 + 200));
    expect(taskUpdates(rec, runId, "x").at(-1)).toBe("retry_wait");
    rec.take(engine.advance(T0 + 1_200));
    const third = rec.start(runId, "x");
    expect(third.attempt).toBe(3);
    // The lost budget is spent: the next lost attempt fails the task.
    engine.markLost(third.attemptId, T0 + 2_000, "lease expired");
    rec.take(engine.advance(T0 + 2_000));
    expect(taskUpdates(rec, runId, "x").at(-1)).toBe("failed");
    expect(lastRunState(rec, runId)).toBe("failed");
  });
});

describe("restore", () => {
  const cfg = config({
    pools: { db: 1 },
    pipelines: [
      pipeline("etl", [["load", { pools: { db: 1 }, retries: 1, retryDelayMs: 2_000 }], ["report", { deps: ["load"] }]]),
      pipeline("other", [["x", { pools: { db: 1 } }]]),
    ],
  });

  /** What a store would hand back: run 5 of etl with `load` running (attempt 9, token 12), run 6 of other with `x` waiting for db. */
  function state(): ActiveState {
    return {
      runs: [
        { id: 5, pipeline: "etl", scheduledFor: T0, trigger: "manual", params: {}, state: "running", createdAt: T0, startedAt: T0, endedAt: null },
        { id: 6, pipeline: "other", scheduledFor: T0, trigger: "manual", params: {}, state: "running", createdAt: T0, startedAt: T0, endedAt: null },
      ],
      tasks: [
        { runId: 5, task: "load", state: "running", attempts: 1, lostAttempts: 0, readyAt: T0, output: null },
        { runId: 5, task: "report", state: "pending", attempts: 0, lostAttempts: 0, readyAt: null, output: null },
        { runId: 6, task: "x", state: "ready", attempts: 0, lostAttempts: 0, readyAt: T0 + 1, output: null },
      ],
      attempts: [
        {
          id: 9,
          runId: 5,
          pipeline: "etl",
          task: "load",
          attempt: 1,
          state: "running",
          fencingToken: 12,
          workerId: "w-old",
          queuedAt: T0,
          startedAt: T0,
          endedAt: null,
          leaseExpiresAt: T0 + 30_000,
          error: null,
          progress: null,
          resources: [
            { key: "parallelism", amount: 1 },
            { key: "queue:worker", amount: 1 },
            { key: "pool:db", amount: 1 },
          ],
          peakMemoryBytes: null,
        },
      ],
      schedules: [],
      maxRunId: 6,
      maxAttemptId: 9,
      maxFencingToken: 12,
    };
  }

  it("recover=true: running attempts are marked lost and retried by their policy; ids and tokens keep growing", () => {
    const now = T0 + MINUTE;
    const engine = new Engine(cfg, { now, restore: state(), recover: true });
    const rec = new Recorder();
    rec.take(engine.advance(now));
    expect(rec.events("attempt.lost")).toEqual([expect.objectContaining({ runId: 5, task: "load", attemptId: 9, level: "warn" })]);
    expect(rec.changes).toContainEqual(expect.objectContaining({ type: "endAttempt", id: 9, state: "lost" }));
    expect(taskUpdates(rec, 5, "load")).toEqual(["retry_wait", "ready"]);
    // The lost attempt released db and is ready again at once (lostRetries: no retry delay); the
    // other run's x, ready for a minute, ranks first (aging) and takes db.
    expect(rec.starts.map((s) => `${s.runId}/${s.task}`)).toEqual(["6/x"]);
    const x = rec.start(6, "x");
    expect(x.attemptId).toBe(10);
    expect(x.fencingToken).toBe(13);
    succeed(engine, rec, x, now + 500);
    rec.take(engine.advance(now + 500));
    const retry = rec.start(5, "load");
    expect(retry).toMatchObject({ attempt: 2, attemptId: 11, fencingToken: 14 });
    expect(engine.finish(9, 12, { state: "success", output: null }, now + 501).accepted).toBe(false);
    succeed(engine, rec, retry, now + 3_000);
    rec.take(engine.advance(now + 3_000));
    const report = rec.start(5, "report");
    succeed(engine, rec, report, now + 4_000);
    expect(lastRunState(rec, 5)).toBe("success");
  });

  it("recover=false: running attempts keep holding; explain of a waiting task lists them as holders", () => {
    const now = T0 + MINUTE;
    const engine = new Engine(cfg, { now, restore: state(), recover: false });
    const rec = new Recorder();
    rec.take(engine.advance(now));
    expect(rec.events("attempt.lost")).toEqual([]);
    expect(rec.starts).toEqual([]);
    expect(engine.runningAttempts).toBe(1);
    expect(engine.usage().find((u) => u.key === "pool:db")).toMatchObject({ used: 1, holders: [expect.objectContaining({ id: "5/load", run: 5, task: "load", amount: 1 })] });
    const [x] = engine.explain(6, "x");
    expect(x?.state).toBe("ready");
    expect(x?.reasons).toEqual([{ kind: "pool", name: "db", need: 1, free: 0, capacity: 1, holders: [{ id: "5/load", pipeline: "etl", run: 5, task: "load", amount: 1 }] }]);
    const [load] = engine.explain(5, "load");
    expect(load).toMatchObject({ state: "running", holding: state().attempts[0]?.resources });
    // The recorded attempt can still complete normally.
    succeed(engine, rec, { ...rec.starts[0], attemptId: 9, fencingToken: 12 } as never, now + 1);
    rec.take(engine.advance(now + 1));
    expect(rec.starts.map((s) => `${s.runId}/${s.task}`)).toEqual(["6/x", "5/report"]);
  });
});

describe("schedules", () => {
  it("every-ticks align to multiples of the interval, whenever the engine starts", () => {
    const clock = new ScheduleClock({ kind: "every", everyMs: 15 * SECOND });
    expect(clock.nextAfter(T0 + 7 * SECOND)).toBe(T0 + 15 * SECOND);
    expect(clock.nextAfter(T0 + 15 * SECOND)).toBe(T0 + 30 * SECOND);
    expect(clock.intervalAt(T0 + 15 * SECOND)).toBe(15 * SECOND);

    const cfg = config({ pipelines: [pipeline("tick", [["t"]], { schedule: { everyMs: 15 * SECOND } })] });
    const engine = new Engine(cfg, { now: T0 + 7 * SECOND });
    expect(engine.nextWakeAt()).toBe(T0 + 15 * SECOND);
    const rec = new Recorder();
    rec.take(engine.advance(T0 + 14_999));
    expect(rec.starts).toEqual([]);
    rec.take(engine.advance(T0 + 15 * SECOND));
    expect(rec.starts[0]?.scheduledFor).toBe(T0 + 15 * SECOND);
    succeed(engine, rec, rec.starts[0] as never, T0 + 16 * SECOND);
    // A late advance still schedules the tick for its aligned time.
    rec.take(engine.advance(T0 + 31 * SECOND));
    expect(rec.starts[1]).toMatchObject({ scheduledFor: T0 + 30 * SECOND, startedAt: T0 + 31 * SECOND });
    expect(rec.changes).toContainEqual({ type: "recordSchedule", pipeline: "tick", lastScheduledFor: T0 + 30 * SECOND, skippedDelta: 0 });
  });
});

describe("overlap on real runs", () => {
  const EVERY = 10 * SECOND;

  function setup(overlap: OverlapPolicy, maxActiveRuns = 1) {
    const cfg = config({ pipelines: [pipeline("etl", [["work"]], { schedule: { everyMs: EVERY }, overlap, maxActiveRuns })] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const at = (k: number) => rec.take(engine.advance(T0 + k * EVERY));
    return { engine, rec, at };
  }

  it("skip: later ticks are skipped, counted and logged as warnings naming the active run", () => {
    const { engine, rec, at } = setup("skip");
    at(1);
    const first = rec.start(1, "work");
    at(2);
    at(3);
    expect(engine.activeRuns().map((r) => r.id)).toEqual([1]);
    const skipped = rec.events("run.skipped");
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatchObject({ level: "warn", pipeline: "etl", data: { scheduledFor: T0 + 2 * EVERY, activeRun: 1, skippedTotal: 1 } });
    expect(skipped[1]?.data).toMatchObject({ skippedTotal: 2 });
    expect(skipped[0]?.message).toMatch(/because run 1 .*is still active \(overlap: skip\); 1 skipped so far/);
    expect(rec.changes.filter((c) => c.type === "recordSchedule").map((c) => (c as Extract<Change, { type: "recordSchedule" }>).skippedDelta)).toEqual([0, 1, 1]);
    succeed(engine, rec, first, T0 + 3 * EVERY + 5);
    at(4);
    expect(rec.starts.map((s) => s.runId)).toEqual([1, 2]);
    expect(rec.start(2, "work").scheduledFor).toBe(T0 + 4 * EVERY);
  });

  it("a run longer than its interval is warned about when it ends", () => {
    const { engine, rec, at } = setup("skip");
    at(1);
    succeed(engine, rec, rec.start(1, "work"), T0 + EVERY + 25 * SECOND);
    expect(rec.events("run.overran")).toEqual([expect.objectContaining({ level: "warn", runId: 1, data: { durationMs: 25 * SECOND, intervalMs: EVERY } })]);
  });

  it("a run within its interval is not", () => {
    const { engine, rec, at } = setup("skip");
    at(1);
    succeed(engine, rec, rec.start(1, "work"), T0 + EVERY + 9 * SECOND);
    expect(rec.events("run.overran")).toEqual([]);
  });

  it("bufferOne: one tick is queued, further ticks are skipped", () => {
    const { engine, rec, at } = setup("bufferOne");
    at(1);
    at(2);
    at(3);
    at(4);
    expect(engine.activeRuns().map((r) => [r.id, r.state, r.scheduledFor])).toEqual([
      [1, "running", T0 + EVERY],
      [2, "queued", T0 + 2 * EVERY],
    ]);
    expect(rec.events("run.skipped")).toHaveLength(2);
    expect(engine.explain(2, "work")[0]).toMatchObject({ state: "run_queued", reasons: [{ kind: "runQueued" }] });
    succeed(engine, rec, rec.start(1, "work"), T0 + 4 * EVERY + 1);
    rec.take(engine.advance(T0 + 4 * EVERY + 1));
    expect(rec.start(2, "work")).toMatchObject({ scheduledFor: T0 + 2 * EVERY, startedAt: T0 + 4 * EVERY + 1 });
    expect(runStates(rec, 2)).toEqual(["queued", "running"]);
  });

  it("bufferAll: every tick is queued; they run one after another", () => {
    const { engine, rec, at } = setup("bufferAll");
    at(1);
    at(2);
    at(3);
    expect(engine.activeRuns().map((r) => r.state)).toEqual(["running", "queued", "queued"]);
    expect(rec.events("run.skipped")).toEqual([]);
    const now = T0 + 3 * EVERY + 1;
    succeed(engine, rec, rec.start(1, "work"), now);
    rec.take(engine.advance(now));
    expect(rec.starts.map((s) => s.runId)).toEqual([1, 2]);
    expect(engine.activeRuns().map((r) => r.state)).toEqual(["running", "queued"]);
    succeed(engine, rec, rec.start(2, "work"), now + 1);
    rec.take(engine.advance(now + 1));
    expect(rec.starts.map((s) => s.runId)).toEqual([1, 2, 3]);
  });

  it("cancelRunning: the active run is aborted and the new one starts", () => {
    const { engine, rec, at } = setup("cancelRunning");
    at(1);
    const first = rec.start(1, "work");
    const out = at(2);
    expect(out.abort).toEqual([{ attemptId: first.attemptId, reason: expect.stringMatching(/overlap cancelRunning/) }]);
    expect(out.start.map((s) => s.runId)).toEqual([2]);
    expect(lastRunState(rec, 1)).toBe("cancelled");
    expect(engine.activeRuns().map((r) => [r.id, r.state])).toEqual([[2, "running"]]);
    expect(engine.finish(first.attemptId, first.fencingToken, { state: "success", output: null }, T0 + 2 * EVERY + 1).accepted).toBe(false);
  });

  it("allow: runs side by side up to maxActiveRuns, then queued", () => {
    const { engine, rec, at } = setup("allow", 2);
    at(1);
    at(2);
    at(3);
    expect(engine.activeRuns().map((r) => [r.id, r.state])).toEqual([
      [1, "running"],
      [2, "running"],
      [3, "queued"],
    ]);
    expect(rec.starts.map((s) => s.runId)).toEqual([1, 2]);
    const now = T0 + 3 * EVERY + 1;
    succeed(engine, rec, rec.start(1, "work"), now);
    rec.take(engine.advance(now));
    expect(rec.starts.map((s) => s.runId)).toEqual([1, 2, 3]);
    expect(engine.activeRuns().map((r) => r.state)).toEqual(["running", "running"]);
  });

  it("a manual trigger queues behind an active run and starts when it ends", () => {
    const cfg = config({ pipelines: [pipeline("adhoc", [["work"]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const first = engine.trigger("adhoc", T0);
    rec.take(engine.advance(T0));
    const second = engine.trigger("adhoc", T0 + 1, { params: { day: "2025-01-05" } });
    rec.take(engine.advance(T0 + 1));
    expect(rec.events("run.triggered")[1]?.message).toMatch(/queued behind active runs/);
    expect(engine.activeRuns().map((r) => [r.id, r.state])).toEqual([
      [first, "running"],
      [second, "queued"],
    ]);
    succeed(engine, rec, rec.start(first, "work"), T0 + 2);
    rec.take(engine.advance(T0 + 2));
    expect(rec.start(second, "work")).toMatchObject({ params: { day: "2025-01-05" }, startedAt: T0 + 2 });
    expect(() => engine.trigger("nope", T0)).toThrow(/unknown pipeline "nope"/);
  });
});

describe("catchup", () => {
  const EVERY = 10 * SECOND;
  const restoreAt = (lastScheduledFor: number): ActiveState => ({
    runs: [],
    tasks: [],
    attempts: [],
    schedules: [{ pipeline: "etl", lastScheduledFor, skipped: 0, pausedAt: null, backfillMaxActive: null }],
    maxRunId: 3,
    maxAttemptId: 3,
    maxFencingToken: 3,
  });

  it("on: the ticks missed while stopped are created (the first starts, the rest wait their turn)", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["work"]], { schedule: { everyMs: EVERY }, catchup: true })] });
    const now = T0 + 45 * SECOND;
    const engine = new Engine(cfg, { now, restore: restoreAt(T0 + 10 * SECOND), recover: true });
    const rec = new Recorder();
    rec.take(engine.advance(now));
    const created = rec.changes.flatMap((c) => (c.type === "createRun" ? [c.run] : []));
    expect(created.map((r) => [r.id, r.scheduledFor - T0, r.trigger, r.state])).toEqual([
      [4, 20 * SECOND, "catchup", "running"],
      [5, 30 * SECOND, "catchup", "queued"],
      [6, 40 * SECOND, "catchup", "queued"],
    ]);
    expect(engine.nextWakeAt()).toBe(T0 + 50 * SECOND);
  });

  it("on, within catchupWindow only", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["work"]], { schedule: { everyMs: EVERY }, catchup: true, catchupWindowMs: 15 * SECOND })] });
    const now = T0 + 45 * SECOND;
    const engine = new Engine(cfg, { now, restore: restoreAt(T0 + 10 * SECOND), recover: true });
    const rec = new Recorder();
    rec.take(engine.advance(now));
    expect(rec.changes.flatMap((c) => (c.type === "createRun" ? [c.run.scheduledFor - T0] : []))).toEqual([40 * SECOND]);
  });

  it("off: no missed tick is created; the gap is reported once", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["work"]], { schedule: { everyMs: EVERY }, catchup: false })] });
    const now = T0 + 45 * SECOND;
    const engine = new Engine(cfg, { now, restore: restoreAt(T0 + 10 * SECOND), recover: true });
    const rec = new Recorder();
    rec.take(engine.advance(now));
    expect(rec.changes.filter((c) => c.type === "createRun")).toEqual([]);
    expect(rec.events("schedule.missed")).toEqual([expect.objectContaining({ level: "info", data: { since: T0 + 10 * SECOND } })]);
    expect(engine.nextWakeAt()).toBe(T0 + 50 * SECOND);
    rec.take(engine.advance(T0 + 50 * SECOND));
    expect(rec.changes.flatMap((c) => (c.type === "createRun" ? [[c.run.id, c.run.trigger]] : []))).toEqual([[4, "schedule"]]);
  });
});

describe("limits", () => {
  it("maxActiveTasks, maxActivePerRun and worker memory are resources admission respects", () => {
    const cfg = config({
      worker: { concurrency: 8, memoryMb: 1_000 },
      pipelines: [
        pipeline("etl", [["a", { memoryMb: 600 }], ["b", { memoryMb: 600 }], ["c"], ["d", { maxActivePerRun: 1 }]], { maxActiveTasks: 2 }),
      ],
    });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    expect(rec.startedTasks()).toEqual(["a", "c"]);
    const why = Object.fromEntries(engine.explain(runId).map((t) => [t.task, t.reasons.map((r) => r.kind)]));
    expect(why).toMatchObject({ b: ["memory", "maxActiveTasks"], d: ["maxActiveTasks"] });
    expect(rec.start(runId, "a").demand).toEqual(
      expect.arrayContaining([
        { key: "memory:worker", amount: 600 },
        { key: "maxActiveTasks:etl", amount: 1 },
      ]),
    );
  });

  it("stopAdmitting lets running attempts finish but starts nothing new", () => {
    const cfg = config({ pipelines: [pipeline("etl", [["a"], ["b", { deps: ["a"] }]])] });
    const engine = new Engine(cfg, { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    engine.stopAdmitting();
    succeed(engine, rec, rec.start(runId, "a"), T0 + 1);
    rec.take(engine.advance(T0 + 1));
    expect(rec.startedTasks()).toEqual(["a"]);
    expect(engine.readyTaskIds()).toEqual([`${runId}/b`]);
  });
});

describe("sampled waiting reasons", () => {
  it("hands the samplers of one moment the same explanation, and a fresh one once it is older than asked", () => {
    const engine = new Engine(config({ pools: { db: 1 }, pipelines: [pipeline("etl", [["a", { pools: { db: 1 } }], ["b", { pools: { db: 1 } }]])] }), { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    const first = engine.sampledWaitingReasons(T0);
    expect([...first.keys()]).toEqual([`${runId}/b`]);
    expect(first.get(`${runId}/b`)?.[0]?.kind).toBe("pool");
    expect(engine.sampledWaitingReasons(T0 + 999)).toBe(first);
    // The pool frees: a sample taken a second later says so.
    const s = rec.starts.at(-1);
    if (!s) throw new Error("nothing started");
    succeed(engine, rec, s, T0 + 500);
    rec.take(engine.advance(T0 + 500));
    expect(engine.sampledWaitingReasons(T0 + 999)).toBe(first);
    const later = engine.sampledWaitingReasons(T0 + 1_000);
    expect(later).not.toBe(first);
    expect(later).toEqual(engine.waitingReasons());
    // A clock that went back is not served a sample from its future.
    expect(engine.sampledWaitingReasons(T0)).not.toBe(later);
    expect(engine.sampleEveryMs()).toBe(1_000);
  });

  it("are sampled less often the more tasks wait: a second per 4,000", () => {
    const tasks = Array.from({ length: 8_001 }, (_, i): [string, { pools: Record<string, number> }] => [`t${i}`, { pools: { db: 1 } }]);
    const engine = new Engine(config({ pools: { db: 1 }, pipelines: [pipeline("etl", tasks)] }), { now: T0 });
    engine.trigger("etl", T0);
    engine.advance(T0);
    expect(engine.waitingTasks).toBe(8_000);
    expect(engine.sampleEveryMs()).toBe(2_000);
  });
});
