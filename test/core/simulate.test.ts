import { describe, expect, it } from "vitest";
import { DEFAULT_SIMULATION_START, simulate } from "../../src/core/simulate.js";
import { config, MINUTE, pipeline, SECOND } from "./fixtures.js";

function diamondPipeline() {
  return pipeline("etl", [
    ["A", { weight: 7, pools: { db: 1 }, estimateMs: 10 * SECOND }],
    ["B", { weight: 3, pools: { db: 1 }, deps: ["A"], estimateMs: 10 * SECOND }],
    ["C", { weight: 4, pools: { db: 1 }, deps: ["A"], estimateMs: 10 * SECOND }],
    ["D", { weight: 1, pools: { db: 1 }, deps: ["B", "C"], estimateMs: 10 * SECOND }],
  ]);
}

/** Several pipelines competing for two pools, on schedules, with retries jittered by the seed. */
function busy() {
  return config({
    pools: { db: 2, api: 1 },
    aging: { pointsPerMinute: 2 },
    reservation: { afterMs: 30 * SECOND },
    pipelines: [
      diamondPipeline(),
      pipeline(
        "sync",
        [
          ["pull", { weight: 2, pools: { api: 1 }, estimateMs: 8 * SECOND }],
          ["load", { weight: 1, pools: { db: 2 }, deps: ["pull"], estimateMs: 12 * SECOND }],
        ],
        { schedule: { everyMs: 30 * SECOND }, overlap: "bufferOne" },
      ),
      pipeline("probe", [["ping", { weight: 9, pools: { db: 1, api: 1 }, estimateMs: 3 * SECOND }]], { schedule: { everyMs: 15 * SECOND } }),
      pipeline("fanout", [["a", { pools: { db: 1 } }], ["b", { pools: { db: 1 } }], ["c", { pools: { db: 1 } }], ["d", { pools: { db: 1 } }]], {
        schedule: { everyMs: MINUTE },
        overlap: "allow",
        maxActiveRuns: 2,
      }),
    ],
  });
}

