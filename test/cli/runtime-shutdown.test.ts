// Graceful stop of `sluice run`: SIGTERM drains (the task finishes, or is aborted after
// --shutdown-timeout), exit 0, no attempt left running; a second SIGINT exits at once (130).
import { afterAll, describe, expect, it } from "vitest";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox, type Sandbox } from "./helpers.js";
import { storeAttempts, storeRuns } from "../support/store.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("graceful");

/** A sandbox with one run of `pipeline` created (no scheduler yet) and `sluice run` started on it, its task running. */
async function runningTask(pipeline: string, task: string, runArgs: string[] = []) {
  const box = await sandbox();
  const trigger = await box.cli(["trigger", pipeline, "-c", CONFIG, "--json"]);
  expect(trigger.code, trigger.stderr).toBe(0);
  const run = box.start(["run", CONFIG, ...runArgs]);
  // Logged once the signal handlers are installed (a signal before them would kill it at once).
  await run.waitForLog((l) => l.msg === "sluice run started", "sluice run to start");
  await box.waitForObservation((obs) => obs.find((o) => o.task === task && o.event === "start"), `${pipeline}.${task} to start`);
  return { box, run, runId: (JSON.parse(trigger.stdout) as RunRecord).id };
}

async function states(box: Sandbox): Promise<{ run: RunRecord["state"] | undefined; attempts: AttemptRecord["state"][] }> {
  const [runs, attempts] = await Promise.all([storeRuns(box.db), storeAttempts(box.db)]);
  return { run: runs[0]?.state, attempts: attempts.map((a) => a.state) };
}

describe.concurrent("stopping sluice run", () => {
  it("SIGTERM lets the running task finish, then exits 0", async () => {
    const { box, run } = await runningTask("finishes", "steady");
    run.kill("SIGTERM");
    const r = await run.exited;
    expect(r.code, run.describe()).toBe(0);
    expect(run.logs().some((l) => l.msg.startsWith("SIGTERM: stopping"))).toBe(true);
    expect(box.observations().map((o) => o.event)).toEqual(["start", "end"]);
    expect(await states(box)).toEqual({ run: "success", attempts: ["success"] });
  });

  it("SIGTERM aborts a task still running after --shutdown-timeout, exits 0, and leaves no attempt running", async () => {
    const { box, run } = await runningTask("aborts", "endless", ["--shutdown-timeout", "500ms"]);
    const signalledAt = Date.now();
    run.kill("SIGTERM");
    const r = await run.exited;
    expect(r.code, run.describe()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000); // not the task's 60 s
    const stopped = box.observations().find((o) => o.event === "stopped");
    expect(stopped?.reason).toBe("Sluice is shutting down");
    const after = await states(box);
    expect(after.attempts).toHaveLength(1);
    expect(after.attempts).not.toContain("running");
    expect(after.attempts[0]).toBe("lost"); // aborted by the shutdown: lost (retried by policy on the next start), not failed
  });

  it("a second SIGINT exits at once with 130; the next start marks the interrupted attempt lost", async () => {
    const { box, run } = await runningTask("aborts", "endless");
    run.kill("SIGINT");
    await run.waitForLog((l) => l.msg.startsWith("SIGINT: stopping"), "the drain to begin");
    const secondAt = Date.now();
    run.kill("SIGINT");
    const r = await run.exited;
    expect(r.code, run.describe()).toBe(130);
    expect(Date.now() - secondAt).toBeLessThan(5_000);
    expect(r.stderr).toContain("sluice: second SIGINT: exiting now");
    // Left as it was: the attempt is still recorded running (committed state, nothing half-written) …
    expect((await states(box)).attempts).toEqual(["running"]);
    // … and the next start settles it: lost, and retried at once from the lost-attempt budget
    // (lostRetries 3), though the task has retries: 0 — the crash was not its fault. That start
    // stops too (--for), so the retry is recorded lost as well and the run waits for the next start.
    const next = await box.cli(["run", CONFIG, "--for", "1s", "--shutdown-timeout", "200ms"]);
    expect(next.code, next.stderr).toBe(0);
    expect(await states(box)).toEqual({ run: "running", attempts: ["lost", "lost"] });
    const [latest] = await box.json<AttemptRecord[]>(["history"]);
    expect(latest?.error?.message).toMatch(/^lost: still running when Sluice shut down; retried from the lost-attempt budget \(2 of 3\)/);
  });

  it("Ctrl-C on trigger --wait (running the run in-process) cancels the run: nothing is left running", async () => {
    const box = await sandbox();
    const trig = box.start(["trigger", "aborts", "-c", CONFIG, "--wait"]);
    await box.waitForObservation((obs) => obs.find((o) => o.task === "endless" && o.event === "start"), "aborts.endless to start");
    trig.kill("SIGINT");
    const r = await trig.exited;
    expect(r.code, trig.describe()).toBe(130);
    expect(r.stderr).toMatch(/sluice: SIGINT: run 1 cancelled/);
    expect(box.observations().map((o) => o.event)).toEqual(["start", "stopped"]);
    expect(await states(box)).toEqual({ run: "cancelled", attempts: ["cancelled"] });
  });
});
