/**
 * The programmatic API, as a user's service uses it: `start()` from the package entry point, a
 * config object, a store URL; trigger, wait, cancel, read, listen, stop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ConfigError, defineConfig, pipeline, start, type EventRecord, type Sluice } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-api-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const db = () => `file:${join(dir, `api-${++n}.db`)}`;

function config() {
  const etl = pipeline("etl");
  const seen: Array<{ runId: number; params: Record<string, unknown> }> = [];
  const extract = etl.task("extract", { pools: { db: 1 } }, (ctx) => {
    seen.push({ runId: ctx.runId, params: ctx.params });
    return { rows: 3 };
  });
  etl.task("load", { dependsOn: [extract], pools: { db: 1 } }, (ctx) => ctx.upstream.extract);
  const slow = pipeline("slow");
  slow.task("wait", async (ctx) => {
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
  });
  const broken = pipeline("broken");
  broken.task("fail", () => {
    throw new Error("no such table: orders");
  });
  return { seen, config: defineConfig({ pools: { db: { slots: 1 } }, pipelines: [etl, slow, broken] }) };
}

describe("start()", () => {
  const running: Sluice[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop({ timeout: "1s" });
  });

  it("triggers a run, passes params and a numeric run id to the task, and resolves when the run ends", async () => {
    const { seen, config: cfg } = config();
    const sluice = await start({ config: cfg, db: db(), logger: false });
    running.push(sluice);
    const events: EventRecord[] = [];
    sluice.on("event", (e) => events.push(e));
    const runId = await sluice.trigger("etl", { params: { day: "2026-11-01" } });
    expect(typeof runId).toBe("number");
    const run = await sluice.waitForRun(runId);
    expect(run).toMatchObject({ id: runId, pipeline: "etl", state: "success" });
    expect(seen).toEqual([{ runId, params: { day: "2026-11-01" } }]);
    expect((await sluice.listTasks(runId)).map((t) => [t.task, t.state, t.output])).toEqual([
      ["extract", "success", { rows: 3 }],
      ["load", "success", { rows: 3 }],
    ]);
    expect((await sluice.listAttempts({ runId })).map((a) => a.state)).toEqual(["success", "success"]);
    expect(events.map((e) => e.type)).toContain("run.success");
    expect((await sluice.listRuns()).map((r) => r.id)).toEqual([runId]);
  });

  it("gives every attempt of a task instance the same idempotency key (ctx.key)", async () => {
    const p = pipeline("flaky");
    const keys: Array<[number, string]> = [];
    p.task("write", { retries: 2, retryDelay: "10ms" }, (ctx) => {
      keys.push([ctx.attempt, ctx.key]);
      if (ctx.attempt < 3) throw new Error("deadlock detected");
    });
    const sluice = await start({ config: defineConfig({ pipelines: [p] }), db: db(), logger: false });
    running.push(sluice);
    const a = await sluice.trigger("flaky");
    const b = await sluice.trigger("flaky");
    expect((await sluice.waitForRun(a)).state).toBe("success");
    expect((await sluice.waitForRun(b)).state).toBe("success");
    expect(keys.filter(([, k]) => k === `flaky:${a}:write`).map(([n]) => n)).toEqual([1, 2, 3]);
    expect(keys.filter(([, k]) => k === `flaky:${b}:write`).map(([n]) => n)).toEqual([1, 2, 3]);
  });

  it("reports a failed run with the task's error", async () => {
    const sluice = await start({ config: config().config, db: db(), logger: false });
    running.push(sluice);
    const ended: number[] = [];
    sluice.on("runEnded", (r) => ended.push(r.id));
    const run = await sluice.waitForRun(await sluice.trigger("broken"));
    expect(run.state).toBe("failed");
    expect((await sluice.listAttempts({ runId: run.id }))[0]?.error?.message).toBe("no such table: orders");
    expect(ended).toEqual([run.id]);
  });

  it("cancels a running run: the task's signal fires and the run ends cancelled", async () => {
    const sluice = await start({ config: config().config, db: db(), logger: false });
    running.push(sluice);
    const runId = await sluice.trigger("slow");
    while (sluice.running === 0) await new Promise((r) => setTimeout(r, 5));
    expect(sluice.explain(runId).map((e) => [e.task, e.state])).toEqual([["wait", "running"]]);
    expect(await sluice.cancel(runId)).toBe(true);
    expect((await sluice.waitForRun(runId)).state).toBe("cancelled");
    expect(await sluice.cancel(runId)).toBe(false);
  });

  it("explains a waiting task with the holder of the pool", async () => {
    const etl = pipeline("etl");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    etl.task("hold", { pools: { db: 1 } }, () => gate);
    const other = pipeline("other");
    other.task("wait", { pools: { db: 1 } }, () => undefined);
    const sluice = await start({ config: defineConfig({ pools: { db: { slots: 1 } }, pipelines: [etl, other] }), db: db(), logger: false });
    running.push(sluice);
    const holder = await sluice.trigger("etl");
    while (sluice.running === 0) await new Promise((r) => setTimeout(r, 5));
    const waiter = await sluice.trigger("other");
    await new Promise((r) => setTimeout(r, 50));
    const [why] = sluice.explain(waiter);
    expect(why?.reasons).toContainEqual(expect.objectContaining({ kind: "pool", name: "db", need: 1, free: 0, holders: [expect.objectContaining({ pipeline: "etl", task: "hold", run: holder })] }));
    expect(sluice.usage().find((u) => u.name === "db")).toMatchObject({ capacity: 1, used: 1, waiting: 1 });
    release();
    expect((await sluice.waitForRun(waiter)).state).toBe("success");
  });

  it("refuses an invalid config with every problem listed", async () => {
    const p = pipeline("etl");
    p.task("a", { pools: { nope: 1 } }, () => undefined);
    const err = await start({ config: defineConfig({ parallelism: 0, pipelines: [p] }), db: db(), logger: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((x) => x.path)).toEqual(expect.arrayContaining(["parallelism", "pipelines.etl.tasks.a.pools.nope"]));
  });

  it("refuses a second Sluice on the same store, and stop() is idempotent and refuses new work", async () => {
    const url = db();
    const first = await start({ config: config().config, db: url, logger: false });
    await expect(start({ config: config().config, db: url, logger: false })).rejects.toMatchObject({ code: "SLUICE_SCHEDULER_BUSY" });
    const stopped: string[] = [];
    first.on("stopped", () => stopped.push("stopped"));
    await Promise.all([first.stop(), first.stop()]);
    await first.stopped;
    expect(stopped).toEqual(["stopped"]);
    expect(() => first.trigger("etl")).toThrow(/stopping or stopped/);
    // The store is free again.
    const second = await start({ config: config().config, db: url, logger: false });
    running.push(second);
    expect((await second.waitForRun(await second.trigger("etl"))).state).toBe("success");
  });
});
