/**
 * `sluice scheduler` + `sluice worker` on PostgreSQL, as real processes: tasks run in the worker,
 * hooks and webhooks in the scheduler process (the only one that sees every event), once each.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Notification } from "../../src/index.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { waitFor } from "../cli/helpers.js";

const CONFIG = fileURLToPath(new URL("../fixtures/notify/hooks.config.ts", import.meta.url));
const pgBoxes = pgSandboxes("notifyd");
let server: Server | undefined;
afterAll(async () => {
  await pgBoxes.dispose();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe("notifications with sluice scheduler + sluice worker on PostgreSQL", () => {
  it("hooks run in the scheduler process, never in the worker; the webhook gets every event once", async () => {
    const received: Notification[] = [];
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        received.push(JSON.parse(body) as Notification);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const box = await pgBoxes.create();
    const env = { SLUICE_TEST_WEBHOOK: url };
    const scheduler = await box.started(["scheduler", CONFIG, "--lease-ttl", "5s"], { env, killAfterMs: 60_000 });
    const worker = await box.started(["worker", CONFIG, "--name", "w1", "--lease-ttl", "5s"], { env, killAfterMs: 60_000 });

    // By the definitions the scheduler recorded (no -c: no config to compile).
    const trigger = await box.cli(["trigger", "notified"]);
    expect(trigger.code, trigger.stderr).toBe(0);
    const hooks = await box.waitForObservation((obs) => {
      const h = obs.filter((o) => o.event.startsWith("hook:"));
      return h.length >= 3 ? h : undefined;
    }, "the three hooks");
    await waitFor(() => (received.some((n) => n.type === "run.failed") ? true : undefined), "the webhook's run.failed");
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes

    const tasks = box.observations().filter((o) => o.event === "start");
    expect(tasks.map((o) => o.task).sort()).toEqual(["broken", "work"]);
    expect(new Set(tasks.map((o) => o.pid))).toEqual(new Set([worker.pid]));
    expect(hooks.map((o) => `${o.event} ${String(o.type)}`).sort()).toEqual(["hook:broken.onFailure task.failed", "hook:pipeline.onFailure run.failed", "hook:work.onSuccess task.success"]);
    expect(new Set(hooks.map((o) => o.pid))).toEqual(new Set([scheduler.pid]));
    expect(received.map((n) => `${n.type} ${n.task ?? "-"}`).sort()).toEqual(["run.failed -", "task.failed broken", "task.success work"]);
    expect(received.find((n) => n.type === "task.failed")?.error?.message).toBe("the source table is gone");

    scheduler.kill("SIGTERM");
    worker.kill("SIGTERM");
    expect((await scheduler.exited).code, scheduler.describe()).toBe(0);
    expect((await worker.exited).code, worker.describe()).toBe(0);
  }, 60_000);
});
