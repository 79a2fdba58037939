// Pause, resume and backfill in the pure engine, driven by an injected clock.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine } from "../../src/core/engine/engine.js";
import { config, MINUTE, pipeline, Recorder, SECOND, succeed, T0 } from "./fixtures.js";

const EVERY = 10 * SECOND;

function ticker(o: { catchup?: boolean; maxActiveRuns?: number; overlap?: "skip" | "allow" } = {}) {
  return config({ pipelines: [pipeline("tick", [["t"]], { schedule: { everyMs: EVERY }, ...o })] });
}

const createdRuns = (rec: Recorder) => rec.changes.flatMap((c) => (c.type === "createRun" ? [c.run] : []));

describe("pause and resume", () => {
  it("a paused pipeline creates no scheduled runs; without catchup the missed ticks are recorded and skipped", () => {
    const engine = new Engine(ticker(), { now: T0 });
    const rec = new Recorder();
    rec.take(engine.advance(T0 + EVERY));
    for (const s of rec.starts) succeed(engine, rec, s, T0 + EVERY + 1);
    expect(createdRuns(rec)).toHaveLength(1);

    expect(engine.pause("tick", T0 + EVERY + 2)).toBe(true);
    expect(engine.pause("tick", T0 + EVERY + 3)).toBe(false);
    rec.take(engine.advance(T0 + 5 * EVERY));
    expect(createdRuns(rec)).toHaveLength(1);
    expect(rec.changes).toContainEqual({ type: "controlPipeline", pipeline: "tick", pausedAt: T0 + EVERY + 2 });

    expect(engine.resume("tick", T0 + 5 * EVERY + 500)).toBe(true);
    expect(engine.resume("tick", T0 + 5 * EVERY + 600)).toBe(false);
    rec.take(engine.advance(T0 + 5 * EVERY + 600));
    expect(createdRuns(rec)).toHaveLength(1);
    expect(rec.events("schedule.missed")).toHaveLength(1);
    rec.take(engine.advance(T0 + 6 * EVERY));
    expect(createdRuns(rec).map((r) => r.scheduledFor)).toEqual([T0 + EVERY, T0 + 6 * EVERY]);
  });

  it("with catchup, resume runs the ticks missed while paused, as catchup runs", () => {
    const engine = new Engine(ticker({ catchup: true, overlap: "allow", maxActiveRuns: 10 }), { now: T0 });
    const rec = new Recorder();
    engine.pause("tick", T0);
    rec.take(engine.advance(T0 + 3 * EVERY + 1));
    expect(createdRuns(rec)).toHaveLength(0);
    engine.resume("tick", T0 + 3 * EVERY + 1);
    rec.take(engine.advance(T0 + 3 * EVERY + 1));
    expect(createdRuns(rec).map((r) => [r.scheduledFor, r.trigger])).toEqual([
      [T0 + EVERY, "catchup"],
      [T0 + 2 * EVERY, "catchup"],
      [T0 + 3 * EVERY, "catchup"],
    ]);
    expect(rec.events("schedule.missed")).toHaveLength(0);
  });

  it("the paused state survives a restart", () => {
    const engine = new Engine(ticker(), {
      now: T0,
      restore: { runs: [], tasks: [], attempts: [], schedules: [{ pipeline: "tick", lastScheduledFor: T0, skipped: 0, pausedAt: T0, backfillMaxActive: null }], maxRunId: 0, maxAttemptId: 0, maxFencingToken: 0 },
    });
    const rec = new Recorder();
    rec.take(engine.advance(T0 + 10 * EVERY));
    expect(createdRuns(rec)).toHaveLength(0);
    expect(engine.pause("tick", T0 + 10 * EVERY)).toBe(false);
  });
});

