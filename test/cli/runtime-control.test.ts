// Another terminal while `sluice run` runs: trigger (through the store's request inbox), the read
// commands (runs, history, explain, pools with --json), and cancel.
import { afterAll, describe, expect, it } from "vitest";
import type { ResourceUsage, WaitReason } from "../../src/core/admission/types.js";
import type { TaskExplanation } from "../../src/core/engine/types.js";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";
import { storeAttempts, storeRuns } from "../support/store.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("control");

describe("commands from another terminal while sluice run runs", () => {
  it("triggers through the inbox, reads live state, explains a pool wait with its holders, and cancels a run", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG]);

    // trigger: the running scheduler creates the run and answers through the store. The two
    // triggers that set the scene go by the definitions it recorded (no -c: no config to compile).
    const hog = await box.cli(["trigger", "hog", "--json"]);
    expect(hog.code, hog.stderr).toBe(0);
    const hogRun = JSON.parse(hog.stdout) as RunRecord;
    expect(hogRun).toMatchObject({ pipeline: "hog", state: "running" });
    await box.waitForObservation((obs) => obs.find((o) => o.task === "hold" && o.event === "start"), "hog.hold to start");

    const blocked = await box.cli(["trigger", "blocked", "--json"]);
    expect(blocked.code, blocked.stderr).toBe(0);
    const blockedRun = JSON.parse(blocked.stdout) as RunRecord;

    // Read commands, all at once, while both runs are active.
    const [explainTask, explainRun, runs, history, pools] = await Promise.all([
      box.json<{ run: RunRecord; tasks: TaskExplanation[] }>(["explain", `${blockedRun.id}/needs_slot`, "-c", CONFIG]),
      box.json<{ run: RunRecord; tasks: TaskExplanation[] }>(["explain", String(hogRun.id), "-c", CONFIG]),
      box.json<RunRecord[]>(["runs"]),
      box.json<AttemptRecord[]>(["history"]),
      box.json<ResourceUsage[]>(["pools", "-c", CONFIG]),
    ]);

    expect(explainTask.tasks).toHaveLength(1);
    const waiting = explainTask.tasks[0] as TaskExplanation;
    expect(waiting.state).toBe("ready");
    const poolReason = waiting.reasons.find((r): r is Extract<WaitReason, { kind: "pool" | "queue" }> => r.kind === "pool");
    expect(poolReason, JSON.stringify(waiting.reasons)).toMatchObject({
      kind: "pool",
      name: "one_slot",
      need: 1,
      free: 0,
      capacity: 1,
      holders: [expect.objectContaining({ pipeline: "hog", run: hogRun.id, task: "hold", amount: 1 })],
    });
    expect(explainRun.tasks[0]).toMatchObject({ task: "hold", state: "running", holding: expect.arrayContaining([{ key: "pool:one_slot", amount: 1 }]) });

    expect(runs.map((r) => [r.id, r.pipeline, r.state])).toEqual([
      [blockedRun.id, "blocked", "running"],
      [hogRun.id, "hog", "running"],
    ]);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ runId: hogRun.id, task: "hold", state: "running", resources: expect.arrayContaining([{ key: "pool:one_slot", amount: 1 }]) });
    expect(pools).toEqual([
      expect.objectContaining({ name: "one_slot", kind: "pool", capacity: 1, used: 1, waiting: 1, holders: [expect.objectContaining({ pipeline: "hog", task: "hold", run: hogRun.id })] }),
    ]);

    // A second scheduler on the same store is refused in one line (exit 2): no task ever runs twice.
    const second = await box.cli(["run", CONFIG, "--for", "5s"]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/^sluice: another scheduler is running on this store \(.*pid \d+.*\); stop it first, or use a different --db\n$/);

    // trigger --wait from another terminal: the running scheduler runs it; exit 0 on success.
    const quick = await box.cli(["trigger", "quick", "-c", CONFIG, "--params", '{"from":"another terminal"}', "--wait", "--json"]);
    expect(quick.code, quick.stderr).toBe(0);
    expect(JSON.parse(quick.stdout)).toMatchObject({ pipeline: "quick", state: "success", params: { from: "another terminal" } });
    const ping = box.observations().find((o) => o.task === "ping");
    expect(ping).toMatchObject({ pid: run.pid, params: { from: "another terminal" } });

    // cancel: the hog's signal fires and the waiting task gets the slot at once.
    const cancel = await box.cli(["cancel", String(hogRun.id), "-c", CONFIG]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout.trim()).toBe(`run ${hogRun.id} cancelled`);
    const [abort, next] = await box.waitForObservation((obs) => {
      const a = obs.find((o) => o.task === "hold" && o.event === "abort");
      const n = obs.find((o) => o.task === "needs_slot" && o.event === "start");
      return a && n ? ([a, n] as const) : undefined;
    }, "the cancelled task's abort and the waiting task's start");
    expect(next.t - abort.t).toBeLessThan(2000);
    await box.waitForObservation((obs) => obs.find((o) => o.task === "needs_slot" && o.event === "end"), "blocked.needs_slot to end");

    // Cancelling a run that already ended is refused like one that does not exist (exit 2), in one line.
    const again = await box.cli(["cancel", String(hogRun.id), "-c", CONFIG]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^sluice: run \d+ already ended \(cancelled\); there is nothing to cancel\n$/);
    const missing = await box.cli(["cancel", "999", "-c", CONFIG]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^sluice: run 999 does not exist/);

    run.kill("SIGTERM");
    const exit = await run.exited;
    expect(exit.code, run.describe()).toBe(0);

    const finalRuns = Object.fromEntries((await storeRuns(box.db)).map((r) => [r.pipeline, r.state]));
    expect(finalRuns).toEqual({ hog: "cancelled", blocked: "success", quick: "success" });
    const attempts = await storeAttempts(box.db);
    expect(attempts.find((a) => a.task === "hold")?.state).toBe("cancelled");
    expect(attempts.some((a) => a.state === "running")).toBe(false);
  }, 60_000);
});
