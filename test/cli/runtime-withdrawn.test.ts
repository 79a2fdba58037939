// Issue 7, item 1 (the rest of it beside runtime-ghost.serial.test.ts, which loads the machine
// with 50 trigger processes on purpose and so runs alone): a request the scheduler did not answer
// in time is withdrawn and never takes effect, even when that scheduler comes back; a paused
// scheduler keeps its store.
import { afterAll, describe, expect, it } from "vitest";
import { storeRuns } from "../support/store.js";
import { disposeSandboxes, fixture, sandbox, sleep } from "./helpers.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("control");

describe("trigger never creates a ghost run", () => {
  it("a request a stopped (SIGSTOP) scheduler did not answer is withdrawn, and nothing happens when it resumes", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG]);
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
    const first = await box.started(["run", CONFIG, "--lease-ttl", "1500ms"]);
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
