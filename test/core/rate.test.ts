/**
 * Rate limits in the pure core: the GCRA arithmetic (core/rate.ts) and rate limits as an admission
 * resource the engine refills from its own clock — tokens granted at admission, a waiting task
 * explained with the limit and its next token, the next token as a wake-up time. Time is driven,
 * never slept.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine } from "../../src/core/engine/engine.js";
import { simulate } from "../../src/core/simulate.js";
import { msUntil, refund, takeUpTo, tokensAt, type BucketShape } from "../../src/core/rate.js";
import { defineConfig, pipeline, resolveConfigOrThrow } from "../../src/index.js";
import type { WaitReason } from "../../src/core/admission/types.js";

const T0 = Date.UTC(2025, 0, 6);

/** Most tokens a bucket may grant in any window [a, b]: `burst + (b − a) / emission`. */
function overBudget(grants: ReadonlyArray<{ at: number; n: number }>, shape: BucketShape): string | undefined {
  const sorted = [...grants].sort((x, y) => x.at - y.at);
  for (let i = 0; i < sorted.length; i++) {
    let sum = 0;
    for (let j = i; j < sorted.length; j++) {
      sum += sorted[j]!.n;
      const allowed = shape.burst + (sorted[j]!.at - sorted[i]!.at) / shape.emissionMs;
      if (sum > allowed + 1e-6) return `${sum} tokens in [${sorted[i]!.at}, ${sorted[j]!.at}], allowed ${allowed}`;
    }
  }
  return undefined;
}

