/**
 * Hooks fire for the right events through a real `start()` run, on SQLite and on PostgreSQL; a
 * hook that throws or never settles is logged and bounded, and scheduling goes on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start, type Notification, type Sluice } from "../../src/index.js";
import { notificationSchema } from "../../src/observe/notify.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-notify-"));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(...schemas);
});
let n = 0;

const STORES = {
  sqlite: () => `file:${join(dir, `notify-${++n}.db`)}`,
  postgres: () => {
    const schema = freshSchema("notify");
    schemas.push(schema);
    return pgUrl(schema);
  },
};

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Trigger and wait for the run's end. `trigger()` resolves when the engine has decided the run,
 * which on PostgreSQL can be a moment before its batch commits: wait for the row first.
 */
async function runToEnd(sluice: Sluice, pipelineId: string) {
  const id = await sluice.trigger(pipelineId);
  for (let i = 0; i < 100 && !(await sluice.getRun(id)); i++) await new Promise((r) => setTimeout(r, 20));
  return sluice.waitForRun(id);
}

/** Every hook call, as `<where> <hook> <type> <task>`. */
function recorder() {
  const calls: Array<{ where: string; n: Notification }> = [];
  const hook = (where: string) => (notification: Notification) => void calls.push({ where, n: notification });
  const hooks = (where: string) => ({ onSuccess: hook(`${where}.onSuccess`), onFailure: hook(`${where}.onFailure`), onRetry: hook(`${where}.onRetry`), onSkip: hook(`${where}.onSkip`) });
  return { calls, hooks, lines: () => calls.map((c) => `${c.where} ${c.n.type} ${c.n.task ?? "-"}`).sort() };
}

