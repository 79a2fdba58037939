// Adaptive pools: the limiters alone (bounds, by property), and the engine against a simulated
// database whose latency climbs steeply past 6 concurrent queries — the limit must settle near 6,
// not run to the pool's max of 20.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AimdLimiter, GradientLimiter, isOverloadError, type AdaptiveSpec } from "../../src/core/adaptive.js";
import { Engine } from "../../src/core/engine/engine.js";
import type { StartCommand } from "../../src/core/engine/types.js";
import { Heap } from "../../src/core/heap.js";
import type { ResolvedConfig } from "../../src/define/resolved.js";
import { config, pipeline, Recorder, T0 } from "./fixtures.js";

/** 100 ms up to 6 queries at once; past that every extra query adds a lot (lock and I/O contention). */
const dbLatency = (concurrent: number): number => (concurrent <= 6 ? 100 : 100 * (1 + 2 * (concurrent - 6) ** 2));

function adaptiveConfig(spec: AdaptiveSpec, tasks: number): ResolvedConfig {
  const base = config({ parallelism: 64, worker: { concurrency: 64 }, pipelines: [pipeline("load", Array.from({ length: tasks }, (_, i) => [`q${i}`, { pools: { db: 1 } }] as [string, { pools: Record<string, number> }]))] });
  return { ...base, pools: { db: { name: "db", slots: spec.initial ?? spec.min, description: undefined, adaptive: spec } } };
}

/**
 * Runs `tasks` queries through the engine on a virtual clock. Each takes the database's latency at
 * the concurrency it started into (with a little deterministic jitter); `overloadAbove` makes an
 * attempt report `ctx.overloaded()` when it ran with more queries than that. Returns the pool's
 * limit after every completion.
 */
function drive(cfg: ResolvedConfig, overloadAbove?: number): number[] {
  const engine = new Engine(cfg, { now: T0 });
  const rec = new Recorder();
  const running = new Heap<{ at: number; s: StartCommand; concurrent: number }>((a, b) => a.at < b.at);
  const limits: number[] = [];
  let now = T0;
  let n = 0;
  const start = (starts: StartCommand[]) => {
    for (const s of starts) {
      const concurrent = running.size + 1;
      running.push({ at: now + Math.round(dbLatency(concurrent) * (0.9 + 0.2 * (((n += 7919) % 100) / 100))), s, concurrent });
    }
  };
  engine.trigger("load", now);
  start(rec.take(engine.advance(now)).start);
  for (let top = running.pop(); top; top = running.pop()) {
    now = top.at;
    const overloaded = overloadAbove !== undefined && top.concurrent > overloadAbove;
    engine.finish(top.s.attemptId, top.s.fencingToken, { state: "success", output: null, ...(overloaded ? { overloaded } : {}) }, now);
    start(rec.take(engine.advance(now)).start);
    limits.push(engine.usage().find((u) => u.key === "pool:db")?.capacity ?? -1);
  }
  expect(engine.activeRuns()).toEqual([]);
  return limits;
}

const settled = (limits: number[]) => {
  const tail = limits.slice(Math.floor(limits.length / 2));
  return { min: Math.min(...tail), max: Math.max(...tail), mean: tail.reduce((a, b) => a + b, 0) / tail.length };
};

describe("adaptive pools", () => {
  it("gradient: the limit settles near the database's knee of 6, not at the max of 20", () => {
    const s = settled(drive(adaptiveConfig({ min: 2, max: 20, algorithm: "gradient" }, 3000)));
    // Seen here: 6–10, mean 7.1.
    expect(s.mean).toBeGreaterThanOrEqual(5);
    expect(s.mean).toBeLessThanOrEqual(8);
    expect(s.max).toBeLessThanOrEqual(12);
  });

  it("aimd: overload signals (ctx.overloaded past 6 queries) hold the limit near 6", () => {
    const s = settled(drive(adaptiveConfig({ min: 2, max: 20, algorithm: "aimd" }, 3000), 6));
    expect(s.mean).toBeGreaterThanOrEqual(5);
    expect(s.mean).toBeLessThanOrEqual(8);
  });

  it("aimd with a latency threshold finds the knee without signals", () => {
    const s = settled(drive(adaptiveConfig({ min: 2, max: 20, algorithm: "aimd", latencyThresholdMs: 250 }, 3000)));
    // AIMD saws: up by one while busy, ×0.9 on each slow completion (seen here: 2–12, mean 6.3).
    expect(s.mean).toBeGreaterThanOrEqual(4);
    expect(s.mean).toBeLessThanOrEqual(8);
    expect(s.max).toBeLessThanOrEqual(14);
  });

  it("with a flat latency, the limit grows to the max", () => {
    const flat = adaptiveConfig({ min: 2, max: 20, algorithm: "gradient" }, 2000);
    const engine = new Engine(flat, { now: T0 });
    const rec = new Recorder();
    engine.trigger("load", T0);
    let now = T0;
    let pending = rec.take(engine.advance(now)).start;
    while (pending.length > 0) {
      now += 100;
      for (const s of pending) engine.finish(s.attemptId, s.fencingToken, { state: "success", output: null }, now);
      pending = rec.take(engine.advance(now)).start;
    }
    expect(engine.usage().find((u) => u.key === "pool:db")?.capacity).toBe(20);
  });

  it("a waiting task's reason says the limit is adaptive, and where it is", () => {
    const engine = new Engine(adaptiveConfig({ min: 2, max: 20, algorithm: "gradient" }, 3), { now: T0 });
    const rec = new Recorder();
    const runId = engine.trigger("load", T0);
    rec.take(engine.advance(T0));
    expect(engine.explain(runId, "q2", T0)[0]?.reasons).toContainEqual(expect.objectContaining({ kind: "pool", name: "db", capacity: 2, free: 0, adaptive: { min: 2, max: 20, algorithm: "gradient" } }));
  });

  it("limiters never leave [min, max], whatever they are fed (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 30 }),
        fc.constantFrom("gradient" as const, "aimd" as const),
        fc.array(fc.record({ latencyMs: fc.double({ min: 0, max: 1e6, noNaN: true }), inflight: fc.integer({ min: 0, max: 100 }), overloaded: fc.boolean() }), { maxLength: 300 }),
        (min, extra, algorithm, samples) => {
          const spec: AdaptiveSpec = { min, max: min + extra, algorithm, latencyThresholdMs: 500 };
          const l = algorithm === "gradient" ? new GradientLimiter(spec) : new AimdLimiter(spec);
          for (const s of samples) {
            const v = l.sample(s);
            expect(v).toBeGreaterThanOrEqual(min);
            expect(v).toBeLessThanOrEqual(min + extra);
          }
        },
      ),
    );
  });

  it("recognises lock timeouts and refused connections as overload", () => {
    expect(isOverloadError({ message: "canceling statement due to lock timeout", code: "55P03" })).toBe(true);
    expect(isOverloadError({ message: "sorry, too many clients already" })).toBe(true);
    expect(isOverloadError({ message: "connect ECONNREFUSED 127.0.0.1:5432" })).toBe(true);
    expect(isOverloadError({ message: "duplicate key value violates unique constraint", code: "23505" })).toBe(false);
  });
});
