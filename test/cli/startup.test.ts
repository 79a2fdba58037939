// The CLI's start-up runs without V8's optimizing compiler (its background compilation cost ~20%
// more CPU than it saved), and the command's work with it: src/cli/startup.ts.
import { afterAll, describe, expect, it } from "vitest";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

const CONFIG = fixture("optimizer");

describe("V8's optimizing compiler in the CLI", () => {
  it("is off while the config loads and on when a task runs", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONFIG]);
    const trigger = await box.cli(["trigger", "probe"]);
    expect(trigger.code, trigger.stderr).toBe(0);
    const task = await box.waitForObservation((o) => o.find((x) => x.event === "task"), "the probe task to run");
    run.kill("SIGTERM");
    expect((await run.exited).code, run.describe()).toBe(0);
    const config = box.observations().find((x) => x.event === "config" && x.pid === run.child.pid);
    expect(config, "the config's probe in the `sluice run` process").toMatchObject({ optimized: false });
    expect(task).toMatchObject({ optimized: true });
  });
});