describe("backfill", () => {
  it("never runs more than min(maxActive, maxActiveRuns) backfill runs at once, and runs each time once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 1000 }), (maxActive, maxActiveRuns, days, seed) => {
        const cfg = config({ pipelines: [pipeline("daily", [["a"], ["b", { deps: ["a"] }]], { schedule: { everyMs: 24 * 60 * MINUTE }, maxActiveRuns })] });
        const engine = new Engine(cfg, { now: T0 });
        const rec = new Recorder();
        const times = Array.from({ length: days }, (_, i) => T0 - (i + 1) * 24 * 60 * MINUTE);
        const ids = engine.backfill("daily", times, maxActive, T0);
        expect(ids).toHaveLength(days);
        rec.take(engine.advance(T0));
        let now = T0;
        let random = seed;
        const cap = Math.min(maxActive, maxActiveRuns);
        for (let guard = 0; guard < 1000 && engine.activeRuns().length > 0; guard++) {
          const running = engine.activeRuns().filter((r) => r.state === "running").length;
          expect(running).toBeLessThanOrEqual(cap);
          const pending = rec.starts.filter((s) => !rec.changes.some((c) => c.type === "endAttempt" && c.id === s.attemptId));
          if (pending.length === 0) break;
          random = (random * 1103515245 + 12345) % 2147483648;
          const s = pending[random % pending.length];
          if (!s) break;
          now += SECOND;
          succeed(engine, rec, s, now);
          rec.take(engine.advance(now));
        }
        expect(engine.activeRuns()).toHaveLength(0);
        const created = createdRuns(rec);
        expect(created.map((r) => r.scheduledFor).sort()).toEqual([...times].sort());
        expect(created.every((r) => r.trigger === "catchup")).toBe(true);
        // The cap goes with the backfill's last run.
        expect(rec.changes.filter((c) => c.type === "controlPipeline").at(-1)).toEqual({ type: "controlPipeline", pipeline: "daily", backfillMaxActive: null });
      }),
      { numRuns: 60 },
    );
  });

  it("recorded by a process that runs nothing, backfill runs stay queued", () => {
    const engine = new Engine(ticker({ maxActiveRuns: 3 }), { now: T0 });
    const rec = new Recorder();
    engine.stopAdmitting();
    engine.backfill("tick", [T0 - 2 * EVERY, T0 - EVERY], 2, T0, { queued: true });
    rec.take(engine.advance(T0));
    expect(createdRuns(rec).map((r) => r.state)).toEqual(["queued", "queued"]);
    expect(() => engine.backfill("tick", [T0], 0, T0)).toThrow(/maxActive must be a whole number/);
    expect(() => engine.backfill("nope", [T0], 1, T0)).toThrow(/nope/);
  });
});

describe("retry and mark", () => {
  const chain = () => config({ pipelines: [pipeline("etl", [["a"], ["b", { deps: ["a"] }], ["c", { deps: ["b"] }]])] });
  const finished = (states: Record<string, "success" | "failed" | "upstream_failed">) => ({
    run: { id: 7, pipeline: "etl", scheduledFor: T0, trigger: "manual" as const, params: {}, state: "failed" as const, createdAt: T0, startedAt: T0, endedAt: T0 + SECOND },
    tasks: Object.entries(states).map(([task, state]) => ({ runId: 7, task, state, attempts: state === "upstream_failed" ? 0 : 1, lostAttempts: 0, readyAt: T0, output: state === "success" ? `out-${task}` : null })),
  });

  it("runs the failed task and what never ran again, with the outputs of what succeeded", () => {
    const engine = new Engine(chain(), { now: T0 });
    const rec = new Recorder();
    const { run, tasks } = finished({ a: "success", b: "failed", c: "upstream_failed" });
    expect(engine.retry(run, tasks, {}, T0 + MINUTE)).toEqual(["b", "c"]);
    rec.take(engine.advance(T0 + MINUTE));
    expect(rec.startedTasks()).toEqual(["b"]);
    expect(rec.start(7, "b")).toMatchObject({ attempt: 2, upstream: { a: "out-a" } });
    succeed(engine, rec, rec.start(7, "b"), T0 + MINUTE + SECOND, "out-b2");
    rec.take(engine.advance(T0 + MINUTE + SECOND));
    succeed(engine, rec, rec.start(7, "c"), T0 + MINUTE + 2 * SECOND);
    rec.take(engine.advance(T0 + MINUTE + 2 * SECOND));
    expect(rec.changes.filter((c) => c.type === "updateRun" && c.id === 7).map((c) => (c.type === "updateRun" ? c.state : ""))).toEqual(["queued", "running", "success"]);
    expect(rec.events("run.retried")).toHaveLength(1);
  });

  it("a named task alone, or with everything downstream; refused while active or unknown", () => {
    const { run, tasks } = finished({ a: "success", b: "success", c: "success" });
    expect(new Engine(chain(), { now: T0 }).retry({ ...run, state: "success" }, tasks, { tasks: ["a"] }, T0)).toEqual(["a"]);
    expect(new Engine(chain(), { now: T0 }).retry({ ...run, state: "success" }, tasks, { tasks: ["a"], downstream: true }, T0)).toEqual(["a", "b", "c"]);
    const engine = new Engine(chain(), { now: T0 });
    expect(() => engine.retry({ ...run, state: "success" }, tasks, {}, T0)).toThrow(/every task succeeded/);
    expect(() => engine.retry({ ...run, state: "running" }, tasks, {}, T0)).toThrow(/still running/);
    expect(() => engine.retry(run, tasks, { tasks: ["zz"] }, T0)).toThrow(/has no task "zz"/);
  });

  it("mark sets a task by hand and the run follows its tasks", () => {
    const engine = new Engine(chain(), { now: T0 });
    const { run, tasks } = finished({ a: "success", b: "failed", c: "upstream_failed" });
    expect(engine.mark(run, tasks, "b", "success", T0)).toBe("failed");
    const after = tasks.map((t) => (t.task === "b" ? { ...t, state: "success" as const } : t));
    expect(engine.mark(run, after, "c", "success", T0)).toBe("success");
    expect(() => engine.mark({ ...run, state: "queued" }, tasks, "b", "success", T0)).toThrow(/still queued/);
  });
});

