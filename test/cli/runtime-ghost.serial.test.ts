// Issue 7, item 1: what `trigger` tells the user is true. Creating a run needs no scheduler (and
// no scheduler lease held for long): 50 parallel triggers create exactly 50 runs, with or without
// a running scheduler; a request the scheduler did not answer in time is withdrawn and never
// takes effect, even when that scheduler comes back.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { storeRuns } from "../support/store.js";
import { disposeSandboxes, fixture, sandbox, sleep, waitFor, type Sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("control");

async function parallelTriggers(box: Sandbox, n: number): Promise<number[]> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => box.cli(["trigger", "quick", "-c", CONFIG, "--params", JSON.stringify({ i }), "--json"], { killAfterMs: 90_000 })));
  for (const r of results) expect(r.code, r.stderr).toBe(0);
  return results.map((r) => (JSON.parse(r.stdout) as RunRecord).id);
}

describe("trigger never creates a ghost run", () => {
  it("50 parallel triggers with no scheduler running: 50 distinct runs, all exit 0", async () => {
    const box = await sandbox();
    const ids = await parallelTriggers(box, 50);
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

  // 20 here (50 above, the repro): the scheduler answers each in milliseconds, so what is
  // tested is concurrent requests through its inbox, and 50 more config-compiling processes on a
  // two-core CI machine only add minutes.
  it("20 parallel triggers while a scheduler runs: 20 distinct runs, all exit 0", async () => {
    const box = await sandbox();
    const run = box.start(["run", CONFIG], { killAfterMs: 120_000 });
    await run.waitForLog((l) => l.msg === "sluice run started", "sluice run to start");
    const ids = await parallelTriggers(box, 20);
    expect(new Set(ids).size).toBe(20);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    const runs = await storeRuns(box.db, { limit: 500 });
    expect(runs).toHaveLength(20);
  }, 120_000);

  it("a request a stopped (SIGSTOP) scheduler did not answer is withdrawn, and nothing happens when it resumes", async () => {
    const box = await sandbox();
    const run = box.start(["run", CONFIG]);
    await run.waitForLog((l) => l.msg === "sluice run started", "sluice run to start");
    run.kill("SIGSTOP");
    try {
      const r = await box.cli(["trigger", "quick", "-c", CONFIG, "--timeout", "1s"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^sluice: the running scheduler did not answer within 1s; the request \(\d+\) was withdrawn and will not take effect/);
    } finally {
      run.kill("SIGCONT");
    }
    await sleep(1500);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    expect(await storeRuns(box.db)).toEqual([]);
    expect(box.observations()).toEqual([]);
  }, 60_000);

  it("a scheduler paused past its lease: no other scheduler takes the store meanwhile, and it goes on when resumed", async () => {
    // On the embedded store the lease row is backed by an OS lock on the store's path: a paused
    // (not dead) scheduler still owns the store, so a second one is refused rather than run beside it.
    const box = await sandbox();
    const first = box.start(["run", CONFIG, "--lease-ttl", "1500ms"]);
    await first.waitForLog((l) => l.msg === "sluice run started", "the first scheduler to start");
    first.kill("SIGSTOP");
    try {
      await sleep(2500);
      const second = await box.cli(["run", CONFIG, "--for", "1s"]);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/another scheduler is running on this store/);
    } finally {
      first.kill("SIGCONT");
    }
    // Resumed: its lease expired while it was paused, but nobody could take it; it carries on.
    const trig = await box.cli(["trigger", "quick", "-c", CONFIG, "--json"]);
    expect(trig.code, trig.stderr).toBe(0);
    first.kill("SIGTERM");
    expect((await first.exited).code).toBe(0);
    const runs = await storeRuns(box.db);
    expect(runs.map((r) => [r.pipeline, r.state])).toEqual([["quick", "success"]]);
  }, 60_000);
});
