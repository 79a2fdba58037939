// Issue 11, isolation: tasks in a thread or child process, their memory limits, the kill after the
// grace, what crosses the boundary, and the peak memory of every attempt — through the real CLI
// (compiled, as users run it), with a user-style config (test/fixtures/runtime/isolation.config.ts).
// No timing assertions: every wait is on an observation or a recorded state.
import { afterAll, describe, expect, it } from "vitest";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox } from "../cli/helpers.js";
import { storeAttempts } from "../support/store.js";

const CONFIG = fixture("isolation");
const MB = 1024 * 1024;
afterAll(disposeSandboxes);

/** True while a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const byTask = (attempts: AttemptRecord[]) => Object.fromEntries(attempts.map((a) => [a.task, a]));

describe("isolation: memory limits and the kill after the grace", () => {
  it("kills a process task past its memoryMb (SLUICE_MEMORY_LIMIT, limit and peak named), stops a thread task at its heap limit, while their inline neighbour finishes", { timeout: 60_000 }, async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "hog", "-c", CONFIG, "--wait", "--json"], { killAfterMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("failed");
    const a = byTask(await storeAttempts(box.db));

    expect(a.process_hog?.state).toBe("failed");
    expect(a.process_hog?.error?.code).toBe("SLUICE_MEMORY_LIMIT");
    expect(a.process_hog?.error?.message).toMatch(/the child process used \d+\.\d MB of resident memory, over the task's memoryMb of 160 MB, and was killed/);
    expect(a.process_hog?.peakMemoryBytes).toBeGreaterThan(160 * MB);

    expect(a.thread_hog?.state).toBe("failed");
    expect(a.thread_hog?.error?.code).toBe("SLUICE_MEMORY_LIMIT");
    expect(a.thread_hog?.error?.message).toMatch(/the thread's heap reached its limit of 48 MB/);
    expect(a.thread_hog?.peakMemoryBytes).toBeGreaterThanOrEqual(48 * MB);

    // Unaffected: the inline task beside them ran to its end and succeeded.
    expect(a.neighbour?.state).toBe("success");
    expect(box.observations().some((o) => o.task === "neighbour" && o.event === "end")).toBe(true);
    // The hog's child process is gone.
    const hogPid = box.observations().find((o) => o.task === "process_hog" && o.event === "start")?.pid;
    expect(hogPid).toBeTypeOf("number");
    expect(alive(hogPid as number)).toBe(false);
  });

  it("kills a process task that ignores its signal after its timeout, once the grace has passed", { timeout: 60_000 }, async () => {
    const box = await sandbox();
    // A grace of 1 s: the child has time to see its signal abort (and ignore it) even on a loaded machine.
    const r = await box.cli(["trigger", "deaf", "-c", CONFIG, "--wait", "--json"], { killAfterMs: 60_000, env: { SLUICE_TIMEOUT_GRACE_MS: "1000" } });
    expect(r.code, r.stderr).toBe(1);
    const [a] = await storeAttempts(box.db);
    expect(a?.state).toBe("timed_out");
    expect(a?.error?.code).toBe("SLUICE_TASK_TIMEOUT");
    expect(a?.error?.message).toBe("timed out after 4000 ms and did not stop within 1000 ms of its signal aborting, so its child process was killed");
    // It saw its signal abort (the abort reached the child) and ignored it; its process is gone.
    const obs = await box.waitForObservation((o) => o.find((x) => x.event === "abort"), "the abort observation");
    expect(obs.reason).toBe("timed out after 4000 ms");
    const pid = box.observations().find((o) => o.event === "start")?.pid as number;
    expect(alive(pid)).toBe(false);
  });

  it("stops a cancelled thread task that ignores its signal after the grace; its pool slot then goes to the next task", { timeout: 60_000 }, async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG], { killAfterMs: 60_000 });
    // Without -c: the running scheduler's recorded definitions (no config to compile per command).
    const deaf = JSON.parse((await box.cli(["trigger", "cancelled", "--json"])).stdout) as RunRecord;
    await box.waitForObservation((o) => o.find((x) => x.task === "deaf" && x.event === "start"), "cancelled.deaf to start", 30_000);
    const after = JSON.parse((await box.cli(["trigger", "after", "--json"])).stdout) as RunRecord;
    const cancel = await box.cli(["cancel", String(deaf.id)]);
    expect(cancel.code, cancel.stderr).toBe(0);
    // Inline, this slot would stay held until the function settled — here it never would.
    await box.waitForObservation((o) => o.find((x) => x.task === "needs_slot" && x.event === "start"), "after.needs_slot to start once the deaf thread is stopped", 30_000);
    await run.waitForLog((l) => l.event === "run.success" && l.run === after.id, "the after run to succeed");
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    const [cancelled] = await storeAttempts(box.db, { runId: deaf.id });
    expect(cancelled?.state).toBe("cancelled");
    // Measured until the thread was stopped, recorded with its release.
    expect(cancelled?.peakMemoryBytes).toBeGreaterThan(0);
  });
});
