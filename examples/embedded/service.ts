// Sluice inside your own service: start() runs the scheduler and a worker in this process, on a
// store of your choosing; trigger runs, wait for them, listen to events, stop gracefully.
//
//   npx tsx examples/embedded/service.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, pipeline, start } from "sluice";

const orders = pipeline("orders");
const extract = orders.task("extract", { pools: { db: 1 } }, async (ctx) => {
  ctx.log.info("extracting", { day: ctx.params.day });
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { rows: 120 };
});
orders.task("load", { dependsOn: [extract], pools: { db: 1 } }, (ctx) => {
  const { rows } = ctx.upstream.extract as { rows: number };
  return { loaded: rows };
});

const config = defineConfig({ pools: { db: { slots: 2 } }, pipelines: [orders] });

const dir = mkdtempSync(join(tmpdir(), "sluice-embedded-"));
const sluice = await start({ config, db: join(dir, "sluice.db"), logLevel: "warn", schedules: false });
sluice.on("runEnded", (run) => console.log(`run ${run.id} of ${run.pipeline}: ${run.state}`));
process.once("SIGINT", () => void sluice.stop({ timeout: "10s" }));

const runs = await Promise.all(["2026-11-01", "2026-11-02", "2026-11-03"].map((day) => sluice.trigger("orders", { params: { day } })));
for (const id of runs) {
  const run = await sluice.waitForRun(id);
  const tasks = await sluice.listTasks(id);
  console.log(`run ${run.id}: ${run.state}`, tasks.map((t) => `${t.task}=${JSON.stringify(t.output)}`).join(" "));
}
await sluice.stop();
console.log(`store: ${join(dir, "sluice.db")}`);
