// SLA and deadline misses reach onSlaMiss hooks (task and pipeline) exactly once per late run,
// through a real start(), with the v1 payload.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { defineConfig, pipeline, start, type Notification } from "../../src/index.js";
import { notificationSchema } from "../../src/observe/notify.js";
import { parsePrometheusText, valueOf } from "../support/prom-text.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-sla-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("a late task fires its onSlaMiss and its pipeline's, once each; a run past its deadline fires the pipeline's; an on-time one fires nothing", { timeout: 30_000 }, async () => {
  const taskHook: Notification[] = [];
  const pipelineHook: Notification[] = [];
  const p = pipeline("report", { deadline: "600ms", onSlaMiss: (n) => void pipelineHook.push(n) });
  p.task("slow", { sla: "300ms", onSlaMiss: (n) => void taskHook.push(n) }, async (ctx) => {
    if (ctx.params.fast !== true) await new Promise((r) => setTimeout(r, 1200));
  });
  const sluice = await start({ config: defineConfig({ pipelines: [p] }), db: join(dir, "s.db"), schedules: false, logger: false });
  try {
    const late = await sluice.waitForRun(await sluice.trigger("report"));
    expect(late.state).toBe("success");
    const onTime = await sluice.waitForRun(await sluice.trigger("report", { params: { fast: true } }));
    expect(onTime.state).toBe("success");
    await new Promise((r) => setTimeout(r, 1000));
    expect(taskHook.map((n) => [n.type, n.runId, n.task])).toEqual([["task.sla_missed", late.id, "slow"]]);
    expect(pipelineHook.map((n) => [n.type, n.runId]).sort()).toEqual([
      ["run.deadline_missed", late.id],
      ["task.sla_missed", late.id],
    ]);
    for (const n of [...taskHook, ...pipelineHook]) expect(notificationSchema.parse(n)).toEqual(n);
    expect(taskHook[0]?.message).toContain("report.slow: missed its SLA of 300ms");
    // And a metric: one miss per late task and per late run, none for the on-time run.
    const families = parsePrometheusText(await sluice.metrics.metrics());
    expect(valueOf(families, "sluice_sla_misses_total", { pipeline: "report", task: "slow", kind: "task" })).toBe(1);
    expect(valueOf(families, "sluice_sla_misses_total", { pipeline: "report", task: "", kind: "run" })).toBe(1);
  } finally {
    await sluice.stop();
  }
});
