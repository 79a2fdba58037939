// ctx.pg across real processes (`sluice run` + `sluice worker` on a PostgreSQL store): the
// connections of all tasks together never exceed the pool's slots, counted in pg_stat_activity by
// application_name while they run; all are given back; `sluice pg blockers` names the task that
// holds a lock.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { TEST_DATABASE_URL } from "../support/pg.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { waitFor } from "./helpers.js";

const CONFIG = fileURLToPath(new URL("../fixtures/distributed/ctx-pg.config.ts", import.meta.url));
const pgBoxes = pgSandboxes("ctxpgcli");
let side: pg.Client | undefined;
afterAll(async () => {
  await side?.end();
  await pgBoxes.dispose();
});

describe("ctx.pg in sluice run + sluice worker", () => {
  it("keeps the connections of 11 concurrent tasks (two of them in a thread and a child process) in two worker processes within the pool's 3 slots, gives them all back, and shows the lock holder in sluice pg blockers", { timeout: 90_000 }, async () => {
    const box = await pgBoxes.create({ migrate: false });
    const schema = box.schema;
    const name = `ctxpg_${process.pid}_${Date.now().toString(36)}`;
    const table = `"${schema}".locked`;
    side = new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: "ctx-pg cli test observer" });
    await side.connect();
    await side.query(`CREATE SCHEMA "${schema}"`);
    await side.query(`CREATE TABLE ${table} (id int)`);
    const env = { SLUICE_TEST_CTXPG: name, SLUICE_TEST_CTXPG_TABLE: table, SLUICE_TEST_DATABASE_URL: TEST_DATABASE_URL };
    const migrated = await box.cli(["migrate"]);
    expect(migrated.code, migrated.stderr).toBe(0);
    const [run, worker] = await Promise.all([box.started(["run", CONFIG], { env, killAfterMs: 60_000 }, 30_000), box.started(["worker", CONFIG, "--name", "w1"], { env, killAfterMs: 60_000 }, 30_000)]);

    // Every session of both pipelines (`sluice:<name>/…` and `sluice:<name>_lock/…`), sampled
    // from the start until the end.
    const count = async () =>
      Number((await side!.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE starts_with(application_name, $1)", [`sluice:${name}`])).rows[0]!.n);
    let max = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        max = Math.max(max, await count());
        samples++;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    // Triggered from the store's recorded definitions (no -c): no config to compile.
    const [lockRun, busyRun, isoRun] = await Promise.all([box.cli(["trigger", `${name}_lock`, "--json"]), box.cli(["trigger", name, "--json"]), box.cli(["trigger", `${name}_iso`, "--json"])]);
    expect(lockRun.code, lockRun.stderr).toBe(0);
    expect(busyRun.code, busyRun.stderr).toBe(0);
    expect(isoRun.code, isoRun.stderr).toBe(0);
    const isoId = (JSON.parse(isoRun.stdout) as RunRecord).id;
    const lockId = (JSON.parse(lockRun.stdout) as RunRecord).id;

    // A task holding a lock: another session waits for it; blockers names the task.
    await box.waitForObservation((obs) => obs.find((o) => o.event === "locked"), "the lock to be taken", 30_000);
    const waiter = new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: "ctx-pg dashboard reader" });
    await waiter.connect();
    try {
      const waiting = waiter.query(`SELECT count(*) FROM ${table}`);
      const holder = `sluice:${name}_lock/${lockId}/hold`;
      const blockers = await waitFor(
        async () => {
          const r = await box.cli(["pg", "blockers", "--db", TEST_DATABASE_URL], { db: false });
          return r.stdout.includes(holder) && r.stdout.includes("ctx-pg dashboard reader") ? r : undefined;
        },
        "sluice pg blockers to show the task and the session it blocks",
        { timeoutMs: 30_000 },
      );
      expect(blockers.code).toBe(0);
      expect(blockers.stdout.indexOf(holder)).toBeLessThan(blockers.stdout.indexOf("ctx-pg dashboard reader"));
      writeFileSync(join(box.dir, "release-lock"), "");
      await waiting;
    } finally {
      writeFileSync(join(box.dir, "release-lock"), "");
      await waiter.end();
    }

    await box.waitForObservation((obs) => obs.filter((o) => o.event === "end").length === 8 || undefined, "the 8 busy tasks to end", 45_000);
    // ctx.pg in a worker thread and in a child process: named after the task, capped by its slot.
    const isolated = await box.waitForObservation((obs) => {
      const seen = obs.filter((o) => o.event === "isolated");
      return seen.length === 2 ? seen : undefined;
    }, "the isolated tasks to use the database", 45_000);
    expect(isolated.map((o) => [o.isolation, o.name, o.max]).sort()).toEqual([
      ["process", `sluice:${name}_iso/${isoId}/process`, 1],
      ["thread", `sluice:${name}_iso/${isoId}/thread`, 1],
    ]);
    await waitFor(async () => ((await count()) === 0 ? true : undefined), "every task's session to be given back");
    sampling = false;
    await sampler;
    expect(max, `${samples} samples`).toBeLessThanOrEqual(3);
    expect(max).toBeGreaterThanOrEqual(2);
    const starts = box.observations().filter((o) => o.event === "start");
    expect(new Set(starts.map((o) => o.pid)).size, "tasks ran in both processes").toBe(2);
    expect(starts.every((o) => o.max === o.slots)).toBe(true);
    run.kill("SIGTERM");
    worker.kill("SIGTERM");
    await Promise.all([run.exited, worker.exited]);
  });
});
