// The operating verbs through the CLI, in child processes, on both stores: pipelines, pause and
// resume (with and without a scheduler running), and backfill (a month of a daily pipeline on a
// one-slot pool: exactly 31 runs, nothing twice, the pool never shared).
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { openStore } from "../../src/store/open.js";
import type { PipelineStatus } from "../../src/cli/commands/operate.js";
import { bothStores, dropSchemas } from "../support/pg.js";
import { storeAttempts, storeRun, storeRuns } from "../support/store.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { disposeSandboxes, fixture, sandbox, waitFor, type Observation } from "./helpers.js";

const CONFIG = fixture("operate");
const RETRY = fixture("retry");
const schemas: string[] = [];
afterAll(async () => {
  await disposeSandboxes();
  await dropSchemas(...schemas);
});

const stores = bothStores("operate", schemas);

/** No two observed [start, end] intervals of tasks in the one-slot pool overlap. */
function assertPoolNeverShared(obs: Observation[]): void {
  const open = new Map<string, number>();
  let inside = 0;
  for (const o of obs.filter((x) => x.pipeline === "daily")) {
    const key = `${o.run}/${o.task}/${o.attempt}`;
    if (o.event === "start") {
      inside++;
      open.set(key, o.t);
      expect(inside, `two tasks held the one-slot pool at once (at ${key})`).toBe(1);
    } else if (o.event === "end" && open.delete(key)) inside--;
  }
}

