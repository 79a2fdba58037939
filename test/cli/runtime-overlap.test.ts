// Overlap policies under `sluice run` with real schedules: `skip` and `cancelRunning`.
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { SkippedTick } from "../../src/cli/commands/reads.js";
import type { RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, LEVEL, sandbox, type Observation } from "./helpers.js";
import { storeAttempts, storeRuns } from "../support/store.js";

afterAll(disposeSandboxes);

describe.concurrent("overlap policies under sluice run", () => {
  it("skip: never two runs at once; each skip is a WARN naming the pipeline, the skipped time and the active run, and is counted", async () => {
    const box = await sandbox();
    const run = box.start(["run", fixture("overlap-skip"), "--for", "6s"]);
    const r = await run.exited;
    expect(r.code, run.describe()).toBe(0);

    const obs = box.observations();
    const starts = obs.filter((o) => o.event === "start");
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(maxConcurrent(obs, "start", ["end"])).toBe(1);

    const listed = await box.json<Array<RunRecord | SkippedTick>>(["runs"]);
    const runs = listed.filter((x): x is RunRecord => x.state !== "skipped").sort((a, b) => a.id - b.id);
    const skips = run.logs().filter((l) => l.event === "run.skipped");
    expect(skips.length, run.describe()).toBeGreaterThanOrEqual(1);
    // `runs` lists the skipped ticks beside the runs, with their time and why; `--state skipped` only them.
    const skippedTicks = listed.filter((x): x is SkippedTick => x.state === "skipped");
    expect(skippedTicks.map((t) => t.scheduledFor).sort()).toEqual(skips.map((l) => l.scheduledFor as number).sort());
    for (const t of skippedTicks) expect(t).toMatchObject({ id: null, pipeline: "slow_skip", trigger: "schedule", reason: expect.stringContaining("is still active (overlap: skip)") });
    expect(await box.json<SkippedTick[]>(["runs", "--state", "skipped"])).toEqual(skippedTicks);
    const table = await box.cli(["runs", "--state", "skipped"]);
    expect(table.stdout).toContain("skipped");
    expect(table.stdout).toMatch(/run \d+ was still active/);
    for (const skip of skips) {
      expect(skip.level).toBe(LEVEL.warn);
      const scheduledFor = skip.scheduledFor as number;
      const active = skip.activeRun as number;
      expect(skip.pipeline).toBe("slow_skip");
      expect(skip.msg).toContain("slow_skip");
      expect(skip.msg).toContain(new Date(scheduledFor).toISOString());
      expect(skip.msg).toContain(`run ${active}`);
      // The run it names was active when the skip was decided (created before, ended after).
      const named = runs.find((x) => x.id === active);
      expect(named?.createdAt ?? Infinity).toBeLessThanOrEqual(Date.parse(skip.time as string));
      expect(named?.endedAt ?? 0).toBeGreaterThanOrEqual(scheduledFor);
    }
    // Counted: the running total in the log and in the store's schedule state.
    expect(skips.at(-1)?.skippedTotal).toBe(skips.length);
    const db = new Database(join(box.dir, "s.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT skipped FROM schedule_state WHERE pipeline = ?").get("slow_skip") as { skipped: number } | undefined;
      expect(row?.skipped).toBe(skips.length);
    } finally {
      db.close();
    }
    // A cycle longer than its interval is warned about too.
    expect(run.logs().some((l) => l.event === "run.overran" && l.level === LEVEL.warn)).toBe(true);

    // The store agrees: runs never overlapped, and each ran to success (the drain let the last finish).
    expect(runs.length).toBe(starts.length);
    for (let i = 1; i < runs.length; i++) expect(runs[i]?.startedAt ?? 0).toBeGreaterThanOrEqual(runs[i - 1]?.endedAt ?? Infinity);
    expect(runs.every((x) => x.state === "success")).toBe(true);
  });

  it("cancelRunning: the active run is cancelled (its task's signal fires) and its slot is free at once for the next run", async () => {
    const box = await sandbox();
    const run = box.start(["run", fixture("overlap-cancel"), "--for", "3500ms", "--shutdown-timeout", "500ms"]);
    const r = await run.exited;
    expect(r.code, run.describe()).toBe(0);

    const obs = box.observations();
    const starts = obs.filter((o) => o.event === "start");
    expect(starts.length, JSON.stringify(obs)).toBeGreaterThanOrEqual(2);
    // One slot in one_slot: between a cancel (the abort) and the next start, no overlap.
    expect(maxConcurrent(obs, "start", ["abort"])).toBe(1);
    for (let i = 0; i + 1 < starts.length; i++) {
      const current = starts[i] as Observation;
      const next = starts[i + 1] as Observation;
      const abort = obs.find((o) => o.run === current.run && o.event === "abort");
      expect(abort?.reason, `run ${current.run}`).toContain("overlap cancelRunning");
      expect(next.t - (abort?.t ?? Infinity)).toBeLessThan(2000);
      expect(next.t).toBeGreaterThanOrEqual(abort?.t ?? Infinity);
    }

    const runs = (await storeRuns(box.db)).sort((a, b) => a.id - b.id);
    const attempts = await storeAttempts(box.db);
    for (const superseded of runs.slice(0, -1)) {
      expect(superseded.state, `run ${superseded.id}`).toBe("cancelled");
      expect(attempts.find((a) => a.runId === superseded.id)?.state).toBe("cancelled");
    }
    expect(attempts.some((a) => a.state === "running")).toBe(false);
  });
});

/** Replay observations in file order: the most attempts between `startEvent` and one of `endEvents`. */
function maxConcurrent(obs: Observation[], startEvent: string, endEvents: string[]): number {
  const open = new Set<string>();
  let max = 0;
  for (const o of obs) {
    const key = `${o.run}/${o.task}/${o.attempt}`;
    if (o.event === startEvent) open.add(key);
    else if (endEvents.includes(o.event)) open.delete(key);
    max = Math.max(max, open.size);
  }
  return max;
}
