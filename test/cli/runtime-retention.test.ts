// Issue 7, item 12: history does not grow forever.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox, waitFor } from "./helpers.js";
import { storeAttempts, storeRuns } from "../support/store.js";

afterAll(disposeSandboxes);

describe("retention", () => {
  it("sluice run deletes finished runs older than the config's retention while it runs; active runs stay", async () => {
    const box = await sandbox();
    const run = await box.started(["run", fixture("retention")]);
    expect((await box.cli(["trigger", "quick", "-c", fixture("retention"), "--wait"])).code).toBe(0);
    expect(await storeRuns(box.db)).toHaveLength(1);
    await waitFor(async () => ((await storeRuns(box.db)).length === 0 ? true : undefined), "the finished run to be pruned", { timeoutMs: 15_000 });
    expect(await storeAttempts(box.db)).toEqual([]);
    // Logged once the prune has committed (a store read can see it first).
    await run.waitForLog((l) => l.event === "retention.pruned" && l.runs === 1, "the prune to be logged");
    // Ids keep growing after everything was pruned.
    const next = await box.cli(["trigger", "quick", "--json"]); // by the running scheduler's recorded definitions
    expect((JSON.parse(next.stdout) as RunRecord).id).toBe(2);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
  });

  it("sluice prune --older-than deletes by hand, and refuses to create a store", async () => {
    const box = await sandbox();
    const none = await box.cli(["prune", "--older-than", "1d"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no store at/);
    for (let i = 0; i < 3; i++) expect((await box.cli(["trigger", "quick", "-c", fixture("control"), "--wait"])).code).toBe(0);
    const keep = await box.cli(["prune", "--older-than", "1h", "--json"]);
    expect(JSON.parse(keep.stdout)).toMatchObject({ runs: 0 });
    const all = await box.cli(["prune", "--older-than", "0s"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^deleted 3 run\(s\), 3 attempt\(s\)/);
    expect(await storeRuns(box.db)).toEqual([]);
  });
});
