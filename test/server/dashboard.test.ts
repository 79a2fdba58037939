// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// `sluice run` (issue 10): the page loads with no console errors on every view; a task starting
// appears without a reload; the Trigger button starts a run; the why-waiting panel names the pool
// and its holder; a skipped run is marked on the timeline. It also takes the README's screenshot
// (written to docs/dashboard.png when SLUICE_UPDATE_SCREENSHOT=1).
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disposeSandboxes, fixture, sandbox, type CliProcess, type Sandbox } from "../cli/helpers.js";

const CONFIG = fixture("../dashboard/sluice");
/** Debian's chromium (`.ci/run` installs it); CHROMIUM_PATH elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let box: Sandbox;
let run: CliProcess;
let base: string;
let browser: Browser;
let page: Page;
const errors: string[] = [];

const post = async (path: string, body: unknown = {}) => {
  const res = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return (await res.json()) as { runId: number };
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  box = await sandbox();
  run = box.start(["run", CONFIG, "--port", "0", "--shutdown-timeout", "1s"], { killAfterMs: 180_000 });
  const line = await run.waitForLog((l) => typeof l.url === "string" && l.msg.startsWith("dashboard at "), "the dashboard to listen", 30_000);
  base = line.url as string;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  run?.kill("SIGTERM");
  await run?.exited;
  await disposeSandboxes();
});

describe("the dashboard", () => {
  it("loads every view with no console errors", async () => {
    await page.goto(base + "/");
    await page.getByTestId("pipelines-table").waitFor();
    await expect(page.getByTestId("pipelines-table").textContent()).resolves.toContain("ticking");
    for (const [hash, testid] of [
      ["#/timeline", "timeline-canvas"],
      ["#/pools", "pools-table"],
      ["#/waiting", "why-waiting"],
      ["#/workers", "workers-table"],
    ] as const) {
      await page.goto(base + "/" + hash);
      await page.getByTestId(testid).waitFor();
    }
    await page.getByText("● live").waitFor();
    expect(errors).toEqual([]);
  }, 60_000);

  it("the Trigger button starts a run and opens it", async () => {
    await page.goto(base + "/");
    await page.getByTestId("trigger-quick").click();
    await page.waitForURL(/#\/runs\/\d+$/);
    const id = Number(page.url().split("/").pop());
    await page.getByTestId("dag-node-one").waitFor();
    await page.locator('[data-testid="dag-node-one"][data-state="success"]').waitFor({ timeout: 15_000 });
    const runs = (await (await fetch(`${base}/api/runs?pipeline=quick`)).json()) as Array<{ id: number; trigger: string }>;
    expect(runs.find((r) => r.id === id)?.trigger).toBe("manual");
  }, 30_000);

  it("a failed run's page retries it, and marks its failed task a success", async () => {
    const { runId } = await post("/api/pipelines/quick/trigger", { params: { fail: true } });
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('[data-testid="dag-node-one"][data-state="failed"]').waitFor({ timeout: 15_000 });
    await page.getByTestId("retry-run").click();
    // The same params: the retry fails too, as a second attempt.
    const attempts = async () => ((await (await fetch(`${base}/api/runs/${runId}`)).json()) as { attempts: unknown[] }).attempts.length;
    for (let i = 0; i < 150 && (await attempts()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await attempts()).toBe(2);
    await page.locator('[data-testid="dag-node-one"][data-state="failed"]').waitFor({ timeout: 15_000 });
    await page.getByTestId("mark-one").click();
    await page.locator('[data-testid="dag-node-one"][data-state="success"]').waitFor({ timeout: 15_000 });
    const run = ((await (await fetch(`${base}/api/runs/${runId}`)).json()) as { run: { state: string } }).run;
    expect(run.state).toBe("success");
    expect(errors).toEqual([]);
  }, 60_000);

  it("names the pool and its holder in the why-waiting panel, and shows the waiting task starting without a reload", async () => {
    const hold = await post("/api/pipelines/held/trigger");
    const blocked = await post("/api/pipelines/blocked/trigger");
    await page.goto(`${base}/#/waiting`);
    const entry = page.getByTestId("waiting-blocked.wait");
    await entry.waitFor({ timeout: 20_000 });
    const text = (await entry.textContent()) ?? "";
    expect(text).toMatch(/pool db: needs 1 slot\(s\), 0 of 1 free/);
    expect(text).toContain(`held.hold (run ${hold.runId})`);
    // The holder is a link to its run.
    await expect(entry.locator(`a.holder[href="#/runs/${hold.runId}"]`).count()).resolves.toBe(1);

    // On the blocked run's page, `wait` waits; releasing the holder makes it run and finish, and
    // the page follows over the live stream (no reload: a marker set on the page survives).
    await page.goto(`${base}/#/runs/${blocked.runId}`);
    await page.locator('[data-testid="dag-node-wait"][data-state="ready"]').waitFor({ timeout: 15_000 });
    await expect(page.getByTestId("task-wait").textContent()).resolves.toMatch(/held by held\.hold \(run \d+\)/);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    await page.waitForTimeout(1200); // the server samples waits once a second; let it see this one
    writeFileSync(join(box.dir, `release-${hold.runId}`), "");
    await page.locator('[data-testid="dag-node-wait"][data-state="success"]').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
  }, 60_000);

  it("marks skipped runs on the timeline, and a task starting appears there live", async () => {
    await page.goto(`${base}/#/timeline`);
    // `ticking` runs every second for 2.5 s with overlap "skip".
    await page.getByTestId("skip-mark").first().waitFor({ timeout: 20_000 });
    const title = await page.getByTestId("skip-mark").first().getAttribute("title");
    expect(title).toMatch(/^skipped: ticking at .* — /);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 7));
    const count = async () => Number(((await page.getByTestId("timeline-count").textContent()) ?? "0").replace(/[^\d].*$/, ""));
    const before = await count();
    await post("/api/pipelines/quick/trigger");
    await expect.poll(count, { timeout: 15_000 }).toBeGreaterThan(before);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(7);
  }, 60_000);

  it("takes the README's screenshot", async () => {
    const hold = await post("/api/pipelines/held/trigger");
    await post("/api/pipelines/blocked/trigger");
    await page.goto(`${base}/#/timeline`);
    await page.getByTestId("timeline-window").selectOption({ label: "1 min" });
    await page.getByTestId("skip-mark").first().waitFor({ timeout: 20_000 });
    await page.waitForTimeout(1500);
    const file = process.env.SLUICE_UPDATE_SCREENSHOT === "1" ? join(import.meta.dirname, "../../docs/dashboard.png") : join(box.dir, "dashboard.png");
    const box2 = await page.locator("main section").boundingBox();
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width: 1400, height: Math.ceil((box2?.y ?? 0) + (box2?.height ?? 600) + 16) } });
    expect(statSync(file).size).toBeGreaterThan(10_000);
    writeFileSync(join(box.dir, `release-${hold.runId}`), "");
    expect(errors).toEqual([]);
  }, 60_000);
});
