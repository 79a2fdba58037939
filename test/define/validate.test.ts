import { describe, expect, it } from "vitest";
import {
  ConfigError,
  defineConfig,
  formatProblems,
  pipeline,
  resolveConfig,
  resolveConfigOrThrow,
  type ConfigProblem,
  type SluiceConfig,
  type TaskFn,
} from "../../src/define/index.js";

const noop: TaskFn = () => undefined;

function problemsOf(config: unknown): ConfigProblem[] {
  const result = resolveConfig(config);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
}

/** The one problem at `path` (fails when there is none or several). */
function at(problems: ConfigProblem[], path: string): ConfigProblem {
  const found = problems.filter((p) => p.path === path);
  expect(found, `problems at ${path} among:\n${formatProblems(problems)}`).toHaveLength(1);
  return found[0]!;
}

/** A config where almost everything is wrong, to check that all of it is reported at once. */
function brokenConfig(): SluiceConfig {
  const sales = pipeline("daily_sales", {
    schedule: { cron: "0 99 * * *", timezone: "Mars/Olympus" },
    maxActiveRuns: 0,
    catchupWindow: "a day" as never,
  });
  const extract = sales.task("extract", { pools: { warehouse_db: 12, warehose_db: 1 } }, noop);
  sales.task("transform", { dependsOn: [extract, "lod"], retries: -1, memoryMb: 4096, depends_on: [] } as never, noop);
  sales.task("load", { dependsOn: ["report"], retryDelay: "10 sec" as never, parallelism: 2 } as never, noop);
  sales.task("report", { dependsOn: ["load"], pools: { warehouse_db: 0 } }, noop);
  sales.task("extract", noop);

  const crm = pipeline("crm", { schedule: { every: "15m", cron: "0 * * * *" } as never, maxActiveTasks: 1.5 });
  crm.task("sync", { dependsOn: [extract], maxActivePerPipeline: 0, maxActivePerRun: -2, timeout: "0s" }, noop);

  return {
    parallelism: 0,
    pools: { warehouse_db: { slots: 10 }, api: { slot: 3 } as never },
    worker: { concurrency: 0, memoryMb: 2048 },
    pipelines: [sales, crm, pipeline("crm", { schedule: {} as never }), pipeline("empty")],
  };
}

