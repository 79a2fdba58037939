/**
 * `sluice worker --metrics-port 0` (a real child process, with `sluice scheduler`, on
 * PostgreSQL) serves the metrics of attachWorkerMetrics: its slots, and the attempts it ran by
 * outcome, equal to what the store recorded for that worker.
 */
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../cli/helpers.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { parsePrometheusText, valueOf } from "../support/prom-text.js";
import { storeAttempts, storeRuns } from "../support/store.js";

const ROUTING = fileURLToPath(new URL("../fixtures/distributed/routing.config.ts", import.meta.url));
const pgBoxes = pgSandboxes("wmetrics");
afterAll(pgBoxes.dispose);

describe("sluice worker metrics", () => {
  it("serves its slots and the attempts it ran, matching the store", async () => {
    const box = await pgBoxes.create();
    const env = { SLUICE_TEST_LONG_MS: "100" };
    const scheduler = await box.started(["scheduler", ROUTING], { env, killAfterMs: 60_000 });
    const worker = box.start(["worker", ROUTING, "--name", "w1", "--metrics-port", "0"], { env, killAfterMs: 60_000 });
    const served = await worker.waitForLog((l) => typeof l.metricsPort === "number", "the worker's metrics port");
    await worker.waitForLog((l) => l.msg === "sluice worker started", "sluice worker to start");
    const url = `http://127.0.0.1:${String(served.metricsPort)}/metrics`;

    // By the definitions the scheduler recorded (no -c: no config to compile per command).
    for (let i = 0; i < 3; i++) expect((await box.cli(["trigger", "slow"])).code).toBe(0);
    await waitFor(
      async () => {
        const runs = await storeRuns(box.db);
        return runs.length === 3 && runs.every((r) => r.state === "success") ? runs : undefined;
      },
      "3 runs of slow to succeed",
      { timeoutMs: 40_000, intervalMs: 300 },
    );
    const attempts = await storeAttempts(box.db);
    // The worker frees a slot just after its result is recorded, which the store shows first.
    const res = await waitFor(async () => {
      const r = await fetch(url);
      const body = await r.clone().text();
      return r.status !== 200 || valueOf(parsePrometheusText(body), "sluice_worker_slots", { state: "used" }) === 0 ? r : undefined;
    }, "the worker's slots to be free");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const families = parsePrometheusText(await res.text());
    expect(valueOf(families, "sluice_worker_slots", { state: "capacity" })).toBe(2);
    expect(valueOf(families, "sluice_worker_slots", { state: "used" })).toBe(0);
    const mine = attempts.filter((a) => a.workerId === "w1" && a.state === "success");
    expect(mine).toHaveLength(3);
    expect(valueOf(families, "sluice_worker_attempts_total", { pipeline: "slow", outcome: "success" })).toBe(mine.length);
    expect(valueOf(families, "sluice_worker_task_duration_seconds_count", { pipeline: "slow", outcome: "success" })).toBe(3);
    expect(valueOf(families, "sluice_host_memory_bytes", { state: "total" })).toBeGreaterThan(0);
    expect((await fetch(url.replace("/metrics", "/nope"))).status).toBe(404);
    worker.kill("SIGTERM");
    scheduler.kill("SIGTERM");
  }, 60_000);
});