describe("GCRA arithmetic", () => {
  const shape: BucketShape = { emissionMs: 100, burst: 3 };

  it("a quiet bucket holds its burst; taking empties it; a token comes back every emission interval", () => {
    expect(tokensAt(0, T0, shape)).toBe(3);
    const d = takeUpTo(0, T0, 1, 10, shape);
    expect(d.taken).toBe(3);
    expect(tokensAt(d.tat, T0, shape)).toBe(0);
    expect(msUntil(d.tat, T0, 1, shape)).toBe(100);
    expect(tokensAt(d.tat, T0 + 99, shape)).toBe(0);
    expect(tokensAt(d.tat, T0 + 100, shape)).toBe(1);
    expect(tokensAt(d.tat, T0 + 250, shape)).toBe(2);
  });

  it("all or nothing: min = max takes nothing when short, and says how long until it fits", () => {
    const empty = takeUpTo(0, T0, 3, 3, shape).tat;
    const d = takeUpTo(empty, T0 + 150, 2, 2, shape);
    expect(d).toMatchObject({ taken: 0, tat: empty });
    expect(d.retryAfterMs).toBe(50);
    expect(takeUpTo(empty, T0 + 200, 2, 2, shape).taken).toBe(2);
  });

  it("a refund undoes a take made at the same time", () => {
    const t1 = takeUpTo(0, T0, 1, 1, shape).tat;
    const t2 = takeUpTo(t1, T0 + 10, 1, 2, shape);
    expect(t2.taken).toBe(2);
    expect(tokensAt(refund(t2.tat, 2, shape), T0 + 10, shape)).toBe(tokensAt(t1, T0 + 10, shape));
  });

  it("property: whatever is taken, given back and when, no window ever gets more than burst + window / emission tokens", () => {
    fc.assert(
      fc.property(
        fc.record({ emissionMs: fc.integer({ min: 1, max: 500 }), burst: fc.integer({ min: 1, max: 10 }) }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), min: fc.integer({ min: 1, max: 10 }), extra: fc.integer({ min: 0, max: 5 }), giveBack: fc.integer({ min: 0, max: 5 }) }), { maxLength: 60 }),
        (shape, ops) => {
          let tat = 0;
          let now = T0;
          const grants: Array<{ at: number; n: number }> = [];
          for (const op of ops) {
            now += op.dt;
            const min = Math.min(op.min, shape.burst);
            const d = takeUpTo(tat, now, min, min + op.extra, shape);
            tat = d.tat;
            if (d.taken === 0) continue;
            // Admission gives back what it did not grant: the grant is what stays taken.
            const back = Math.min(op.giveBack, d.taken);
            tat = refund(tat, back, shape);
            if (d.taken - back > 0) grants.push({ at: now, n: d.taken - back });
          }
          expect(overBudget(grants, shape)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});

function rateConfig(tasks: number, limit = { limit: 2, per: "1s" as const, burst: 2 }) {
  const p = pipeline("calls");
  for (let i = 0; i < tasks; i++) p.task(`t${i}`, { rate: { api: 1 } }, () => undefined);
  return resolveConfigOrThrow(defineConfig({ parallelism: 100, worker: { concurrency: 100 }, rateLimits: { api: limit }, pipelines: [p] }));
}

describe("rate limits in admission (engine keeps the budget)", () => {
  it("admits as many tasks as there are tokens, explains the rest with the limit and its next token, and wakes at that token", () => {
    const engine = new Engine(rateConfig(5), { now: T0 });
    engine.trigger("calls", T0);
    const first = engine.advance(T0);
    expect(first.start).toHaveLength(2);
    const runId = first.start[0]!.runId;
    const waiting = engine.explain(runId, undefined, T0).filter((e) => e.state === "ready");
    expect(waiting).toHaveLength(3);
    const reason = waiting[0]!.reasons.find((r): r is Extract<WaitReason, { kind: "rate" }> => r.kind === "rate");
    expect(reason).toMatchObject({ kind: "rate", name: "api", need: 1, available: 0, limit: 2, perMs: 1000, burst: 2, nextTokenAt: T0 + 500 });
    expect(engine.nextWakeAt()).toBe(T0 + 500);
    expect(engine.advance(T0 + 499).start).toHaveLength(0);
    expect(engine.advance(T0 + 500).start).toHaveLength(1);
    expect(engine.advance(T0 + 1500).start).toHaveLength(2);
    expect(engine.nextWakeAt()).toBeUndefined();
  });

  it("tokens are spent, not held: a task ending gives none back", () => {
    const engine = new Engine(rateConfig(3, { limit: 1, per: "1s", burst: 1 }), { now: T0 });
    engine.trigger("calls", T0);
    const [a] = engine.advance(T0).start;
    engine.finish(a!.attemptId, a!.fencingToken, { state: "success", output: null }, T0 + 1);
    expect(engine.advance(T0 + 1).start).toHaveLength(0);
    expect(engine.advance(T0 + 1000).start).toHaveLength(1);
  });

  it("an external budget: the engine asks for what waiting tasks need (capped at the burst), grants from what it is offered, and hands back the rest", () => {
    const engine = new Engine(rateConfig(5, { limit: 10, per: "1s", burst: 4 }), { now: T0, rateBudget: "external" });
    engine.trigger("calls", T0);
    // Tasks became ready in this advance; nothing was offered yet.
    expect(engine.advance(T0).start).toHaveLength(0);
    expect(engine.rateWants()).toEqual([{ name: "api", want: 4, burst: 4 }]);
    engine.offerTokens("api", 3, T0 + 100);
    expect(engine.advance(T0).start).toHaveLength(3);
    expect(engine.unusedTokens()).toEqual([]);
    engine.offerTokens("api", 4, undefined);
    expect(engine.advance(T0 + 1).start).toHaveLength(2);
    expect(engine.unusedTokens()).toEqual([{ name: "api", tokens: 2 }]);
    expect(engine.rateWants()).toEqual([]);
  });

  it("a task held up by a pool, with tokens in the budget, is explained by the pool alone (tokens given back still count as there)", () => {
    const p = pipeline("calls");
    for (let i = 0; i < 2; i++) p.task(`t${i}`, { rate: { api: 1 }, pools: { db: 1 } }, () => undefined);
    const config = resolveConfigOrThrow(defineConfig({ pools: { db: { slots: 1 } }, rateLimits: { api: { limit: 1, per: "1s", burst: 2 } }, pipelines: [p] }));
    for (const rateBudget of ["engine", "external"] as const) {
      const engine = new Engine(config, { now: T0, rateBudget });
      engine.trigger("calls", T0);
      let [started] = engine.advance(T0).start;
      if (rateBudget === "external") {
        engine.offerTokens("api", 2, undefined);
        [started] = engine.advance(T0).start;
      }
      expect(started).toBeDefined();
      if (rateBudget === "external") expect(engine.unusedTokens()).toEqual([{ name: "api", tokens: 1 }]);
      const waiting = engine.explain(started!.runId, undefined, T0).find((e) => e.state === "ready");
      expect(waiting?.reasons.map((r) => r.kind), rateBudget).toEqual(["pool"]);
    }
  });

  it("property: tasks admitted over time never take more tokens than the budget allows in any window", () => {
    fc.assert(
      fc.property(
        fc.record({ limit: fc.integer({ min: 1, max: 5 }), perMs: fc.integer({ min: 100, max: 2000 }), burst: fc.integer({ min: 1, max: 4 }) }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 40 }),
        (limit, needs, steps) => {
          const p = pipeline("calls");
          needs.forEach((n, i) => p.task(`t${i}`, { rate: { api: Math.min(n, limit.burst) } }, () => undefined));
          const config = resolveConfigOrThrow(defineConfig({ parallelism: 100, worker: { concurrency: 100 }, rateLimits: { api: { limit: limit.limit, per: limit.perMs, burst: limit.burst } }, pipelines: [p] }));
          const engine = new Engine(config, { now: T0 });
          engine.trigger("calls", T0);
          let now = T0;
          const grants: Array<{ at: number; n: number }> = [];
          for (const dt of steps) {
            now += dt;
            for (const s of engine.advance(now).start) grants.push({ at: now, n: s.demand.find((d) => d.key === "rate:api")?.amount ?? 0 });
          }
          expect(overBudget(grants, { emissionMs: limit.perMs / limit.limit, burst: limit.burst })).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("rate limits in simulate", () => {
  it("starts rate-limited tasks as tokens come on the virtual clock, says so in their wait reasons, and counts the tokens", () => {
    const p = pipeline("calls");
    for (let i = 0; i < 4; i++) p.task(`t${i}`, { rate: { api: 1 }, estimate: "1s" }, () => undefined);
    const config = resolveConfigOrThrow(defineConfig({ rateLimits: { api: { limit: 1, per: "10s", burst: 1 } }, pipelines: [p] }));
    const result = simulate(config, { start: T0, durationMs: 60_000 });
    expect(result.attempts.map((a) => a.startedAt - T0)).toEqual([0, 10_000, 20_000, 30_000]);
    expect(result.attempts[3]!.waitReasons.map((r) => r.kind)).toContain("rate");
    expect(result.rateLimits.api).toEqual({ limit: 1, perMs: 10_000, burst: 1, taken: 4, waitedMs: 60_000 });
  });
});