describe("SLAs and deadlines", () => {
  const slaConfig = () =>
    config({
      pools: { db: 1 },
      pipelines: [
        pipeline("etl", [["a", { pools: { db: 1 }, estimateMs: 10 * MINUTE }], ["b", { deps: ["a"], estimateMs: MINUTE }]], { schedule: { everyMs: 60 * MINUTE } }),
      ],
    });
  const withSla = (cfg: ReturnType<typeof slaConfig>, slaMs: number, deadlineMs?: number) => ({
    ...cfg,
    pipelines: cfg.pipelines.map((p) => ({ ...p, ...(deadlineMs !== undefined ? { deadlineMs } : {}), tasks: p.tasks.map((t) => (t.id === "b" ? { ...t, slaMs } : t)) })),
  });

  it("a task not done by its SLA fires task.sla_missed once; one done in time fires nothing", () => {
    const engine = new Engine(withSla(slaConfig(), 5 * MINUTE, 8 * MINUTE), { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("etl", T0);
    rec.take(engine.advance(T0));
    expect(engine.nextWakeAt()).toBe(T0 + 5 * MINUTE);
    expect(engine.explain(runId, "b", T0)[0]?.sla).toEqual({ dueAt: T0 + 5 * MINUTE, missed: false, willMiss: false });
    expect(engine.explain(runId, "b", T0 + 4.5 * MINUTE)[0]?.sla).toEqual({ dueAt: T0 + 5 * MINUTE, missed: false, willMiss: true });
    for (const t of [T0 + 5 * MINUTE, T0 + 6 * MINUTE, T0 + 8 * MINUTE, T0 + 9 * MINUTE]) rec.take(engine.advance(t));
    expect(rec.events("task.sla_missed").map((e) => e.task)).toEqual(["b"]);
    expect(rec.events("task.sla_missed")[0]?.message).toContain("etl.b: missed its SLA of 5m");
    expect(rec.events("run.deadline_missed")).toHaveLength(1);
    succeed(engine, rec, rec.start(runId, "a"), T0 + 10 * MINUTE);
    rec.take(engine.advance(T0 + 10 * MINUTE));
    succeed(engine, rec, rec.start(runId, "b"), T0 + 11 * MINUTE);
    rec.take(engine.advance(T0 + 11 * MINUTE));
    expect(rec.events("task.sla_missed")).toHaveLength(1);

    const onTime = new Engine(withSla(slaConfig(), 30 * MINUTE), { now: T0 });
    const rec2 = new Recorder();
    const r2 = onTime.trigger("etl", T0);
    rec2.take(onTime.advance(T0));
    succeed(onTime, rec2, rec2.start(r2, "a"), T0 + MINUTE);
    rec2.take(onTime.advance(T0 + MINUTE));
    succeed(onTime, rec2, rec2.start(r2, "b"), T0 + 2 * MINUTE);
    rec2.take(onTime.advance(T0 + 2 * MINUTE));
    // Nothing left to check but the next tick: a met SLA leaves no timer behind.
    expect(onTime.nextWakeAt()).toBe(T0 + 60 * MINUTE);
    rec2.take(onTime.advance(T0 + 60 * MINUTE - 1));
    expect(rec2.events("task.sla_missed")).toHaveLength(0);
  });
});