describe.each(Object.keys(STORES) as Array<keyof typeof STORES>)("hooks through start() on %s", (store) => {
  const running: Sluice[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop({ timeout: "1s" });
  });

  it("fire onSuccess / onFailure / onRetry / onSkip of pipelines and tasks for exactly their events, with the v1 payload", async () => {
    const rec = recorder();
    const good = pipeline("good", rec.hooks("good"));
    const extract = good.task("extract", rec.hooks("good.extract"), () => 1);
    good.task("load", { dependsOn: [extract], ...rec.hooks("good.load") }, () => 2);

    let tries = 0;
    const bad = pipeline("bad", rec.hooks("bad"));
    const flaky = bad.task("flaky", { retries: 1, retryDelay: 10, ...rec.hooks("bad.flaky") }, () => {
      tries++;
      const err = new Error(`broken source (try ${tries})`) as Error & { code: string };
      err.code = "E_SOURCE";
      throw err;
    });
    bad.task("after", { dependsOn: [flaky], ...rec.hooks("bad.after") }, () => 3);

    // Ticks every 150 ms, each run lasting 500 ms: the overlap policy skips ticks.
    let release = false;
    const slow = pipeline("slow", { schedule: { every: "150ms" }, ...rec.hooks("slow") });
    slow.task("wait", rec.hooks("slow.wait"), async () => {
      while (!release) await new Promise((r) => setTimeout(r, 20));
    });

    const sluice = await start({ config: defineConfig({ pipelines: [good, bad, slow] }), db: STORES[store](), logger: false });
    running.push(sluice);
    const goodRun = await runToEnd(sluice, "good");
    const badRun = await runToEnd(sluice, "bad");
    expect([goodRun.state, badRun.state]).toEqual(["success", "failed"]);
    await until("a skipped tick of slow", () => rec.calls.some((c) => c.n.type === "run.skipped"));
    release = true;
    await until("the 8 hook calls of the good and bad runs", () => rec.calls.filter((c) => c.n.pipeline !== "slow").length >= 8 || undefined);
    // A duplicate would come right after: give it a moment to show up, then compare.
    await new Promise((r) => setTimeout(r, 200));

    const mine = rec.lines().filter((l) => !l.startsWith("slow"));
    expect(mine).toEqual(
      [
        "good.extract.onSuccess task.success extract",
        "good.load.onSuccess task.success load",
        "good.onSuccess run.success -",
        "bad.flaky.onRetry task.retry flaky",
        "bad.onRetry task.retry flaky",
        "bad.flaky.onFailure task.failed flaky",
        "bad.after.onSkip task.skipped after",
        "bad.onFailure run.failed -",
      ].sort(),
    );
    const slowCalls = rec.lines().filter((l) => l.startsWith("slow"));
    expect(slowCalls.length).toBeGreaterThan(0);
    expect(new Set(slowCalls.map((l) => l.replace(/ .*/, "")))).toContain("slow.onSkip");
    expect(slowCalls.every((l) => /^slow\.onSkip run\.skipped -$|^slow\.onSuccess run\.success -$|^slow\.wait\.onSuccess task\.success wait$/.test(l))).toBe(true);

    // Every payload is the documented v1 shape, and carries what a receiver needs.
    for (const c of rec.calls) expect(() => notificationSchema.parse(c.n)).not.toThrow();
    const failed = rec.calls.find((c) => c.n.type === "task.failed")!.n;
    expect(failed).toMatchObject({ version: 1, pipeline: "bad", runId: badRun.id, task: "flaky", attempts: 2, level: "error", error: { message: "broken source (try 2)", code: "E_SOURCE" } });
    expect(failed.scheduledFor).toBe(new Date(badRun.scheduledFor).toISOString());
    const retry = rec.calls.find((c) => c.n.type === "task.retry")!.n;
    expect(retry).toMatchObject({ attempts: 1, error: { message: "broken source (try 1)" } });
    expect(typeof retry.data.retryAt).toBe("number");
    const skip = rec.calls.find((c) => c.n.type === "run.skipped")!.n;
    expect(skip).toMatchObject({ pipeline: "slow", runId: null, task: null });
    expect(skip.scheduledFor).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(typeof skip.data.activeRun).toBe("number");
    expect(rec.calls.find((c) => c.n.type === "task.success" && c.n.task === "load")!.n).toMatchObject({ attempts: 1, runId: goodRun.id, error: null, level: "info" });
    expect(rec.calls.find((c) => c.n.type === "task.skipped")!.n).toMatchObject({ attempts: 0, task: "after", runId: badRun.id, level: "warn" });
    const success = rec.calls.find((c) => c.where === "good.onSuccess")!.n;
    expect(success).toMatchObject({ type: "run.success", runId: goodRun.id, level: "info" });
    expect(typeof success.data.durationMs).toBe("number");
    expect(new Set(rec.calls.map((c) => c.n.id)).size).toBe(new Set(rec.calls.map((c) => `${c.n.type}/${c.n.runId}/${c.n.task}/${c.n.at}/${c.n.message}`)).size);
  });

  it("a hook that throws or never settles is logged and abandoned; runs go on being scheduled and finish", async () => {
    const logs: Array<{ level: string; msg: string }> = [];
    const { pino } = await import("pino");
    const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: string; msg: string }) });
    let thrown = 0;
    let hung = 0;
    const p = pipeline("p", {
      onSuccess: () => {
        thrown++;
        throw new Error("the alerting service is down");
      },
    });
    p.task("t", {
      onSuccess: () => {
        hung++;
        return new Promise<void>(() => {}); // never settles
      },
    }, () => "ok");
    const sluice = await start({
      config: defineConfig({ pipelines: [p], notify: { hookTimeout: "100ms" } }),
      db: STORES[store](),
      logger,
    });
    running.push(sluice);
    // More runs than hook slots: hung hooks must not stop the later ones, nor the runs.
    const ended = await Promise.all(Array.from({ length: 8 }, () => runToEnd(sluice, "p")));
    expect(ended.map((r) => r.state)).toEqual(Array(8).fill("success"));
    await until("every hook to be called and settle or time out", () => {
      const s = sluice.notifier!.stats().hooks;
      return s.called + s.timedOut === 16 && s.pending === 0;
    });
    expect([thrown, hung]).toEqual([8, 8]);
    expect(sluice.notifier!.stats().hooks).toMatchObject({ called: 8, failed: 8, timedOut: 8, dropped: 0 });
    expect(logs.some((l) => /hook p onSuccess threw: the alerting service is down/.test(l.msg))).toBe(true);
    expect(logs.some((l) => /hook p\.t onSuccess did not settle within 100 ms; abandoned/.test(l.msg))).toBe(true);
    // And a run after all that still runs.
    expect((await runToEnd(sluice, "p")).state).toBe("success");
  });
});

describe("without hooks or webhooks", () => {
  it("nothing listens: no notifier is attached", async () => {
    const p = pipeline("p");
    p.task("t", () => 1);
    const sluice = await start({ config: defineConfig({ pipelines: [p] }), db: STORES.sqlite(), logger: false });
    try {
      expect(sluice.notifier).toBeUndefined();
      expect(sluice.scheduler.listenerCount("taskEnded")).toBe(0);
    } finally {
      await sluice.stop({ timeout: "1s" });
    }
  });
});
