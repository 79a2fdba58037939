// Prometheus metrics of a running Sluice: two pipelines share a one-slot pool (so one waits), a
// third fails and retries. Serves sluice.metrics on http://127.0.0.1:9464/metrics (what
// prometheus.yml here scrapes) for 20 seconds and prints the sluice_ lines it serves at the end.
// (`sluice run --metrics-port 9464` serves the same registry.)
//
//   npx tsx examples/metrics/run.ts
//   curl -s http://127.0.0.1:9464/metrics | grep ^sluice_pool
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, pipeline, start } from "sluice";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sales = pipeline("sales", { schedule: { every: "2s" }, overlap: "skip" });
sales.task("extract", { pools: { warehouse: 1 } }, async (ctx) => {
  ctx.log.info("extracting");
  await sleep(1500);
});
const stock = pipeline("stock", { schedule: { every: "3s" } });
stock.task("load", { pools: { warehouse: 1 } }, () => sleep(800));
const flaky = pipeline("flaky", { schedule: { every: "5s" } });
flaky.task("call_api", { retries: 1, retryDelay: "200ms" }, (ctx) => {
  if (ctx.attempt === 1) throw new Error("HTTP 503");
});

const config = defineConfig({ pools: { warehouse: { slots: 1 } }, pipelines: [sales, stock, flaky] });
const dir = mkdtempSync(join(tmpdir(), "sluice-metrics-"));
const sluice = await start({ config, db: join(dir, "sluice.db"), logLevel: "warn" });

const server = createServer((req, res) => {
  if (req.url !== "/metrics") return void res.writeHead(404).end();
  void sluice.metrics.metrics().then((text) => res.writeHead(200, { "content-type": sluice.metrics.contentType }).end(text));
}).listen(9464, "127.0.0.1");
console.log("metrics at http://127.0.0.1:9464/metrics for 20 s");

await sleep(20_000);
const text = await sluice.metrics.metrics();
server.close();
await sluice.stop({ timeout: "5s" });
const wanted = /^sluice_(pool_slots|tasks_waiting|attempts_total|skipped_runs_total|runs_total|task_wait_seconds_count|host_)/;
console.log(text.split("\n").filter((l) => wanted.test(l)).join("\n"));
