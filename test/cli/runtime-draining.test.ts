// Issue 7, item 10: slots are held while the work runs. A cancelled attempt whose function ignores
// its signal keeps its pool slot until the function settles; explain says so.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TaskExplanation } from "../../src/core/engine/types.js";
import type { RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";
import { storeRuns } from "../support/store.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("deaf");

describe("a cancelled task that ignores its signal", () => {
  it("keeps its slot until its function settles; explain names it as still running", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG]);
    // Triggers by the running scheduler's recorded definitions (no -c: no config to compile).
    const deaf = JSON.parse((await box.cli(["trigger", "deaf", "--json"])).stdout) as RunRecord;
    await box.waitForObservation((o) => o.find((x) => x.task === "stubborn" && x.event === "start"), "deaf.stubborn to start");
    const waiter = JSON.parse((await box.cli(["trigger", "waiter", "--json"])).stdout) as RunRecord;
    const cancel = await box.cli(["cancel", String(deaf.id), "-c", CONFIG]);
    expect(cancel.code, cancel.stderr).toBe(0);

    const text = await box.cli(["explain", String(waiter.id), "-c", CONFIG]);
    expect(text.stdout).toMatch(new RegExp(`held by deaf\\.stubborn \\(run ${deaf.id}, attempt \\d+ cancelled .* ago, still running\\)`));
    const json = await box.json<{ tasks: TaskExplanation[] }>(["explain", String(waiter.id), "-c", CONFIG]);
    expect(json.tasks[0]?.reasons).toContainEqual(expect.objectContaining({ kind: "pool", name: "one_slot", free: 0 }));

    // Still held a moment later: nothing frees the slot but the function's end.
    await new Promise((r) => setTimeout(r, 500));
    expect(box.observations().some((o) => o.task === "needs_slot")).toBe(false);
    writeFileSync(join(box.dir, "release-stubborn"), "");

    const [end, start] = await box.waitForObservation((o) => {
      const e = o.find((x) => x.task === "stubborn" && x.event === "end");
      const s = o.find((x) => x.task === "needs_slot" && x.event === "start");
      return e && s ? ([e, s] as const) : undefined;
    }, "the stubborn function to end and the waiter to start");
    // Never two users of the one connection: the waiter starts only after the stubborn function ended.
    expect(start.t).toBeGreaterThanOrEqual(end.t);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    const runs = Object.fromEntries((await storeRuns(box.db)).map((r) => [r.pipeline, r.state]));
    expect(runs).toEqual({ deaf: "cancelled", waiter: "success" });
  });
});
