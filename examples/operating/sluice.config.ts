// Day-to-day operation: a nightly pipeline with an SLA and a deadline, on an adaptive pool, whose
// misses and failures reach hooks. Try the verbs on it from another terminal:
//
//   npx sluice run examples/operating/sluice.config.ts --db file:/tmp/operating.db
//   npx sluice pipelines -c examples/operating --db file:/tmp/operating.db
//   npx sluice backfill nightly --from 2026-11-01 --to 2026-11-07 --max-active 2 --wait -c examples/operating --db file:/tmp/operating.db
//   npx sluice pause nightly …   /   npx sluice resume nightly …
//   npx sluice retry <run> --wait …   /   npx sluice mark <run> <task> success …
//   npx sluice logs <run>/report …
import { defineConfig, pipeline } from "sluice";

const nightly = pipeline("nightly", {
  schedule: { cron: "0 2 * * *", timezone: "UTC" },
  deadline: "2h",
  maxActiveRuns: 3,
  onFailure: (n) => console.error(`[hook] ${n.message}`),
  onSlaMiss: (n) => console.error(`[hook] SLA: ${n.message}`),
});
const extract = nightly.task("extract", { pools: { warehouse_db: 1 }, estimate: "2s" }, async (ctx) => {
  ctx.log.info("extracting", { day: ctx.scheduledFor.toISOString().slice(0, 10) });
  await new Promise((r) => setTimeout(r, 300));
  return { rows: 1000 };
});
nightly.task("report", { dependsOn: [extract], sla: "30m", estimate: "1s" }, (ctx) => {
  const { rows } = ctx.upstream.extract as { rows: number };
  ctx.log.info("report built", { rows });
});

export default defineConfig({
  // The warehouse takes what it can: the pool's limit follows the latency of the queries holding it.
  pools: { warehouse_db: { slots: { min: 1, max: 8, adapt: "gradient" } } },
  pipelines: [nightly],
});
