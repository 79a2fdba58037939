/**
 * `/metrics` of a real `start()` run, on SQLite and on PostgreSQL: the registry's text parses
 * strictly as Prometheus text format, counters match what the store recorded, gauges match the
 * scheduler's live state, and no label value looks like a run or attempt id.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start, type Sluice } from "../../src/index.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";
import { parsePrometheusText, valueOf, type Family } from "../support/prom-text.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-metrics-"));
const schema = freshSchema("metrics");
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schema);
});

/** A pipeline whose tasks share a one-slot pool (one waits on the other), one that fails, one held open. */
function config(gate: Promise<void>) {
  const etl = pipeline("etl");
  const a = etl.task("a", { pools: { warehouse: 1 } }, async () => {
    await new Promise((r) => setTimeout(r, 50));
    return 1;
  });
  etl.task("b", { pools: { warehouse: 1 } }, async () => 2);
  etl.task("c", { dependsOn: [a] }, () => 3);
  const broken = pipeline("broken");
  broken.task("fail", { retries: 1, retryDelay: "10ms" }, () => {
    throw new Error("no such table: orders");
  });
  const held = pipeline("held");
  held.task("hold", { pools: { warehouse: 1 } }, () => gate);
  return defineConfig({ pools: { warehouse: { slots: 1 } }, pipelines: [etl, broken, held] });
}

async function scrape(sluice: Sluice): Promise<Map<string, Family>> {
  return parsePrometheusText(await sluice.metrics.metrics());
}

function sum(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of families.values()) for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  return total;
}

async function exercise(db: string): Promise<void> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const sluice = await start({ config: config(gate), db, logger: false, schedules: false });
  try {
    const etl = await sluice.waitForRun(await sluice.trigger("etl"));
    const broken = await sluice.waitForRun(await sluice.trigger("broken"));
    expect([etl.state, broken.state]).toEqual(["success", "failed"]);

    // The held task keeps the warehouse slot; etl's pooled tasks wait behind it.
    const heldRun = await sluice.trigger("held");
    await waitUntil(async () => sluice.running === 1);
    const waiting = await sluice.trigger("etl");
    await waitUntil(async () => (sluice.usage().find((u) => u.key === "pool:warehouse")?.waiting ?? 0) >= 1);

    const live = await scrape(sluice);
    const pool = sluice.usage().find((u) => u.key === "pool:warehouse");
    expect(pool).toBeDefined();
    const holders = pool?.holders.length ?? -1;
    expect(valueOf(live, "sluice_pool_slots", { pool: "warehouse", state: "used" })).toBe(holders);
    expect(holders).toBe(1);
    expect(valueOf(live, "sluice_pool_slots", { pool: "warehouse", state: "capacity" })).toBe(1);
    expect(valueOf(live, "sluice_tasks_waiting", { pool: "warehouse" })).toBe(pool?.waiting);
    expect(sum(live, "sluice_tasks_waiting_by_reason")).toBe(pool?.waiting);
    expect(valueOf(live, "sluice_attempts_running")).toBe(1);

    open();
    await sluice.waitForRun(heldRun);
    await sluice.waitForRun(waiting);

    const after = await scrape(sluice);
    const stored = await sluice.listAttempts({ limit: 1000 });
    for (const outcome of ["success", "failed"]) {
      for (const p of ["etl", "broken", "held"]) {
        const n = stored.filter((a) => a.pipeline === p && a.state === outcome).length;
        expect(valueOf(after, "sluice_attempts_total", { pipeline: p, outcome }), `${p} ${outcome}`).toBe(n);
      }
    }
    expect(sum(after, "sluice_attempts_total")).toBe(stored.length);
    expect(sum(after, "sluice_task_duration_seconds_count")).toBe(stored.length);
    expect(sum(after, "sluice_task_wait_seconds_count")).toBe(stored.length);
    expect(sum(after, "sluice_attempt_peak_memory_bytes_count")).toBe(stored.length);
    expect(valueOf(after, "sluice_attempt_peak_memory_bytes_sum")).toBeGreaterThan(0);
    const runs = await sluice.listRuns();
    expect(valueOf(after, "sluice_runs_total", { pipeline: "etl", state: "success" })).toBe(runs.filter((r) => r.pipeline === "etl" && r.state === "success").length);
    expect(valueOf(after, "sluice_runs_total", { pipeline: "broken", state: "failed" })).toBe(1);
    expect(sum(after, "sluice_run_duration_seconds_count")).toBe(runs.length);
    expect(valueOf(after, "sluice_store_batch_duration_seconds_count")).toBeGreaterThan(0);
    expect(valueOf(after, "sluice_scheduler_turn_duration_seconds_count")).toBeGreaterThan(0);
    expect(valueOf(after, "sluice_pool_slots", { pool: "warehouse", state: "used" })).toBe(0);
    expect(valueOf(after, "sluice_host_memory_bytes", { state: "total" })).toBeGreaterThan(0);
    const cpu = valueOf(after, "sluice_host_cpu_ratio", { mode: "busy" });
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThanOrEqual(1);

    // Every metric is ours, and bounded: labels come from a closed set of names (never an id),
    // and no label value is a run or attempt id. (Node's own metrics, under sluice_nodejs_ and
    // sluice_process_, carry version and heap-space labels.)
    const ids = new Set([...runs.map((r) => String(r.id)), ...stored.map((a) => String(a.id))]);
    const allowed = new Set(["pipeline", "pool", "queue", "state", "reason", "outcome", "mode"]);
    for (const f of after.values()) {
      expect(f.name.startsWith("sluice_")).toBe(true);
      expect(f.help.length).toBeGreaterThan(0);
      if (f.name.startsWith("sluice_nodejs_") || f.name.startsWith("sluice_process_")) continue;
      for (const s of f.samples) {
        for (const [k, v] of Object.entries(s.labels)) {
          if (k === "le") continue;
          expect(allowed.has(k), `${s.name} label ${k}`).toBe(true);
          expect(ids.has(v) || /^\d+$/.test(v), `${s.name}{${k}="${v}"}`).toBe(false);
        }
      }
    }
  } finally {
    open();
    await sluice.stop({ timeout: "2s" });
  }
}

