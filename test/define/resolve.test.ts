import { describe, expect, it } from "vitest";
import { DEFAULTS, defineConfig, pipeline, resolveConfig, type ResolvedConfig, type SluiceConfig, type TaskFn } from "../../src/define/index.js";

const noop: TaskFn = () => undefined;

function resolved(config: SluiceConfig): ResolvedConfig {
  const result = resolveConfig(config);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result.config;
}

describe("resolveConfig: defaults", () => {
  const p = pipeline("p");
  p.task("t", noop);
  const config = resolved(defineConfig({ pipelines: [p] }));

  it("applies the top-level defaults", () => {
    expect(config).toMatchObject({
      parallelism: 32,
      pools: {},
      worker: { concurrency: 8, memoryMb: undefined },
      aging: { pointsPerMinute: 1 },
      reservation: { afterMs: 30_000 },
    });
  });

  it("applies the pipeline defaults", () => {
    expect(config.pipelines[0]).toMatchObject({
      id: "p",
      description: undefined,
      schedule: undefined,
      overlap: "skip",
      maxActiveRuns: 1,
      maxActiveTasks: undefined,
      catchup: false,
      catchupWindowMs: 86_400_000,
    });
  });

  it("applies the task defaults", () => {
    expect(config.pipelines[0]!.tasks[0]).toEqual({
      pipeline: "p",
      id: "t",
      key: "p.t",
      description: undefined,
      dependsOn: [],
      pools: {},
      priority: 1,
      weightRule: "downstream",
      weight: 1,
      queue: "default",
      retries: 0,
      lostRetries: 3,
      retryDelayMs: 10_000,
      retryBackoff: "fixed",
      maxRetryDelayMs: 3_600_000,
      timeoutMs: undefined,
      memoryMb: undefined,
      maxActivePerPipeline: undefined,
      maxActivePerRun: undefined,
      estimateMs: undefined,
      fn: noop,
    });
  });

  it("keeps them in one documented object", () => {
    expect(DEFAULTS).toMatchObject({
      parallelism: 32,
      worker: { concurrency: 8 },
      aging: { pointsPerMinute: 1 },
      reservation: { after: "30s" },
      pipeline: { overlap: "skip", maxActiveRuns: 1, catchup: false, catchupWindow: "24h" },
      task: { priority: 1, weightRule: "downstream", queue: "default", retries: 0, retryDelay: "10s", retryBackoff: "fixed", maxRetryDelay: "1h" },
    });
  });
});

describe("resolveConfig: given values", () => {
  it("converts every duration to milliseconds and keeps the rest", () => {
    const p = pipeline("p", { schedule: { cron: "0 2 * * *", timezone: "Europe/Paris" }, overlap: "bufferOne", maxActiveRuns: 3, maxActiveTasks: 4, catchup: true, catchupWindow: "2d", description: "sales" });
    p.task("t", { pools: { db: 2, api: 1 }, priority: 5, weightRule: "absolute", queue: "heavy", retries: 3, retryDelay: "1.5m", retryBackoff: "exponential", maxRetryDelay: 90_000, timeout: "2h", memoryMb: 512, maxActivePerPipeline: 2, maxActivePerRun: 1, estimate: "250ms", description: "x" }, noop);
    const every = pipeline("every", { schedule: { every: "15m" } });
    every.task("t", noop);
    const config = resolved({
      parallelism: 4,
      pools: { db: { slots: 2, description: "warehouse" }, api: { slots: 1 } },
      worker: { concurrency: 2, memoryMb: 1024 },
      aging: { pointsPerMinute: 0.5 },
      reservation: { after: 0 },
      pipelines: [p, every],
    });
    expect(config.pools).toEqual({ db: { name: "db", slots: 2, description: "warehouse" }, api: { name: "api", slots: 1, description: undefined } });
    expect(config).toMatchObject({ parallelism: 4, worker: { concurrency: 2, memoryMb: 1024 }, aging: { pointsPerMinute: 0.5 }, reservation: { afterMs: 0 } });
    expect(config.pipelines[0]).toMatchObject({
      schedule: { kind: "cron", cron: "0 2 * * *", timezone: "Europe/Paris" },
      overlap: "bufferOne",
      maxActiveRuns: 3,
      maxActiveTasks: 4,
      catchup: true,
      catchupWindowMs: 172_800_000,
      description: "sales",
    });
    expect(config.pipelines[0]!.tasks[0]).toMatchObject({
      pools: { db: 2, api: 1 },
      priority: 5,
      weight: 5,
      weightRule: "absolute",
      queue: "heavy",
      retries: 3,
      retryDelayMs: 90_000,
      retryBackoff: "exponential",
      maxRetryDelayMs: 90_000,
      timeoutMs: 7_200_000,
      memoryMb: 512,
      maxActivePerPipeline: 2,
      maxActivePerRun: 1,
      estimateMs: 250,
    });
    expect(config.pipelines[1]!.schedule).toEqual({ kind: "every", everyMs: 900_000 });
  });
});

describe("resolveConfig: dependencies", () => {
  it("accepts TaskRefs and string ids alike, including ids of tasks declared later", () => {
    const p = pipeline("p");
    const extract = p.task("extract", noop);
    p.task("load", { dependsOn: [extract, "check", "extract"] }, noop);
    p.task("check", { dependsOn: ["extract"] }, noop);
    const tasks = resolved({ pipelines: [p] }).pipelines[0]!.tasks;
    expect(tasks.map((t) => [t.id, t.dependsOn])).toEqual([
      ["extract", []],
      ["check", ["extract"]],
      ["load", ["extract", "check"]],
    ]);
  });

  it("sorts tasks topologically, ties in declaration order, and computes weights", () => {
    const p = pipeline("p");
    p.task("D", { dependsOn: ["B", "C"] }, noop);
    p.task("C", { priority: 3, dependsOn: ["A"] }, noop);
    p.task("B", { priority: 2, dependsOn: ["A"] }, noop);
    p.task("A", noop);
    p.task("E", noop);
    const tasks = resolved({ pipelines: [p] }).pipelines[0]!.tasks;
    expect(tasks.map((t) => t.id)).toEqual(["A", "C", "B", "D", "E"]);
    expect(Object.fromEntries(tasks.map((t) => [t.id, t.weight]))).toEqual({ A: 7, B: 3, C: 4, D: 1, E: 1 });
  });

  it("keeps pipelines in declaration order with keys unique across the config", () => {
    const a = pipeline("a");
    a.task("t", noop);
    const b = pipeline("b");
    b.task("t", noop);
    const config = resolved({ pipelines: [b, a] });
    expect(config.pipelines.map((p) => p.tasks[0]!.key)).toEqual(["b.t", "a.t"]);
  });
});
