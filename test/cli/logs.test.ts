// `sluice logs`: ctx.log lines kept with their attempts, read back through the CLI in child
// processes, on SQLite and PostgreSQL.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { bothStores, dropSchemas } from "../support/pg.js";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";
import { storeAttempts } from "../support/store.js";

const CONFIG = fixture("tasklogs");
const schemas: string[] = [];
afterAll(async () => {
  await disposeSandboxes();
  await dropSchemas(...schemas);
});

const stores = bothStores("logs", schemas);

interface JsonLine {
  seq: number;
  level: string;
  msg: string;
  data: Record<string, unknown> | null;
  attempt: number;
  task: string;
}
const jsonLines = (text: string): JsonLine[] => text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as JsonLine);

// The two stores side by side (each test has its own sandbox); on one store, one test at a time.
describe.each(stores)("sluice logs on %s", { concurrent: true }, (_name, dbFor) => {
  describe.sequential("in order", () => {
    it("prints a task's lines with levels and fields, each attempt, the bound, and refuses unknown runs", { timeout: 60_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      const ran = await box.cli(["trigger", "chatty", "-c", CONFIG, "--wait", "--json"]);
      expect(ran.code, ran.stderr).toBe(0);
      const runId = (JSON.parse(ran.stdout) as RunRecord).id;

      // The run has ended: every read below at once.
      const attempts = await storeAttempts(box.db, { runId });
      const first = attempts.find((a) => a.task === "flaky" && a.attempt === 1);
      const [talk, talkJson, flakyLatest, flakyFirst, whole, byId, spamOut, missing, noTask] = await Promise.all([
        box.cli(["logs", `${runId}/talk`, "--tz", "UTC"]),
        box.cli(["logs", `${runId}/talk`, "--json"]),
        box.cli(["logs", `${runId}/flaky`, "--json"]),
        box.cli(["logs", `${runId}/flaky`, "--attempt", "1", "--json"]),
        box.cli(["logs", String(runId)]),
        box.cli(["logs", "--attempt-id", String(first?.id), "--json"]),
        box.cli(["logs", `${runId}/spam`, "--json"]),
        box.cli(["logs", "999"]),
        box.cli(["logs", `${runId}/nope`]),
      ]);
      expect(talk.code, talk.stderr).toBe(0);
      expect(talk.stdout).toContain("times in UTC");
      expect(talk.stdout).toMatch(/── chatty\.talk · run \d+ · attempt 1 \(id \d+, success\) ──/);
      expect(talk.stdout).toMatch(/\d{2}:\d{2}:\d{2}\.\d{3} DEBUG looking\n.* INFO {2}loaded rows \{"rows":42,"table":"sales"\}\n.* WARN {2}slow query \{"ms":1234\}/);

      const json = jsonLines(talkJson.stdout);
      expect(json.map((l) => [l.seq, l.level, l.msg])).toEqual([[1, "debug", "looking"], [2, "info", "loaded rows"], [3, "warn", "slow query"]]);
      expect(json[1]?.data).toEqual({ rows: 42, table: "sales" });

      // Each attempt: the latest by default, another with --attempt; the whole run lists them all.
      expect(jsonLines(flakyLatest.stdout).map((l) => [l.attempt, l.msg])).toEqual([[2, "attempt 2 starting"]]);
      expect(jsonLines(flakyFirst.stdout).map((l) => [l.level, l.msg, l.data])).toEqual([
        ["info", "attempt 1 starting", null],
        ["error", "bad input", { file: "a.csv" }],
      ]);
      expect(whole.stdout.match(/^── /gm)).toHaveLength(4);
      expect(jsonLines(byId.stdout)).toHaveLength(2);

      // At most 1,000 lines per attempt, then one line saying how many were not kept.
      const spam = jsonLines(spamOut.stdout);
      expect(spam).toHaveLength(1001);
      expect(spam[999]?.msg).toBe("line 1000");
      expect(spam[1000]).toMatchObject({ level: "warn", msg: "… 500 more line(s) not kept (at most 1000 per attempt)" });

      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("run 999 does not exist");
      expect(noTask.code).toBe(2);
      expect(noTask.stderr).toContain('has no task "nope"');
    });

    it("--follow prints lines as a running task writes them and ends with the attempt", { timeout: 60_000 }, async () => {
      const box = await sandbox({ db: dbFor() });
      const run = await box.started(["run", CONFIG, "--no-live"], { killAfterMs: 50_000 });
      const trig = await box.cli(["trigger", "slow", "--json"]); // by the running scheduler's recorded definitions
      const runId = (JSON.parse(trig.stdout) as RunRecord).id;
      const follow = box.start(["logs", `${runId}/drip`, "--follow", "--json"], { killAfterMs: 40_000 });
      const ended = await follow.exited;
      expect(ended.code, ended.stderr).toBe(0);
      expect(jsonLines(ended.stdout).map((l) => l.msg)).toEqual(["drip 1", "drip 2", "drip 3", "drip 4", "drip 5", "drip 6", "drip 7", "drip 8"]);
      // A task that has not started yet (its upstream runs for 1.5 s) is waited for, not given up on.
      const later = JSON.parse((await box.cli(["trigger", "later", "--json"])).stdout) as RunRecord;
      const waited = await box.start(["logs", `${later.id}/second`, "--follow", "--json"], { killAfterMs: 40_000 }).exited;
      expect(waited.code, waited.stderr).toBe(0);
      expect(jsonLines(waited.stdout).map((l) => l.msg)).toEqual(["second ran"]);
      run.kill("SIGTERM");
      await run.exited;
    });
  });
});