async function waitUntil(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("sluice.metrics during a real run", () => {
  it("on SQLite: values match the store and the live pools", async () => {
    await exercise(`file:${join(dir, "metrics.db")}`);
  });

  it("on PostgreSQL: values match the store and the live pools", async () => {
    await exercise(pgUrl(schema));
  }, 60_000);

  it("skipped and buffered runs per pipeline match the event log and the store", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const skip = pipeline("ticks", { schedule: { every: "1s" }, overlap: "skip" });
    skip.task("hold", () => gate);
    const buffer = pipeline("buffered", { schedule: { every: "1s" }, overlap: "bufferAll", maxActiveRuns: 1 });
    buffer.task("hold", () => gate);
    const sluice = await start({ config: defineConfig({ pipelines: [skip, buffer] }), db: `file:${join(dir, "skips.db")}`, logger: false });
    try {
      await waitUntil(async () => (await sluice.listEvents({ types: ["run.skipped"] })).length >= 1 && (await sluice.listRuns({ pipeline: "buffered" })).some((r) => r.state === "queued"), 20_000);
      // A tick may land between the scrape and the reads: read the store before and after, and
      // compare only when nothing changed in between.
      const counts = async () => ({
        skipped: (await sluice.listEvents({ types: ["run.skipped"], pipeline: "ticks" })).length,
        queued: (await sluice.listRuns({ pipeline: "buffered" })).filter((r) => r.state === "queued").length,
      });
      for (;;) {
        const before = await counts();
        const families = await scrape(sluice);
        const after = await counts();
        if (before.skipped !== after.skipped || before.queued !== after.queued) continue;
        expect(valueOf(families, "sluice_skipped_runs_total", { pipeline: "ticks" })).toBe(after.skipped);
        expect(valueOf(families, "sluice_skipped_runs_total", { pipeline: "buffered" })).toBe(0);
        expect(valueOf(families, "sluice_buffered_runs_total", { pipeline: "buffered" })).toBe(after.queued);
        expect(valueOf(families, "sluice_runs_active", { pipeline: "buffered", state: "queued" })).toBe(after.queued);
        break;
      }
    } finally {
      open();
      await sluice.stop({ timeout: "1s" });
    }
  }, 30_000);

  it("two Sluices in one process have separate registries", async () => {
    const a = await start({ config: config(Promise.resolve()), db: `file:${join(dir, "a.db")}`, logger: false, schedules: false });
    const b = await start({ config: config(Promise.resolve()), db: `file:${join(dir, "b.db")}`, logger: false, schedules: false });
    try {
      await a.waitForRun(await a.trigger("etl"));
      expect(sum(await scrape(a), "sluice_attempts_total")).toBe(3);
      expect(sum(await scrape(b), "sluice_attempts_total")).toBe(0);
    } finally {
      await a.stop({ timeout: "1s" });
      await b.stop({ timeout: "1s" });
    }
  });
});