describe("resolveConfig: every problem at once", () => {
  const problems = problemsOf(brokenConfig());

  it.each<[string, RegExp[]]>([
    ["parallelism", [/at least 1/]],
    ["pools.api.slot", [/unknown option "slot"/, /did you mean "slots"\?/]],
    ["pools.api.slots", [/got undefined/, /at least 1 slot/]],
    ["worker.concurrency", [/at least 1/]],
    ["pipelines.daily_sales.schedule.cron", [/"0 99 \* \* \*"/, /valid cron expression/, /"0 2 \* \* \*"/]],
    ["pipelines.daily_sales.schedule.timezone", [/"Mars\/Olympus"/, /IANA time zone/]],
    ["pipelines.daily_sales.maxActiveRuns", [/pipeline "daily_sales"/, /at least 1/]],
    ["pipelines.daily_sales.catchupWindow", [/"a day" is not a duration/, /"30s"/]],
    ["pipelines.daily_sales.tasks.extract", [/task id "extract" is used 2 times in pipeline "daily_sales"/, /rename/]],
    ["pipelines.daily_sales.tasks.extract.pools.warehouse_db", [/task "extract"/, /needs 12 slots/, /has only 10/, /could never run/, /raise pools\.warehouse_db\.slots to at least 12 or lower/]],
    ["pipelines.daily_sales.tasks.extract.pools.warehose_db", [/not declared/, /did you mean "warehouse_db"\?/i, /Declared pools: "warehouse_db", "api"/]],
    ["pipelines.daily_sales.tasks.transform.dependsOn[1]", [/"lod", which is not a task of pipeline "daily_sales"/, /Did you mean "load"\?/]],
    ["pipelines.daily_sales.tasks.transform.retries", [/task "transform" of pipeline "daily_sales"/, /0 or more \(got -1\)/]],
    ["pipelines.daily_sales.tasks.transform.memoryMb", [/4096/, /worker\.memoryMb = 2048/, /raise worker\.memoryMb or lower/]],
    ["pipelines.daily_sales.tasks.transform.depends_on", [/unknown option "depends_on"/, /did you mean "dependsOn"\?/]],
    ["pipelines.daily_sales.tasks.load.retryDelay", [/"10 sec"/]],
    ["pipelines.daily_sales.tasks.load.parallelism", [/unknown option "parallelism"/]],
    ["pipelines.daily_sales.tasks.load.dependsOn", [/cycle: load → report → load/, /remove one of these dependencies/]],
    ["pipelines.daily_sales.tasks.report.pools.warehouse_db", [/at least 1 \(got 0\)/, /remove the pool/]],
    ["pipelines.crm", [/pipeline id "crm" is used 2 times/, /rename/]],
    ["pipelines.crm.maxActiveTasks", [/got 1\.5/]],
    ["pipelines.crm.tasks.sync.dependsOn[0]", [/task "extract" of pipeline "daily_sales"/, /only depend on tasks of their own pipeline \("crm"\)/]],
    ["pipelines.crm.tasks.sync.maxActivePerPipeline", [/at least 1/]],
    ["pipelines.crm.tasks.sync.maxActivePerRun", [/got -2/]],
    ["pipelines.crm.tasks.sync.timeout", [/positive duration/]],
  ])("%s", (path, patterns) => {
    const problem = at(problems, path);
    for (const pattern of patterns) expect(problem.message).toMatch(pattern);
  });

  it("reports both schedule mistakes (every + cron, neither)", () => {
    const schedule = problems.filter((p) => p.path === "pipelines.crm.schedule").map((p) => p.message);
    expect(schedule).toHaveLength(2);
    expect(schedule[0]).toMatch(/either "every" or "cron", not both/);
    expect(schedule[1]).toMatch(/must have "every" .* or "cron"/);
  });

  it("names pipeline, task and field on each task problem", () => {
    expect(at(problems, "pipelines.daily_sales.tasks.extract.pools.warehouse_db")).toMatchObject({
      pipeline: "daily_sales",
      task: "extract",
      field: "pools.warehouse_db",
    });
    expect(at(problems, "pipelines.daily_sales.maxActiveRuns")).toMatchObject({ pipeline: "daily_sales", field: "maxActiveRuns" });
    expect(at(problems, "pipelines.daily_sales.maxActiveRuns").task).toBeUndefined();
  });

  it("reports nothing twice and nothing else", () => {
    expect(problems).toHaveLength(27);
    expect(new Set(problems.map((p) => `${p.path} ${p.message}`)).size).toBe(problems.length);
  });

  it("throws a ConfigError listing them one per line", () => {
    const error = (() => {
      try {
        resolveConfigOrThrow(brokenConfig());
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe("SLUICE_CONFIG_INVALID");
    expect(configError.problems).toEqual(problems);
    expect(configError.message).toContain(`(${problems.length} problems)`);
    expect(configError.message.split("\n")).toHaveLength(problems.length + 1);
    expect(configError.message).toContain("- parallelism: parallelism must be a whole number");
  });
});

describe("resolveConfig: one mistake at a time", () => {
  const withTask = (options: object, config: Partial<SluiceConfig> = {}) => {
    const p = pipeline("p");
    p.task("t", options as never, noop);
    return defineConfig({ ...config, pipelines: [p] });
  };

  it("rejects entries that are not pipelines", () => {
    const problem = at(problemsOf({ pipelines: [{ id: "p", tasks: [] }] }), "pipelines[0]");
    expect(problem.message).toMatch(/not a pipeline; create it with pipeline\("id"/);
  });

  it("requires pipelines to be an array", () => {
    expect(at(problemsOf({}), "pipelines").message).toMatch(/must be an array of pipeline/);
    expect(at(problemsOf(null), "").message).toMatch(/the config must be an object/);
  });

  it("rejects ids that cannot appear in paths and keys", () => {
    const p = pipeline("has.dot");
    p.task("with space", noop);
    const problems = problemsOf({ pipelines: [p] });
    expect(at(problems, "pipelines[0].id").message).toMatch(/pipeline id "has\.dot" is not valid/);
    expect(at(problems, "pipelines[0].tasks[0].id").message).toMatch(/task id "with space" is not valid/);
  });

  it("reports a task fn that is not a function", () => {
    const p = pipeline("p");
    p.task("t", {}, "run" as never);
    expect(at(problemsOf({ pipelines: [p] }), "pipelines.p.tasks.t.fn").message).toMatch(/fn must be a function \(got "run"\)/);
  });

  it("lists the known pools when a pool is unknown, even when there are none", () => {
    const message = at(problemsOf(withTask({ pools: { db: 1 } })), "pipelines.p.tasks.t.pools.db").message;
    expect(message).toMatch(/Declared pools: \(none\)/);
    expect(message).toMatch(/declare it: defineConfig\(\{ pools: \{ db: \{ slots: 4 \} \} \}\)/);
  });

  it("accepts a demand equal to the pool's slots and memory equal to the budget", () => {
    const config = withTask({ pools: { db: 3 }, memoryMb: 512 }, { pools: { db: { slots: 3 } }, worker: { memoryMb: 512 } });
    expect(resolveConfig(config).ok).toBe(true);
  });

  it("does not check memoryMb against an unset worker budget", () => {
    expect(resolveConfig(withTask({ memoryMb: 1_000_000 })).ok).toBe(true);
  });

  it("reports a self-dependency as a cycle", () => {
    expect(at(problemsOf(withTask({ dependsOn: ["t"] })), "pipelines.p.tasks.t.dependsOn").message).toMatch(/cycle: t → t/);
  });

  it("prints a longer cycle path starting at its first-declared task", () => {
    const p = pipeline("p");
    p.task("a", { dependsOn: ["c"] }, noop);
    p.task("b", { dependsOn: ["a"] }, noop);
    p.task("c", { dependsOn: ["b"] }, noop);
    p.task("d", { dependsOn: ["c"] }, noop);
    expect(at(problemsOf({ pipelines: [p] }), "pipelines.p.tasks.a.dependsOn").message).toMatch(/a → b → c → a/);
  });

  it("rejects bad enum values with a suggestion", () => {
    const message = at(problemsOf(withTask({ weightRule: "downstreem" })), "pipelines.p.tasks.t.weightRule").message;
    expect(message).toMatch(/must be one of "downstream", "upstream", "absolute" \(got "downstreem"\)\. Did you mean "downstream"\?/);
  });

  it("rejects a timezone on an every-schedule and a cron that never fires", () => {
    const every = pipeline("every", { schedule: { every: "1h", timezone: "UTC" } as never });
    const never = pipeline("never", { schedule: { cron: "0 0 30 2 *" } });
    const problems = problemsOf({ pipelines: [every, never] });
    expect(at(problems, "pipelines.every.schedule.timezone").message).toMatch(/only applies to "cron"/);
    expect(at(problems, "pipelines.never.schedule.cron").message).toMatch(/never fires/);
  });

  it("warns about an empty pipeline without rejecting the config", () => {
    const result = resolveConfig({ pipelines: [pipeline("empty")] });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.warnings).toEqual([
      expect.objectContaining({ path: "pipelines.empty.tasks", pipeline: "empty", message: expect.stringMatching(/has no tasks/) }),
    ]);
  });
});

describe("resolveConfig: any input", () => {
  it("never throws, and every problem has a path and a message of our own", async () => {
    const fc = (await import("fast-check")).default;
    const junk = fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom("slots", "pools", "dependsOn", "every", "cron", "retries", "x"), fc.anything()));
    fc.assert(
      fc.property(junk, junk, junk, (top, pipelineOptions, taskOptions) => {
        const p = pipeline("p", pipelineOptions as never);
        p.task("t", taskOptions as never, noop);
        const configs = [top, { ...(typeof top === "object" ? top : {}), pipelines: [p] }];
        for (const config of configs) {
          const result = resolveConfig(config);
          if (result.ok) continue;
          for (const problem of result.problems) {
            expect(typeof problem.path).toBe("string");
            expect(problem.message).not.toMatch(/Invalid input|Invalid key|Unrecognized/);
          }
        }
      }),
    );
  });
});

describe("SLAs and deadlines", () => {
  it("resolves sla on tasks and deadline on pipelines to milliseconds, and refuses bad durations with their path", () => {
    const p = pipeline("nightly", { schedule: { cron: "0 2 * * *" }, deadline: "2h" });
    p.task("load", { sla: "1h30m" }, noop);
    p.task("other", noop);
    const resolved = resolveConfigOrThrow(defineConfig({ pipelines: [p] }));
    const nightly = resolved.pipelines[0];
    expect(nightly?.deadlineMs).toBe(2 * 3_600_000);
    expect(nightly?.tasks.find((t) => t.id === "load")?.slaMs).toBe(90 * 60_000);
    expect(nightly?.tasks.find((t) => t.id === "other")).not.toHaveProperty("slaMs");

    const bad = pipeline("bad", { deadline: "soon" as never });
    bad.task("t", { sla: -5 as never }, noop);
    const problems = problemsOf(defineConfig({ pipelines: [bad] }));
    expect(problems.map((x) => x.path)).toEqual(expect.arrayContaining([expect.stringContaining("deadline"), expect.stringContaining("sla")]));
  });
});

describe("adaptive pools", () => {
  const withPool = (slots: unknown, demand = 1) => {
    const p = pipeline("p");
    p.task("t", { pools: { db: demand } }, noop);
    return { pools: { db: { slots } }, pipelines: [p] } as unknown as SluiceConfig;
  };

  it("resolves { min, max, adapt } to a limit starting at initial (default min), checked against max", () => {
    const resolved = resolveConfigOrThrow(withPool({ min: 2, max: 20, adapt: "gradient" }, 12));
    expect(resolved.pools.db).toEqual({ name: "db", slots: 2, description: undefined, adaptive: { min: 2, max: 20, algorithm: "gradient" } });
    expect(resolveConfigOrThrow(withPool({ min: 2, max: 8, adapt: "aimd", initial: 4, latencyThreshold: "2s" })).pools.db?.adaptive).toEqual({ min: 2, max: 8, algorithm: "aimd", initial: 4, latencyThresholdMs: 2000 });
  });

  it("refuses a max below min, an initial outside them, an unknown algorithm and a demand above max", () => {
    expect(problemsOf(withPool({ min: 5, max: 3, adapt: "gradient" })).map((p) => p.message).join("\n")).toMatch(/must be at least min \(5\); got 3/);
    expect(problemsOf(withPool({ min: 2, max: 8, adapt: "aimd", initial: 9 })).map((p) => p.message).join("\n")).toMatch(/between min \(2\) and max \(8\); got 9/);
    expect(problemsOf(withPool({ min: 2, max: 8, adapt: "vegas" })).map((p) => `${p.path}: ${p.message}`).join("\n")).toMatch(/pools\.db\.slots/);
    expect(problemsOf(withPool({ min: 2, max: 8, adapt: "gradient" }, 9)).map((p) => p.message).join("\n")).toMatch(/needs 9 slots/);
  });
});

describe("isolation", () => {
  it("resolves a task's isolation, else its pipeline's, else inline (left out of the definitions)", () => {
    const etl = pipeline("etl", { isolation: "process" });
    etl.task("heavy", { memoryMb: 512 }, noop);
    etl.task("light", { isolation: "inline" }, noop);
    etl.task("threaded", { isolation: "thread", memoryMb: 64 }, noop);
    const plain = pipeline("plain");
    plain.task("a", noop);
    const config = resolveConfigOrThrow(defineConfig({ pipelines: [etl, plain] }));
    const byKey = new Map(config.pipelines.flatMap((p) => p.tasks.map((t) => [t.key, t] as const)));
    expect(byKey.get("etl.heavy")?.isolation).toBe("process");
    expect(byKey.get("etl.light")).not.toHaveProperty("isolation");
    expect(byKey.get("etl.threaded")?.isolation).toBe("thread");
    expect(byKey.get("plain.a")).not.toHaveProperty("isolation");
  });

  it("refuses an unknown isolation with its path, and a memoryMb too small for a thread or child process, with how to fix it", () => {
    const etl = pipeline("etl", { isolation: "process" });
    etl.task("small", { memoryMb: 64 }, noop);
    etl.task("typo", { isolation: "proces" as never }, noop);
    etl.task("tiny_thread", { isolation: "thread", memoryMb: 8 }, noop);
    const other = pipeline("other", { isolation: "fork" as never });
    const problems = problemsOf(defineConfig({ pipelines: [etl, other] }));
    expect(at(problems, "pipelines.etl.tasks.typo.isolation").message).toMatch(/must be one of "inline", "thread", "process" \(got "proces"\)\. Did you mean "process"\?/);
    expect(at(problems, "pipelines.other.isolation").message).toMatch(/must be one of "inline", "thread", "process"/);
    const small = at(problems, "pipelines.etl.tasks.small.memoryMb").message;
    expect(small).toMatch(/memoryMb is 64 with isolation "process" \(its pipeline's isolation\), below the least it can run in \(128 MB\)/);
    expect(small).toMatch(/raise memoryMb to at least 128/);
    expect(at(problems, "pipelines.etl.tasks.tiny_thread.memoryMb").message).toMatch(/isolation "thread", below the least it can run in \(32 MB\)/);
  });
});
