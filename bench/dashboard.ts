// The dashboard with 10,000 attempts on screen: how long the API takes to answer the timeline's
// query, and how long chromium takes from navigation to a drawn timeline, then to redraw it when
// the window changes. Runs 10,000 no-op tasks through start() (SQLite), serves them with serve(),
// (its built files: `npm run bench` builds first) and drives Debian's chromium with playwright-core (CHROMIUM_PATH to use another).
//
//   npx tsx bench/dashboard.ts
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { chromium } from "playwright-core";
import { defineConfig, pipeline, serve, start } from "../src/index.js";
import { machine, recordSection } from "./report.js";

const TASKS = 100;
const RUNS = 100;
const dir = mkdtempSync(join(tmpdir(), "sluice-bench-dashboard-"));
const wide = pipeline("wide");
// Ten task names, so the timeline has rows enough to read, each with 1,000 bars.
for (let i = 0; i < TASKS; i++) wide.task(`t${i % 10}_${i}`, () => undefined);
const config = defineConfig({ parallelism: 64, worker: { concurrency: 64 }, pipelines: [wide] });
const sluice = await start({ config, db: join(dir, "s.db"), schedules: false, logger: false });
let remaining = RUNS;
const done = new Promise<void>((resolve) => sluice.on("runEnded", () => --remaining === 0 && resolve()));
for (let i = 0; i < RUNS; i++) await sluice.trigger("wide");
await done;
const server = await serve(sluice, { port: 0 });

// The API: the timeline's query for the last 15 minutes (every attempt), five times.
const apiMs: number[] = [];
let count = 0;
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const list = (await (await fetch(`${server.url}/api/attempts?since=${Date.now() - 15 * 60_000}&limit=20000`)).json()) as unknown[];
  apiMs.push(performance.now() - t0);
  count = list.length;
}
if (count !== TASKS * RUNS) throw new Error(`expected ${TASKS * RUNS} attempts, the API answered ${count}`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const loads: number[] = [];
/** Until the timeline says it shows every attempt (fetched, parsed, drawn). */
async function waitForAll(): Promise<void> {
  const want = `${(TASKS * RUNS).toLocaleString("en-US")} attempt`;
  const end = Date.now() + 60_000;
  for (;;) {
    const text = await page.getByTestId("timeline-count").textContent({ timeout: 60_000 });
    if (text?.startsWith(want)) return;
    if (Date.now() > end) throw new Error(`the timeline says ${JSON.stringify(text)}, not ${want}…`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
for (let i = 0; i < 3; i++) {
  await page.goto("about:blank");
  const t0 = performance.now();
  await page.goto(`${server.url}/#/timeline`);
  await waitForAll();
  loads.push(performance.now() - t0);
}
// Drawing alone, measured in the page: one frame after a resize redraws every bar.
const drawMs = (await page.evaluate(`(async () => {
  const t = performance.now();
  window.dispatchEvent(new Event("resize"));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
})()`)) as number;
await browser.close();
await server.close();
await sluice.stop({ timeout: "5s" });
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()} (load average ${loadavg()[0]?.toFixed(2)} at the end).

Method: ${(TASKS * RUNS).toLocaleString("en-US")} no-op attempts (${RUNS} runs of a ${TASKS}-task pipeline) run through
\`start()\` on SQLite, then served by \`serve()\`. API: \`GET /api/attempts?since=<15 min ago>&limit=20000\`
(what the timeline asks for), median of 5. Page: chromium (headless, playwright-core) from
navigation to the timeline saying it shows all ${(TASKS * RUNS).toLocaleString("en-US")} attempts (fetch, JSON parse, canvas drawn),
median of 3 (each from about:blank); then the frame after a resize, which redraws every bar.

| measure | result |
|---|---|
| API answer, ${(TASKS * RUNS).toLocaleString("en-US")} attempts | ${median(apiMs).toFixed(0)} ms |
| page load to drawn timeline | ${median(loads).toFixed(0)} ms |
| one redraw frame after a resize | ${drawMs.toFixed(0)} ms |
`;
process.stdout.write(`${body}\n`);
recordSection("## Dashboard (bench/dashboard.ts)", body);
