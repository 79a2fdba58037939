// The operating verbs through the programmatic API: pause, resume, backfill, retry, mark.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { defineConfig, pipeline, start } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-operate-api-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("pause/resume, backfill each schedule time once, retry a failed run after the fix, mark a task", { timeout: 30_000 }, async () => {
  let fixed = false;
  const daily = pipeline("daily", { schedule: { cron: "0 2 * * *", timezone: "UTC" }, maxActiveRuns: 2 });
  daily.task("load", () => 1);
  const flaky = pipeline("flaky");
  const first = flaky.task("first", () => 1);
  flaky.task("second", { dependsOn: [first] }, () => {
    if (!fixed) throw new Error("bad data");
  });
  const sluice = await start({ config: defineConfig({ pipelines: [daily, flaky] }), db: join(dir, "s.db"), logger: false });
  try {
    expect(await sluice.pause("daily")).toBe(true);
    expect(await sluice.pause("daily")).toBe(false);
    expect(await sluice.resume("daily")).toBe(true);
    expect(await sluice.resume("daily")).toBe(false);
    await expect(sluice.pause("nope")).rejects.toThrow(/nope/);

    const range = { from: Date.UTC(2026, 9, 1), to: Date.UTC(2026, 9, 5, 23, 59), maxActive: 2 };
    const ids = await sluice.backfill("daily", range);
    expect(ids).toHaveLength(5);
    const runs = await Promise.all(ids.map((id) => sluice.waitForRun(id)));
    expect(runs.map((r) => [new Date(r.scheduledFor).toISOString().slice(0, 10), r.trigger, r.state])).toEqual(
      ["01", "02", "03", "04", "05"].map((d) => [`2026-10-${d}`, "catchup", "success"]),
    );
    expect(await sluice.backfill("daily", range)).toEqual([]);
    await expect(sluice.backfill("flaky", range)).rejects.toThrow(/no schedule/);

    const failed = await sluice.waitForRun(await sluice.trigger("flaky"));
    expect(failed.state).toBe("failed");
    await expect(sluice.retry(failed.id, { tasks: ["nope"] })).rejects.toThrow(/has no task "nope"/);
    fixed = true;
    await sluice.retry(failed.id);
    expect((await sluice.waitForRun(failed.id)).state).toBe("success");
    expect((await sluice.listAttempts({ runId: failed.id })).filter((a) => a.task === "first")).toHaveLength(1);

    fixed = false;
    const again = await sluice.waitForRun(await sluice.trigger("flaky"));
    await sluice.mark(again.id, "second", "success");
    expect((await sluice.waitForRun(again.id)).state).toBe("success");
  } finally {
    await sluice.stop();
  }
});