describe("simulate", () => {
  it("is deterministic: the same config and options give deep-equal results", () => {
    const opts = { durationMs: 10 * MINUTE, seed: 3, defaultDurationMs: 20 * SECOND };
    const first = simulate(busy(), opts);
    const second = simulate(busy(), opts);
    expect(second).toEqual(first);
    expect(first.attempts.length).toBeGreaterThan(20);
    expect(first.start).toBe(DEFAULT_SIMULATION_START);
    expect(first.assumedDurations).toEqual(["fanout.a", "fanout.b", "fanout.c", "fanout.d"]);
  });

  it("runs the priority diamond A, C, B, D on a one-slot pool", () => {
    const result = simulate(config({ pools: { db: 1 }, pipelines: [diamondPipeline()] }), { durationMs: MINUTE });
    expect(result.attempts.map((a) => a.task)).toEqual(["A", "C", "B", "D"]);
    expect(result.attempts.map((a) => a.startedAt - result.start)).toEqual([0, 10, 20, 30].map((s) => s * SECOND));
    // B waited behind C for the one slot, and says so.
    const b = result.attempts.find((a) => a.task === "B");
    expect(b).toMatchObject({ waitedMs: 10 * SECOND, waitReasons: [expect.objectContaining({ kind: "pool", name: "db" })] });
    expect(result.runs).toEqual([expect.objectContaining({ pipeline: "etl", state: "success", trigger: "manual" })]);
    expect(result.pools.db).toEqual({ capacity: 1, peak: 1 });
  });

  it("names the holders still holding when a task last waited, not those of when it began to wait", () => {
    // X, Y, Z on a one-slot pool, by weight: X holds it 0–10 s, Y 10–20 s; Z waits from 0 to 20 s.
    const result = simulate(
      config({
        pools: { db: 1 },
        pipelines: [
          pipeline("etl", [
            ["X", { weight: 9, pools: { db: 1 }, estimateMs: 10 * SECOND }],
            ["Y", { weight: 5, pools: { db: 1 }, estimateMs: 10 * SECOND }],
            ["Z", { weight: 1, pools: { db: 1 }, estimateMs: 10 * SECOND }],
          ]),
        ],
      }),
      { durationMs: MINUTE },
    );
    const z = result.attempts.find((a) => a.task === "Z");
    expect(z?.waitedMs).toBe(20 * SECOND);
    const pool = z?.waitReasons.find((r) => r.kind === "pool");
    expect(pool && "holders" in pool ? pool.holders.map((h) => h.task) : undefined).toEqual(["Y"]);
  });

  it("makes skips visible: a 15 s cycle that takes 20 s skips every other tick and is warned about", () => {
    const cfg = config({ pipelines: [pipeline("cycle", [["work", { estimateMs: 20 * SECOND }]], { schedule: { everyMs: 15 * SECOND } })] });
    const result = simulate(cfg, { durationMs: 2 * MINUTE });
    const timeline = result.runs.map((r) => [(r.scheduledFor - result.start) / SECOND, r.state]);
    expect(timeline).toEqual([
      [15, "success"],
      [30, "skipped"],
      [45, "success"],
      [60, "skipped"],
      [75, "success"],
      [90, "skipped"],
      [105, "running"],
      [120, "skipped"],
    ]);
    expect(result.warnings).toHaveLength(3);
    expect(result.warnings[0]).toMatch(/took 20000 ms, longer than its 15000 ms interval/);
  });

  it("never puts a pool over its slots", () => {
    for (const seed of [1, 2, 3]) {
      const result = simulate(busy(), { durationMs: 15 * MINUTE, seed, defaultDurationMs: 25 * SECOND });
      for (const [name, pool] of Object.entries(result.pools)) {
        expect(pool.peak, `pool ${name}, seed ${seed}`).toBeLessThanOrEqual(pool.capacity);
      }
      // There was contention: both pools were full at some point.
      expect(result.pools.db?.peak).toBe(2);
      expect(result.pools.api?.peak).toBe(1);
      // Replaying the attempts gives the same answer at every instant, not just at the sampled ones.
      for (const name of ["db", "api"]) {
        const slots = (pipelineId: string, task: string): number => busy().pipelines.find((p) => p.id === pipelineId)?.tasks.find((t) => t.id === task)?.pools[name] ?? 0;
        const edges = result.attempts.flatMap((a) => {
          const n = slots(a.pipeline, a.task);
          return n === 0 ? [] : [{ at: a.startedAt, d: n }, ...(a.endedAt === null ? [] : [{ at: a.endedAt, d: -n }])];
        });
        edges.sort((x, y) => x.at - y.at || x.d - y.d); // releases before grants at the same instant
        let used = 0;
        for (const e of edges) {
          used += e.d;
          expect(used).toBeLessThanOrEqual(result.pools[name]?.capacity ?? 0);
        }
      }
    }
  });
});

describe("simulate predicts SLA misses", () => {
  it("from the estimates: b waits for a on a one-slot pool and misses its 15-minute SLA", async () => {
    const { simulate } = await import("../../src/core/simulate.js");
    const { config: cfg, pipeline: pl, MINUTE: M } = await import("./fixtures.js");
    const c = cfg({
      pools: { db: 1 },
      pipelines: [pl("etl", [["a", { pools: { db: 1 }, estimateMs: 20 * M }], ["b", { deps: ["a"], estimateMs: M }]], { schedule: { everyMs: 60 * M } })],
    });
    const withSla = { ...c, pipelines: c.pipelines.map((p) => ({ ...p, tasks: p.tasks.map((t) => (t.id === "b" ? { ...t, slaMs: 15 * M } : t)) })) };
    const missed = simulate(withSla, { durationMs: 2 * 60 * M });
    expect(missed.slaMisses.length).toBeGreaterThanOrEqual(1);
    for (const m of missed.slaMisses) expect([m.pipeline, m.task, m.dueAt - m.scheduledFor]).toEqual(["etl", "b", 15 * M]);
    const relaxed = { ...c, pipelines: c.pipelines.map((p) => ({ ...p, tasks: p.tasks.map((t) => (t.id === "b" ? { ...t, slaMs: 30 * M } : t)) })) };
    expect(simulate(relaxed, { durationMs: 2 * 60 * M }).slaMisses).toEqual([]);
  });
});
