// `sluice run` and the operator's commands on the PostgreSQL store, as real processes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { freshSchema, pgUrl } from "../support/pg.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { fixture, sandbox } from "./helpers.js";

const pgBoxes = pgSandboxes("e2e");
afterAll(pgBoxes.dispose);

describe("sluice on PostgreSQL", () => {
  it("migrate, run, and trigger/runs/history/explain with --db alone (no config file); kill -9 and restart loses nothing", async () => {
    const box = await pgBoxes.create({ migrate: false });
    const migrated = await box.cli(["migrate"]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/^migrated postgres:\/\/.*\(schema e2e_/);

    const CONFIG = fixture("chain");
    // s2 runs until released, so it is surely running when the process is killed, however slow the
    // machine; the other steps take 200 ms.
    const env = { SLUICE_TEST_HOLD: "s2", SLUICE_TEST_STEP_MS: "200" };
    const first = await box.started(["run", CONFIG], { env });
    // An operator's terminal: the URL, no config (the scheduler recorded its definitions).
    const trigger = await box.cli(["trigger", "chain", "--json"]);
    expect(trigger.code, trigger.stderr).toBe(0);
    const runId = (JSON.parse(trigger.stdout) as RunRecord).id;
    await box.waitForObservation((obs) => obs.find((o) => o.task === "s2" && o.event === "start"), "s2 to start");
    const explain = await box.cli(["explain", String(runId)]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/s2/);

    first.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    const left = await box.json<AttemptRecord[]>(["history"]);
    expect(left.find((a) => a.task === "s2")?.state).toBe("running");

    writeFileSync(join(box.dir, "release-s2"), "");
    const second = box.start(["run", CONFIG], { env });
    await box.waitForObservation((obs) => obs.find((o) => o.task === "s4" && o.event === "end"), "s4 to end after the restart", 20_000);
    second.kill("SIGTERM");
    expect((await second.exited).code, second.describe()).toBe(0);

    const run = (await box.json<RunRecord[]>(["runs"])).find((r) => r.id === runId);
    expect(run?.state).toBe("success");
    const attempts = (await box.json<AttemptRecord[]>(["history"])).sort((a, b) => a.id - b.id);
    expect(attempts.map((a) => [a.task, a.attempt, a.state])).toEqual([
      ["s1", 1, "success"],
      ["s2", 1, "lost"],
      ["s2", 2, "success"],
      ["s3", 1, "success"],
      ["s4", 1, "success"],
    ]);
  }, 90_000);

  it("a second scheduler on the same schema is refused while the first lives", async () => {
    const box = await pgBoxes.create({ migrate: false });
    const CONFIG = fixture("chain");
    const first = await box.started(["run", CONFIG]);
    const second = await box.cli(["run", CONFIG, "--for", "2s"]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/another scheduler is running on this store/);
    first.kill("SIGTERM");
    expect((await first.exited).code).toBe(0);
  }, 60_000);

  it("read commands on a schema that was never migrated say how to create it, exit 2", async () => {
    const box = await sandbox({ db: pgUrl(freshSchema("never")) });
    const runs = await box.cli(["runs"]);
    expect(runs.code).toBe(2);
    expect(runs.stderr).toMatch(/^sluice: no store at postgres:\/\/.*create it with `sluice migrate --db …`/);
  });
});
