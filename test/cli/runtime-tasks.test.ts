// Task outcomes through `sluice trigger <pipeline> --wait` (no scheduler running: the CLI runs the
// run in-process) — retries, timeouts, upstream_failed, params — and its exit codes 0 and 1.
import { afterAll, describe, expect, it } from "vitest";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import type { TaskExplanation } from "../../src/core/engine/types.js";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";
import { storeAttempts } from "../support/store.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("tasks");

describe.concurrent("sluice trigger --wait: task outcomes", () => {
  it("retries a task that fails twice and exits 0 when the third attempt succeeds", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "flaky", "-c", CONFIG, "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("success");

    expect(box.observations().filter((o) => o.event === "start").map((o) => o.attempt)).toEqual([1, 2, 3]);
    const attempts = (await storeAttempts(box.db, { task: "sometimes" })).sort((a, b) => a.attempt - b.attempt);
    expect(attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "success"],
    ]);
    expect(attempts[0]?.error?.message).toContain("flaky failure on attempt 1");
    // retryDelay 100ms: a retry never starts before its delay has passed.
    for (let i = 1; i < attempts.length; i++) {
      const prev = attempts[i - 1] as AttemptRecord;
      expect((attempts[i] as AttemptRecord).startedAt - (prev.endedAt ?? 0)).toBeGreaterThanOrEqual(90);
    }
  });

  it("times out a task that ignores its signal: the signal fires at the timeout, the attempt is timed_out after the grace, exit 1", async () => {
    const box = await sandbox();
    // The helper sets SLUICE_TIMEOUT_GRACE_MS=200; the task would only end on its own after 4 s.
    const r = await box.cli(["trigger", "stubborn", "-c", CONFIG, "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("failed");

    const [attempt] = await storeAttempts(box.db);
    expect(attempt?.state).toBe("timed_out");
    expect(attempt?.error?.code).toBe("SLUICE_TASK_TIMEOUT");
    const took = (attempt?.endedAt ?? 0) - (attempt?.startedAt ?? 0);
    expect(took).toBeGreaterThanOrEqual(450); // timeout 300 ms + grace 200 ms
    expect(took).toBeLessThan(3500); // not waiting for the task, which ignores its signal for 4 s

    const obs = box.observations();
    const start = obs.find((o) => o.event === "start");
    const abort = obs.find((o) => o.event === "abort");
    expect(abort?.reason).toBe("timed out after 300 ms");
    expect((abort?.t ?? 0) - (start?.t ?? 0)).toBeGreaterThanOrEqual(250);
  });

  it("marks the dependents of a failed task upstream_failed, runs independent tasks, exits 1", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "upstream", "-c", CONFIG, "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(1);
    const run = JSON.parse(r.stdout) as RunRecord;
    expect(run.state).toBe("failed");

    const explained = await box.json<{ run: RunRecord; tasks: TaskExplanation[] }>(["explain", String(run.id), "-c", CONFIG]);
    const states = Object.fromEntries(explained.tasks.map((t) => [t.task, t.state]));
    expect(states).toEqual({ extract: "failed", transform: "upstream_failed", load: "upstream_failed", audit: "success" });
    expect(box.observations().map((o) => o.task).sort()).toEqual(["audit", "extract"]);
  });

  it("hands --params to ctx.params and records them on the run, exit 0", async () => {
    const box = await sandbox();
    const params = { day: "2024-06-01", n: 3, nested: { ids: [1, 2] } };
    const r = await box.cli(["trigger", "echo", "-c", CONFIG, "--params", JSON.stringify(params), "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as RunRecord;
    expect(run.state).toBe("success");
    expect(run.params).toEqual(params);
    expect(box.observations().find((o) => o.event === "start")?.params).toEqual(params);
  });
});
