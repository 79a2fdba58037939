// A scheduler and two workers on the local PostgreSQL: `npx tsx examples/distributed/run.ts`.
// Two queues: `default` (any worker) and `heavy` (only workers started with --queue heavy, with
// room for the task's declared memory). One pool of 2 connections is shared by both workers: the
// scheduler admits at most two `warehouse` users at once, whichever machine they run on.
import { defineConfig, pipeline } from "sluice";

const nightly = pipeline("nightly", { schedule: { every: "20s" }, overlap: "skip" });
const extract = nightly.task("extract", { pools: { warehouse: 1 } }, async (ctx) => {
  ctx.log.info("extracting", { worker: process.pid });
  await new Promise((r) => setTimeout(r, 800));
  return { rows: 1200 };
});
const load = nightly.task("load", { dependsOn: [extract], pools: { warehouse: 1 } }, async (ctx) => {
  ctx.log.info("loading", { rows: (ctx.upstream.extract as { rows: number }).rows, worker: process.pid });
  await new Promise((r) => setTimeout(r, 600));
});
nightly.task("rebuild_index", { dependsOn: [load], queue: "heavy", memoryMb: 2048 }, async (ctx) => {
  ctx.log.info("rebuilding the search index", { worker: process.pid });
  await new Promise((r) => setTimeout(r, 1500));
});

const reports = pipeline("reports", { schedule: { every: "10s" }, overlap: "skip" });
for (const name of ["sales", "stock", "churn"]) {
  reports.task(name, { pools: { warehouse: 1 } }, async (ctx) => {
    ctx.log.info(`report ${name}`, { worker: process.pid });
    await new Promise((r) => setTimeout(r, 400));
  });
}

export default defineConfig({
  pools: { warehouse: { slots: 2 } },
  worker: { concurrency: 4 },
  pipelines: [nightly, reports],
});
