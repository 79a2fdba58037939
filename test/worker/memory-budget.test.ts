import { describe, expect, it } from "vitest";
import { Engine } from "../../src/core/engine/engine.js";
import { cgroupLimitBytes, defaultMemoryBudgetMb, MEMORY_BUDGET_SHARE } from "../../src/worker/memory-budget.js";
import { config, pipeline, Recorder, T0 } from "../core/fixtures.js";

const GiB = 1024 ** 3;
const files = (entries: Record<string, string>) => (path: string) => entries[path];

describe("the default memory budget", () => {
  it("is a share of the host's memory, or of the cgroup limit when that is lower", () => {
    expect(MEMORY_BUDGET_SHARE).toBe(0.75);
    expect(defaultMemoryBudgetMb({ totalBytes: 16 * GiB, read: files({}) })).toBe(12 * 1024);
    expect(defaultMemoryBudgetMb({ totalBytes: 16 * GiB, read: files({ "/sys/fs/cgroup/memory.max": `${4 * GiB}\n` }) })).toBe(3 * 1024);
    expect(defaultMemoryBudgetMb({ totalBytes: 2 * GiB, read: files({ "/sys/fs/cgroup/memory.max": `${4 * GiB}\n` }) })).toBe(1536);
  });

  it("reads cgroup v2, then v1, and takes 'max' or v1's huge number as no limit", () => {
    expect(cgroupLimitBytes(files({ "/sys/fs/cgroup/memory.max": "max\n" }))).toBeUndefined();
    expect(cgroupLimitBytes(files({ "/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n" }))).toBe(GiB);
    expect(cgroupLimitBytes(files({ "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n" }))).toBeUndefined();
    expect(cgroupLimitBytes(files({ "/sys/fs/cgroup/memory.max": "garbage" }))).toBeUndefined();
    // This machine: whatever it says, a positive whole number of MB.
    expect(Number.isInteger(defaultMemoryBudgetMb())).toBe(true);
    expect(defaultMemoryBudgetMb()).toBeGreaterThan(0);
  });

  it("holds tasks' declared memory to the budget the runtime gives the engine when the config sets none", () => {
    const cfg = config({ pipelines: [pipeline("p", [["big", { memoryMb: 3000 }], ["small", { memoryMb: 1000 }]])] });
    const engine = new Engine(cfg, { now: T0, workerMemoryMb: 2048 });
    const rec = new Recorder();
    const runId = engine.trigger("p", T0);
    rec.take(engine.advance(T0));
    expect(rec.startedTasks()).toEqual(["small"]);
    expect(engine.explain(runId, "big", T0)[0]?.reasons).toContainEqual({ kind: "neverFits", resource: "memory:worker", need: 3000, capacity: 2048 });
    // Without a budget (a config built by hand, no runtime), memory is not enforced.
    const free = new Engine(cfg, { now: T0 });
    const rec2 = new Recorder();
    free.trigger("p", T0);
    expect(rec2.take(free.advance(T0)).start.map((s) => s.task).sort()).toEqual(["big", "small"]);
  });
});
