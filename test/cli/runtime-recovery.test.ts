// `kill -9` in the middle of a run, then `sluice run` again: the run continues where it stopped.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, LEVEL, sandbox, type Observation } from "./helpers.js";
import { storeAttempts, storeRun } from "../support/store.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

afterAll(disposeSandboxes);

const CONFIG = fixture("chain");

describe("SIGKILL recovery", () => {
  it("marks the interrupted attempt lost, retries it, and never runs a finished task again", async () => {
    const box = await sandbox();
    // Created with no scheduler running: it starts when `sluice run` does.
    const trigger = await box.cli(["trigger", "chain", "-c", CONFIG, "--json"]);
    expect(trigger.code, trigger.stderr).toBe(0);
    const runId = (JSON.parse(trigger.stdout) as RunRecord).id;

    // s2 runs until released, so it is surely running when the process is killed, however slow the
    // machine; the other steps take 200 ms.
    const env = { SLUICE_TEST_HOLD: "s2", SLUICE_TEST_STEP_MS: "200" };
    const first = box.start(["run", CONFIG], { env });
    await box.waitForObservation((obs) => obs.find((o) => o.task === "s2" && o.event === "start"), "s2 to start in the first process");
    first.kill("SIGKILL");
    const killed = await first.exited;
    expect(killed.signal).toBe("SIGKILL");
    const killedAt = box.observations().length; // everything after this line was written later

    // What the crash left: s2's attempt still recorded as running.
    const left = await storeAttempts(box.db);
    expect(left.find((a) => a.task === "s2")?.state).toBe("running");

    writeFileSync(join(box.dir, "release-s2"), "");
    const second = box.start(["run", CONFIG], { env });
    await box.waitForObservation((obs) => obs.find((o) => o.task === "s4" && o.event === "end"), "s4 to end in the second process", 20_000);
    second.kill("SIGTERM");
    const stopped = await second.exited;
    expect(stopped.code, second.describe()).toBe(0);

    const run = await storeRun(box.db, runId);
    expect(run?.state).toBe("success");

    const attempts = (await storeAttempts(box.db)).sort((a, b) => a.id - b.id);
    expect(attempts.map((a) => [a.task, a.attempt, a.state])).toEqual([
      ["s1", 1, "success"],
      ["s2", 1, "lost"],
      ["s2", 2, "success"],
      ["s3", 1, "success"],
      ["s4", 1, "success"],
    ]);
    expect(attempts[1]?.error?.code).toBe("SLUICE_ATTEMPT_LOST");
    expect(second.logs().some((l) => l.event === "attempt.lost" && l.level === LEVEL.warn && l.task === "s2")).toBe(true);

    const obs = box.observations();
    const starts = (task: string) => obs.filter((o) => o.task === task && o.event === "start").map((o) => [o.attempt, o.pid]);
    expect(starts("s1")).toEqual([[1, first.pid]]);
    expect(starts("s2")).toEqual([
      [1, first.pid],
      [2, second.pid],
    ]);
    expect(starts("s3")).toEqual([[1, second.pid]]);
    expect(starts("s4")).toEqual([[1, second.pid]]);
    // Nothing the second process did was observed before the kill.
    expect(obs.slice(0, killedAt).every((o) => o.pid === first.pid)).toBe(true);
    // A sequential chain: never two attempts at once, counting the killed one as ended at the kill.
    expect(maxRunning(obs, first.pid)).toBe(1);
  });
});

/** Replay in file order; attempts of `killedPid` still open end when another process first writes. */
function maxRunning(obs: Observation[], killedPid: number): number {
  const open = new Map<string, number>();
  let max = 0;
  for (const o of obs) {
    if (o.pid !== killedPid) for (const [key, pid] of open) if (pid === killedPid) open.delete(key);
    const key = `${o.run}/${o.task}/${o.attempt}`;
    if (o.event === "start") open.set(key, o.pid);
    else if (o.event === "end") open.delete(key);
    max = Math.max(max, open.size);
  }
  return max;
}
