// The dashboard and HTTP API served from your own code: Sluice inside a service, with `serve()`.
// Two pipelines share a one-slot pool (so one waits, and the why-waiting page names the holder);
// a third ticks every 2 s but runs for 3 s, so the overlap policy skips ticks (marked ⊘ on the
// timeline). Open the printed URL while it runs (60 s), or read the API:
//
//   npx tsx examples/dashboard/run.ts
//   curl -s http://127.0.0.1:7071/api/waiting
//
// (`sluice run` serves the same on port 7070 by default: `npm start`.)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, pipeline, serve, start } from "sluice";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const export_ = pipeline("export", { schedule: { every: "5s" }, overlap: "skip" });
export_.task("extract", { pools: { warehouse: 1 } }, async (ctx) => {
  ctx.log.info("extracting", { rows: 1200 });
  await sleep(2500);
});
export_.task("publish", { dependsOn: ["extract"] }, () => sleep(300));

const refresh = pipeline("refresh", { schedule: { every: "4s" }, overlap: "skip" });
refresh.task("rebuild", { pools: { warehouse: 1 } }, () => sleep(1500));

const ticker = pipeline("ticker", { schedule: { every: "2s" }, overlap: "skip" });
ticker.task("slow", () => sleep(3000));

const config = defineConfig({ pools: { warehouse: { slots: 1 } }, pipelines: [export_, refresh, ticker] });
const sluice = await start({ config, db: join(mkdtempSync(join(tmpdir(), "sluice-dashboard-")), "sluice.db"), logLevel: "error" });
const server = await serve(sluice, { port: Number(process.env.PORT ?? 7071) });
console.log(`dashboard at ${server.url} for 60 s`);

await sleep(60_000);
const waiting = (await (await fetch(`${server.url}/api/waiting`)).json()) as { total: number };
const attempts = (await (await fetch(`${server.url}/api/attempts?since=${Date.now() - 60_000}`)).json()) as unknown[];
console.log(`${attempts.length} attempts in the last minute; ${waiting.total} task(s) waiting now`);
await server.close();
await sluice.stop({ timeout: "5s" });