// The two stores side by side (each test has its own sandbox and store); on one store, one test at a time.
// Commands that only operate a store whose definitions a scheduler has recorded go by those (no -c:
// no config compiled per command); the first commands on a new store, and those that run tasks, load the config.
describe.each(stores)("operating pipelines on %s", { concurrent: true }, (name, dbFor) => {
  describe.sequential("in order", () => {
    it("backfills a month exactly once, within the pool, with progress and a summary", { timeout: 90_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      // No scheduler yet: the runs are created queued, and a second backfill creates none.
      const first = await box.cli(["backfill", "daily", "-c", CONFIG, "--from", "2026-10-01", "--to", "2026-10-20", "--max-active", "3"]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain("created 20 run(s) of daily");
      expect(first.stdout).toContain("no scheduler is running");
      const again = await box.cli(["backfill", "daily", "-c", CONFIG, "--from", "2026-10-01", "--to", "2026-10-20"]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain("nothing to backfill: all 20 schedule time(s)");

      const run = await box.started(["run", CONFIG], { killAfterMs: 80_000 });
      // With a scheduler: the rest of the month (overlapping the first part), followed to its end.
      const rest = await box.cli(["backfill", "daily", "--from", "2026-10-15", "--to", "2026-10-31", "--max-active", "3", "--wait"], { killAfterMs: 70_000 });
      expect(rest.code, rest.stderr).toBe(0);
      expect(rest.stdout).toContain("created 11 run(s) of daily");
      expect(rest.stdout).toMatch(/backfill of daily ended in .*: 11 of 11 succeeded/);
      expect(rest.stderr).toContain("backfill daily: 11/11 done (11 succeeded");

      const runs = await waitFor(async () => {
        const all = (await storeRuns(box.db, { pipeline: "daily", limit: 100 })).filter((r) => r.trigger === "catchup");
        return all.length === 31 && all.every((r) => r.state === "success") ? all : undefined;
      }, "31 backfilled runs to succeed", { timeoutMs: 60_000 });
      const days = runs.map((r) => new Date(r.scheduledFor).toISOString()).sort();
      expect(new Set(days).size).toBe(31);
      expect(days[0]).toBe("2026-10-01T02:00:00.000Z");
      expect(days[30]).toBe("2026-10-31T02:00:00.000Z");
      const obs = box.observations().filter((o) => o.pipeline === "daily");
      expect(obs.filter((o) => o.event === "start")).toHaveLength(62);
      assertPoolNeverShared(obs);
      run.kill("SIGTERM");
      expect((await run.exited).code).toBe(0);
    });

    it("pauses and resumes a pipeline while the scheduler runs, and shows it in `pipelines`", { timeout: 60_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      const run = await box.started(["run", CONFIG], { killAfterMs: 50_000 });
      await box.waitForObservation((obs) => obs.filter((o) => o.pipeline === "ticker").length >= 2 || undefined, "the ticker to tick twice");

      const paused = await box.cli(["pause", "ticker"]);
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout).toContain("ticker paused");
      const twice = await box.cli(["pause", "ticker"]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toContain("ticker is paused already");

      const list = await box.json<PipelineStatus[]>(["pipelines"]);
      expect(list.find((p) => p.pipeline === "ticker")).toMatchObject({ state: "paused", nextRun: null, schedule: "every 1s" });
      expect(list.find((p) => p.pipeline === "daily")).toMatchObject({ state: "active", schedule: "cron 0 2 * * *", timezone: "UTC" });
      expect(list.find((p) => p.pipeline === "daily")?.nextRun).toMatch(/T02:00:00\.000Z$/);

      // Paused for 2 s (two ticks): no new ticker run (a tick's run created before the answer may still finish).
      const tickerRuns = async () => (await storeRuns(box.db, { pipeline: "ticker", limit: 1000 })).length;
      const before = await tickerRuns();
      await new Promise((r) => setTimeout(r, 2000));
      const during = await tickerRuns();
      expect(during).toBe(before);

      const resumed = await box.cli(["resume", "ticker"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      await waitFor(async () => ((await tickerRuns()) > during ? true : undefined), "a ticker run after resume");
      const store = await openStore(box.db, { readonly: true });
      try {
        const events = (await store.listEvents({ types: ["pipeline.paused", "pipeline.resumed", "schedule.missed"] })).filter((e) => e.pipeline === "ticker");
        expect(events.map((e) => e.type)).toEqual(["pipeline.paused", "schedule.missed", "pipeline.resumed"]);
        expect(events[2]?.message).toContain("were missed (catchup is off)");
      } finally {
        await store.close();
      }
      // Ticks the overlap policy skipped meanwhile are listed as such, with the run that was active.
      // (ticker may be skipped too, when a tick comes before its previous run has been recorded ended.)
      const skipped = await box.json<Array<{ id: null; pipeline: string; state: string; activeRun: number | null }>>(["runs", "--state", "skipped"]);
      expect(skipped.filter((s) => s.pipeline === "overrun").length).toBeGreaterThan(0);
      for (const s of skipped) expect(s).toMatchObject({ id: null, state: "skipped", activeRun: expect.any(Number) });
      run.kill("SIGTERM");
      await run.exited;
    });

    it("pauses with no scheduler running: the next `sluice run` creates no scheduled runs of it", { timeout: 60_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      const paused = await box.cli(["pause", "ticker", "-c", CONFIG]);
      expect(paused.code, paused.stderr).toBe(0);
      // Two refusals, which change nothing: at once.
      const [notPaused, unknown] = await Promise.all([box.cli(["resume", "daily", "-c", CONFIG]), box.cli(["pause", "nope", "-c", CONFIG])]);
      expect(notPaused.code).toBe(1);
      expect(notPaused.stderr).toContain("daily is not paused");
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('unknown pipeline "nope"');

      // Two ticks of ticker (every 1 s) come while it runs.
      const run = await box.cli(["run", CONFIG, "--for", "2s"], { killAfterMs: 40_000 });
      expect(run.code, run.stderr).toBe(0);
      expect(box.observations().filter((o) => o.pipeline === "ticker")).toHaveLength(0);
      // A manual trigger of a paused pipeline is still accepted (by the definitions that run recorded).
      const trig = await box.cli(["trigger", "ticker"]);
      expect(trig.code, trig.stderr).toBe(0);
      const list = await box.json<PipelineStatus[]>(["pipelines"]);
      expect(list.find((p) => p.pipeline === "ticker")?.state).toBe("paused");
    });

    it("retries the failed tasks of a finished run, and marks tasks by hand", { timeout: 90_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      const starts = (task: string) => box.observations().filter((o) => o.task === task && o.event === "start");
      // No scheduler: trigger --wait runs it here (and records the definitions the commands below
      // go by, without -c); transform fails, load never runs.
      const first = await box.cli(["trigger", "flaky", "-c", RETRY, "--wait", "--json"]);
      expect(first.code, first.stderr).toBe(1);
      const runId = (JSON.parse(first.stdout) as RunRecord).id;

      // Refused cleanly: unknown task, bad state, unknown run.
      const unknownTask = await box.cli(["retry", String(runId), "--task", "nope"]);
      expect(unknownTask.code).toBe(1);
      expect(unknownTask.stderr).toContain('has no task "nope"');
      const badState = await box.cli(["mark", String(runId), "load", "maybe"]);
      expect(badState.code).toBe(2);
      expect(badState.stderr).toContain("must be success or failed");
      expect((await box.cli(["retry", "9999"])).stderr).toContain("run 9999 does not exist");

      // The operator fixes the data; with a scheduler running, retry --wait re-runs transform and load only.
      writeFileSync(join(box.dir, "fixed"), "");
      const run = await box.started(["run", RETRY, "--no-live"], { killAfterMs: 80_000 });
      const retried = await box.cli(["retry", String(runId), "--wait"]);
      expect(retried.code, retried.stderr).toBe(0);
      expect(retried.stdout).toContain(`run ${runId} of flaky: success`);
      expect(starts("extract")).toHaveLength(1);
      expect(starts("transform")).toHaveLength(2);
      expect(starts("load")).toHaveLength(1);
      // The retried task read the output its upstream task produced in the first go.
      expect(starts("transform").at(-1)?.upstream).toEqual({ extract: 41 });
      expect(starts("load").at(-1)?.upstream).toEqual({ transform: 42 });
      const attempts = await storeAttempts(box.db, { runId });
      expect(attempts.filter((a) => a.task === "transform").map((a) => [a.attempt, a.state]).sort()).toEqual([[1, "failed"], [2, "success"]]);

      // A succeeded task named again: alone, or with everything downstream.
      expect((await box.cli(["retry", `${runId}/extract`, "--wait"])).code).toBe(0);
      expect([starts("extract").length, starts("transform").length, starts("load").length]).toEqual([2, 2, 1]);
      expect((await box.cli(["retry", String(runId), "--task", "extract", "--downstream", "--wait"])).code).toBe(0);
      expect([starts("extract").length, starts("transform").length, starts("load").length]).toEqual([3, 3, 2]);
      run.kill("SIGTERM");
      await run.exited;

      // Mark: a failed run set right by hand, task by task.
      const store = await openStore(box.db);
      try {
        await store.apply([{ type: "updateRun", id: runId, state: "failed" }, { type: "updateTask", runId, task: "load", state: "upstream_failed" }]);
      } finally {
        await store.close();
      }
      const half = await box.cli(["mark", String(runId), "transform", "success"]);
      expect(half.code, half.stderr).toBe(0);
      const whole = await box.cli(["mark", String(runId), "load", "success"]);
      expect(whole.code, whole.stderr).toBe(0);
      expect(whole.stdout).toContain(`run ${runId}: load marked success; the run is success`);
      expect((await storeRun(box.db, runId))?.state).toBe("success");
    });

    // Input checks happen before the store is touched: once is enough (SQLite).
    it.runIf(name === "SQLite")("refuses bad backfill input with one clear line", async () => {
      const box = await sandbox({ db: dbFor() });
      // The too-long range on ticker (every 1 s: 86,400 ticks in the day): daily's cron needs 99
      // years for that, and reading 10,000 of its cron ticks alone takes seconds.
      const cases: Array<[string, string[], string]> = [
        ["daily", ["--from", "2026-13-01", "--to", "2026-10-02"], '--from: "2026-13-01" is not a date'],
        ["daily", ["--from", "2026-10-05", "--to", "2026-10-01"], "--to (2026-10-01) is before --from (2026-10-05)"],
        ["ticker", ["--from", "2026-10-01", "--to", "2026-10-02"], "more than 10,000 ticks"],
        ["daily", ["--from", "2026-10-01", "--to", "2026-10-02", "--max-active", "0"], "--max-active"],
      ];
      // Each refused before anything is written: all at once.
      const results = await Promise.all(cases.map(([pipeline, args]) => box.cli(["backfill", pipeline, "-c", CONFIG, ...args])));
      for (const [i, [, , message]] of cases.entries()) {
        const r = results[i]!;
        expect(r.code, r.stdout).toBe(2);
        expect(r.stderr).toContain(message);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }
      const dry = await box.cli(["backfill", "daily", "-c", CONFIG, "--from", "2026-10-01", "--to", "2026-10-03", "--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain("would create 3 run(s) of daily");
      expect(await storeRuns(box.db)).toEqual([]);
    });
  });
});
