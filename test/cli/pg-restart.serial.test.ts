// PostgreSQL restarted under a running scheduler and workers (issue 8, test 4): every process
// reconnects, the runs finish, nothing is lost, no task runs twice at once and no pool goes over.
// Serial: the restart would cut every other test file's connections.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { TEST_DATABASE_URL } from "../support/pg.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { storeRuns } from "../support/store.js";
import { waitFor, type Observation } from "./helpers.js";

const MANY = fileURLToPath(new URL("../fixtures/distributed/many.config.ts", import.meta.url));
const pgBoxes = pgSandboxes("restart");
afterAll(pgBoxes.dispose);

/** `pg_ctlcluster <version> main restart`, when this machine runs PostgreSQL that way. */
function restartCommand(): string[] | undefined {
  try {
    const versions = readdirSync("/etc/postgresql");
    return versions.length === 1 ? ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0] as string, "main", "restart", "-m", "fast"] : undefined;
  } catch {
    return undefined;
  }
}

async function serverUp(): Promise<boolean> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const restart = restartCommand();

describe.skipIf(restart === undefined)("PostgreSQL restarted mid-run", () => {
  it("scheduler and two workers reconnect; every task succeeds once, none twice at once, no pool over capacity", async () => {
    const box = await pgBoxes.create();
    const env = { SLUICE_TEST_TASKS: "400" };
    const scheduler = await box.started(["scheduler", MANY], { env, killAfterMs: 120_000 });
    const workers = [1, 2].map((n) => box.start(["worker", MANY, "--name", `w${n}`], { env, killAfterMs: 120_000 }));
    for (const w of workers) await w.waitForLog((l) => l.msg === "sluice worker started", "a worker to start");
    // By the definitions the scheduler recorded (no -c: none compiles the config).
    const triggers = await Promise.all(Array.from({ length: 10 }, (_, p) => box.cli(["trigger", `many${p}`], { env })));
    for (const t of triggers) expect(t.code, t.stderr).toBe(0);
    await box.waitForObservation((o) => o.filter((x) => x.event === "end").length >= 60 || undefined, "60 tasks to finish before the restart");

    execFileSync(restart?.[0] as string, restart?.slice(1) ?? [], { stdio: "ignore" });
    await waitFor(async () => ((await serverUp()) ? true : undefined), "PostgreSQL to be back", { timeoutMs: 30_000, intervalMs: 200 });

    await waitFor(
      async () => {
        const runs = await storeRuns(box.db).catch(() => undefined);
        return runs && runs.length === 10 && runs.every((x) => x.state === "success") ? runs : undefined;
      },
      "every run to succeed after the restart",
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const obs = box.observations();
    const ends = obs.filter((o) => o.event === "end");
    // Each task ended at least once; one that ran again (its first result could not be recorded
    // in time) never overlapped itself.
    const byTask = new Map<string, Observation[]>();
    for (const o of obs) byTask.set(`${o.run}/${o.task}`, [...(byTask.get(`${o.run}/${o.task}`) ?? []), o]);
    expect(new Set(ends.map((o) => `${o.run}/${o.task}`)).size).toBe(400);
    for (const [task, list] of byTask) {
      const sorted = [...list].sort((a, b) => a.t - b.t);
      let open = 0;
      for (const o of sorted) {
        open += o.event === "start" ? 1 : -1;
        expect(open, `${task} ran twice at once`).toBeLessThanOrEqual(1);
      }
    }
    const { default: config } = (await import(MANY)) as { default: { pools: Record<string, { slots: number }> } };
    const used: Record<string, number> = {};
    for (const o of [...obs].sort((a, b) => a.t - b.t || (a.event === "end" ? -1 : 1))) {
      for (const [pool, n] of Object.entries(o.pools ?? {})) {
        used[pool] = (used[pool] ?? 0) + (o.event === "start" ? n : -n);
        expect(used[pool] ?? 0, `pool ${pool}`).toBeLessThanOrEqual(config.pools[pool]?.slots ?? 0);
      }
    }
    for (const p of [...workers, scheduler]) p.kill("SIGTERM");
    for (const p of [...workers, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 180_000);
});
