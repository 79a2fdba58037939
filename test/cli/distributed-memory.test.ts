// Worker memory on PostgreSQL (issue 8): a task runs on one worker, so admission places it on one
// with the memory free. A task larger than every live worker's budget waits with that reason (it
// is not admitted, dispatched and lost); one that fits the queue's sum but no worker's free memory
// now waits in admission, named as such, until a worker has the room. Real processes, the local
// PostgreSQL.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { storeAttempts } from "../support/store.js";
import { waitFor } from "./helpers.js";

const MEMORY = fileURLToPath(new URL("../fixtures/distributed/memory.config.ts", import.meta.url));

// Attempts are read from the store: a `sluice history` process per look cost ~0.4 s of CPU.
const pgBoxes = pgSandboxes("mem");
afterAll(pgBoxes.dispose);

describe("worker memory across worker processes", () => {
  it("a task larger than every worker's budget waits with that reason, and runs when a worker with room joins", async () => {
    const box = await pgBoxes.create();
    // 4 GB on the queue in all, but 2 GB on each worker: a 3 GB task fits neither. The scheduler
    // and both workers start at once (a worker may come before its scheduler).
    const [scheduler, a, b] = await Promise.all([
      box.started(["scheduler", MEMORY, "--lease-ttl", "2s"]),
      box.started(["worker", MEMORY, "--name", "a", "--queue", "gpu", "--memory-mb", "2048", "--lease-ttl", "2s"]),
      box.started(["worker", MEMORY, "--name", "b", "--queue", "gpu", "--memory-mb", "2048", "--lease-ttl", "2s"]),
    ]);
    const runId = (JSON.parse((await box.cli(["trigger", "gpu", "--json"])).stdout) as RunRecord).id;
    const said = await waitFor(async () => {
      const r = await box.cli(["explain", String(runId)]);
      return /largest memory budget/.test(r.stdout) ? r.stdout : undefined;
    }, "explain to name the largest budget", { describe: () => JSON.stringify(box.observations()) });
    expect(said).toMatch(/needs 3072 MB, the largest memory budget of a live worker of queue gpu is 2048 MB/);
    // Well past a lease: never admitted, so never dispatched, lost or retried.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await storeAttempts(box.db)).toEqual([]);
    const big = await box.started(["worker", MEMORY, "--name", "big", "--queue", "gpu", "--memory-mb", "4096", "--lease-ttl", "2s"]);
    const ran = await box.waitForObservation((o) => o.find((x) => x.task === "train"), "train to run on the big worker", 20_000);
    expect(ran.pid).toBe(big.pid);
    const attempts = await waitFor(async () => {
      const h = await storeAttempts(box.db);
      return h.length === 1 && h[0]?.state === "success" ? h : undefined;
    }, "train to succeed");
    expect(attempts.map((x) => [x.attempt, x.workerId])).toEqual([[1, "big"]]);
    for (const p of [a, b, big, scheduler]) p.kill("SIGTERM");
    for (const p of [a, b, big, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 90_000);

  it("a task that fits the queue's free memory but no single worker's waits, says the largest free on a worker, and runs when one has room", async () => {
    const box = await pgBoxes.create();
    const [scheduler, big] = await Promise.all([
      box.started(["scheduler", MEMORY, "--lease-ttl", "2s"]),
      box.started(["worker", MEMORY, "--name", "big", "--queue", "gpu", "--memory-mb", "4096", "--lease-ttl", "2s"]),
    ]);
    expect((await box.cli(["trigger", "hog"])).code).toBe(0);
    const hog = await box.waitForObservation((o) => o.find((x) => x.task === "hold" && x.event === "start"), "hold to start on big");
    expect(hog.pid).toBe(big.pid);
    const small = await box.started(["worker", MEMORY, "--name", "small", "--queue", "gpu", "--memory-mb", "2048", "--lease-ttl", "2s"]);
    // 6 GB on the queue, 2 GB of it used: 4 GB free in all, but 2 GB on each worker. The 3 GB
    // task is not admitted (it used to be, and waited on big, holding its pools).
    const runId = (JSON.parse((await box.cli(["trigger", "gpu", "--json"])).stdout) as RunRecord).id;
    const said = await waitFor(async () => {
      const r = await box.cli(["explain", String(runId)]);
      return /largest free on any worker/.test(r.stdout) ? r.stdout : undefined;
    }, "explain to name the largest free memory on a worker", { describe: () => JSON.stringify(box.observations()) });
    expect(said).toMatch(/needs 3072 MB, the largest free on any worker of queue gpu is 2048 MB \(4096 of 6144 MB free on 2 workers\) — held by hog\.hold/);
    // sluice workers shows the memory in use of each budget.
    const listed = (await box.cli(["workers"])).stdout;
    expect(listed).toMatch(/^\s*big\s+live\s+gpu\s+1\/2\s+2048\/4096 MB\s.*hog\.hold/m);
    expect(listed).toMatch(/^\s*small\s+live\s+gpu\s+0\/2\s+0\/2048 MB\s/m);
    // Three lease TTLs: not admitted, so no attempt to lose.
    await new Promise((r) => setTimeout(r, 6000));
    expect(box.observations().some((o) => o.task === "train")).toBe(false);
    expect((await storeAttempts(box.db)).map((x) => x.task)).toEqual(["hold"]);
    writeFileSync(join(box.dir, "release-hog"), "");
    const ran = await box.waitForObservation((o) => o.find((x) => x.task === "train"), "train to run once hold ends", 20_000);
    expect(ran.pid).toBe(big.pid);
    const attempts = await waitFor(async () => {
      const h = await storeAttempts(box.db);
      return h.length === 2 && h.every((x) => x.state === "success") ? h : undefined;
    }, "both to succeed");
    expect(attempts.filter((x) => x.task === "train").map((x) => [x.attempt, x.state, x.workerId])).toEqual([[1, "success", "big"]]);
    for (const p of [big, small, scheduler]) p.kill("SIGTERM");
    for (const p of [big, small, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
  }, 90_000);
});
