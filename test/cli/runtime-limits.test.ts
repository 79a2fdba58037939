// Issue 7, items 13–15: bad values are refused, long ones work.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { DEFS, sluice } from "./spawn.js";
import { disposeSandboxes, fixture, sandbox, sleep } from "./helpers.js";

afterAll(disposeSandboxes);

describe("long durations work", () => {
  it("a 25-day timeout does not fire at once (Node clamps such timers to 1 ms)", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "long", "-c", fixture("long-timeout"), "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("success");
    expect(box.observations().map((o) => o.event)).toEqual(["start", "end"]);
  });

  it("run --for 30d keeps running", async () => {
    const box = await sandbox();
    const run = await box.started(["run", fixture("long-timeout"), "--for", "30d"]);
    await sleep(1500);
    expect(run.hasExited).toBe(false);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
  });
});

describe("bad values are refused with their path, exit 2", () => {
  it("durations that overflow or pass the 365-day maximum", async () => {
    const r = await sluice(["inspect", `${DEFS}huge-durations.config.ts`, "--json"]);
    expect(r.code).toBe(2);
    const paths = (JSON.parse(r.stdout) as { problems: Array<{ path: string; message: string }> }).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(["reservation.after", "pipelines.p.schedule.every", "pipelines.p.tasks.t.timeout", "pipelines.p.tasks.t.retryDelay"]));
  });

  it.each([
    ["a default export whose reading throws", "getter-throws", /reading the config threw: SALES_DB_URL is not set/],
    ["a forged pipeline object", "forged", /reading the config threw: .*Export a plain object made with defineConfig/],
  ])("%s", async (_name, file, says) => {
    const r = await sluice(["inspect", `${DEFS}${file}.config.ts`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice: invalid config /);
    expect(r.stderr).toMatch(says);
  });

  it("--params nested 4,000 levels", async () => {
    const box = await sandbox();
    const deep = `${'{"a":'.repeat(4000)}1${"}".repeat(4000)}`;
    const r = await box.cli(["trigger", "quick", "-c", fixture("control"), "--params", deep]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("sluice: --params nests deeper than 32 levels; pass flatter parameters (or a path to a file your task reads)");
  });
});
