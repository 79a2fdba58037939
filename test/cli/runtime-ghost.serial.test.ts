// Issue 7, item 1: what `trigger` tells the user is true. Creating a run needs no scheduler (and
// no scheduler lease held for long): 50 parallel triggers create exactly 50 runs, with or without
// a running scheduler. (A request the scheduler did not answer in time: runtime-withdrawn.test.ts.)
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { storeRuns } from "../support/store.js";
import { disposeSandboxes, fixture, sandbox, waitFor, type Sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("control");

/**
 * `n` trigger processes at once. The first `compiling` name the config (-c: each compiles it); the
 * others go by the definitions a scheduler recorded (no -c), as an operator's laptop does.
 */
async function parallelTriggers(box: Sandbox, n: number, compiling = 0): Promise<number[]> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => box.cli(["trigger", "quick", ...(i < compiling ? ["-c", CONFIG] : []), "--params", JSON.stringify({ i }), "--json"], { killAfterMs: 90_000 })));
  for (const r of results) expect(r.code, r.stderr).toBe(0);
  return results.map((r) => (JSON.parse(r.stdout) as RunRecord).id);
}

describe("trigger never creates a ghost run", () => {
  it("50 parallel triggers with no scheduler running: 50 distinct runs, all exit 0", async () => {
    const box = await sandbox();
    // A scheduler ran once and stopped (it recorded the definitions); none runs during the triggers.
    // Ten of them compile the config, forty go by the recorded definitions: both ways a trigger
    // finds its pipeline, without fifty config compilations at once on a two-core machine.
    const once = await box.cli(["run", CONFIG, "--for", "0s"], { killAfterMs: 30_000 });
    expect(once.code, once.stderr).toBe(0);
    const ids = await parallelTriggers(box, 50, 10);
    expect(new Set(ids).size).toBe(50);
    const runs = await storeRuns(box.db, { limit: 500 });
    expect(runs.filter((r) => r.pipeline === "quick")).toHaveLength(50);
    expect(new Set(runs.map((r) => JSON.stringify(r.params))).size).toBe(50);
    // The next `sluice run` runs exactly those (stopped once they have ended).
    const run = box.start(["run", CONFIG]);
    await waitFor(async () => ((await storeRuns(box.db, { limit: 500 })).every((r) => r.state === "success") ? true : undefined), "the 50 runs to succeed", { timeoutMs: 30_000, intervalMs: 200 });
    run.kill("SIGTERM");
    expect((await run.exited).code, run.describe()).toBe(0);
    const after = await storeRuns(box.db, { limit: 500 });
    expect(after).toHaveLength(50);
    expect(after.every((r) => r.state === "success")).toBe(true);
  }, 120_000);

  // 50, as the issue asks, with and without a scheduler. These trigger by the definitions the
  // running scheduler recorded (no -c: none compiles the config), so their requests come close
  // together, and 50 of them cost seconds, not minutes, on a two-core machine.
  it("50 parallel triggers while a scheduler runs: 50 distinct runs, all exit 0", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG], { killAfterMs: 120_000 });
    const ids = await parallelTriggers(box, 50);
    expect(new Set(ids).size).toBe(50);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    const runs = await storeRuns(box.db, { limit: 500 });
    expect(runs).toHaveLength(50);
  }, 120_000);
});
