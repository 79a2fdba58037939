// The pipelines bench/distributed.ts drives: `noop` (1,000 independent no-op tasks: 20 runs =
// 20,000 tasks), `pooled` (the same on a 4-slot pool, with priorities), `one` (a single task, for
// latency: it reports the moment it starts to the bench over IPC).
import { defineConfig, pipeline } from "sluice";

const noop = pipeline("noop", { maxActiveRuns: 100, overlap: "allow" });
for (let i = 0; i < 1000; i++) noop.task(`t${i}`, () => undefined);

const pooled = pipeline("pooled", { maxActiveRuns: 100, overlap: "allow" });
for (let i = 0; i < 1000; i++) pooled.task(`t${i}`, { pools: { db: 1 }, priority: i % 10 }, () => undefined);

const one = pipeline("one", { maxActiveRuns: 1000, overlap: "allow" });
one.task("ping", (ctx) => {
  process.send?.({ started: Date.now(), id: ctx.params.id });
});

export default defineConfig({
  pools: { db: { slots: 4 } },
  parallelism: 2048,
  worker: { concurrency: Number(process.env.BENCH_CONCURRENCY ?? 16) },
  pipelines: [noop, pooled, one],
});
