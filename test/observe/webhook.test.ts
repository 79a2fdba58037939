/**
 * Webhook targets against a real local HTTP server (node:http): every event delivered once (by
 * id), retried while the server answers 500 or is down and delivered once it is up, while runs go
 * on finishing; the bounded queue drops the oldest, counted and logged; a 4xx is not retried.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start, type Notification, type Sluice } from "../../src/index.js";
import type { ResolvedWebhook } from "../../src/define/resolved.js";
import { notificationSchema } from "../../src/observe/notify.js";
import { WebhookTarget } from "../../src/observe/webhook.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-webhook-"));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(...schemas);
});
let n = 0;
const STORES = {
  sqlite: () => `file:${join(dir, `webhook-${++n}.db`)}`,
  postgres: () => {
    const schema = freshSchema("webhook");
    schemas.push(schema);
    return pgUrl(schema);
  },
};

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A receiver: records every request; `status()` decides each answer. */
class Receiver {
  readonly requests: Array<{ body: Notification; headers: IncomingHttpHeaders }> = [];
  status: () => number = () => 200;
  private server: Server | undefined;
  port = 0;

  async listen(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Notification, headers: req.headers });
        res.statusCode = this.status();
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Distinct notifications received (a retried one arrives more than once, with the same id). */
  get distinct(): Notification[] {
    const byId = new Map(this.requests.map((r) => [r.body.id, r.body]));
    return [...byId.values()];
  }
}

const receivers: Receiver[] = [];
const running: Sluice[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop({ timeout: "1s" });
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(port = 0): Promise<Receiver> {
  const r = new Receiver();
  receivers.push(r);
  await r.listen(port);
  return r;
}

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const r = new Receiver();
  await r.listen();
  const port = r.port;
  await r.close();
  return port;
}

function etl() {
  const p = pipeline("etl");
  const a = p.task("extract", () => 1);
  p.task("load", { dependsOn: [a] }, () => 2);
  const bad = pipeline("bad");
  bad.task("boom", { retries: 1, retryDelay: 10 }, () => {
    throw new Error("boom");
  });
  return [p, bad];
}

/** Trigger and wait; see notify.test.ts for why the row is awaited first. */
async function runToEnd(sluice: Sluice, pipelineId: string) {
  const id = await sluice.trigger(pipelineId);
  await until(`run ${id} to be recorded`, async () => (await sluice.getRun(id)) !== undefined);
  return sluice.waitForRun(id);
}

describe.each(Object.keys(STORES) as Array<keyof typeof STORES>)("a webhook target through start() on %s", (store) => {
  it("receives every notification of its events once (by id), as v1 JSON with the configured headers", async () => {
    const hook = await receiver();
    const sluice = await start({
      config: defineConfig({
        pipelines: etl(),
        notify: { webhooks: [{ url: `http://127.0.0.1:${hook.port}/sluice?token=s3cret`, events: "*", headers: { authorization: "Bearer s3cret" } }] },
      }),
      db: STORES[store](),
      logger: false,
    });
    running.push(sluice);
    const runs = [await runToEnd(sluice, "etl"), await runToEnd(sluice, "bad"), await runToEnd(sluice, "etl")];
    expect(runs.map((r) => r.state)).toEqual(["success", "failed", "success"]);
    const expected = [
      `run.success ${runs[0]!.id} -`,
      `task.success ${runs[0]!.id} extract`,
      `task.success ${runs[0]!.id} load`,
      `task.retry ${runs[1]!.id} boom`,
      `task.failed ${runs[1]!.id} boom`,
      `run.failed ${runs[1]!.id} -`,
      `run.success ${runs[2]!.id} -`,
      `task.success ${runs[2]!.id} extract`,
      `task.success ${runs[2]!.id} load`,
    ].sort();
    await until("every notification", () => hook.requests.length >= expected.length);
    await new Promise((r) => setTimeout(r, 150)); // nothing more comes
    expect(hook.requests.map((r) => `${r.body.type} ${r.body.runId} ${r.body.task ?? "-"}`).sort()).toEqual(expected);
    expect(hook.requests.length).toBe(hook.distinct.length);
    for (const r of hook.requests) {
      expect(() => notificationSchema.parse(r.body)).not.toThrow();
      expect(r.headers).toMatchObject({ "content-type": "application/json", authorization: "Bearer s3cret", "x-sluice-event": r.body.type, "x-sluice-delivery": r.body.id });
    }
    // Every run-level event of the event log was sent.
    const logged = (await sluice.listEvents({ limit: 1000 })).filter((e) => /^(run\.(success|failed)|task\.(retry|failed))$/.test(e.type));
    expect(logged.length).toBe(5);
    expect(sluice.notifier!.stats().webhooks[0]).toMatchObject({ url: `http://127.0.0.1:${hook.port}/sluice`, delivered: expected.length, failed: 0, dropped: 0, pending: 0 });
  });

  it("while the target is down or answers 500, runs keep finishing; once it is up every notification arrives", async () => {
    const port = await closedPort();
    const sluice = await start({
      config: defineConfig({
        pipelines: etl(),
        notify: { webhooks: [{ url: `http://127.0.0.1:${port}/hook`, events: ["run.success", "run.failed"], retryDelay: "20ms", maxRetryDelay: "100ms" }] },
      }),
      db: STORES[store](),
      logger: false,
    });
    running.push(sluice);
    // The scheduler is not held up by the target: ten runs start, run and end while it is down.
    const ended: Array<{ id: number; state: string }> = [];
    for (let i = 0; i < 10; i++) ended.push(await runToEnd(sluice, i === 4 ? "bad" : "etl"));
    expect(ended.filter((r) => r.state === "success")).toHaveLength(9);
    const down = sluice.notifier!.stats().webhooks[0]!;
    expect(down.delivered).toBe(0);
    expect(down.retries).toBeGreaterThan(0);
    expect(down.lastError).toMatch(/request failed/);

    // Up, but failing: 500 for the first three requests.
    const hook = await receiver(port);
    let answered = 0;
    hook.status = () => (++answered <= 3 ? 500 : 200);
    await until("all ten run ends delivered", () => hook.distinct.length === 10 && sluice.notifier!.stats().webhooks[0]!.pending === 0);
    expect(hook.distinct.map((b) => b.runId).sort((a, b) => a! - b!)).toEqual(ended.map((r) => r.id));
    expect(hook.distinct.find((b) => b.runId === ended[4]!.id)?.type).toBe("run.failed");
    // In order: the first one (retried through the 500s) came first.
    expect(hook.requests.slice(0, 3).map((r) => r.body.id)).toEqual([hook.requests[0]!.body.id, hook.requests[0]!.body.id, hook.requests[0]!.body.id]);
    const stats = sluice.notifier!.stats().webhooks[0]!;
    expect(stats).toMatchObject({ delivered: 10, failed: 0, dropped: 0, pending: 0 });
    expect(stats.requests).toBe(stats.delivered + stats.retries);
  });
});

describe("WebhookTarget", () => {
  const base: ResolvedWebhook = { url: "http://127.0.0.1:1/x", events: ["run.success"], pipelines: undefined, headers: {}, timeoutMs: 1000, retryDelayMs: 10, maxRetryDelayMs: 50, maxAgeMs: 60_000, queueSize: 3 };
  const note = (i: number): Notification => ({ version: 1, id: `n${i}`, type: "run.success", at: new Date(0).toISOString(), level: "info", pipeline: "p", runId: i, task: null, attempts: null, scheduledFor: null, message: `run ${i}`, error: null, data: {} });

  it("keeps at most queueSize waiting: the oldest are dropped, counted and logged once per 10 s; the newest are delivered", async () => {
    const logs: Array<{ level: number; msg: string; dropped?: number }> = [];
    const logger = pino({ level: "info" }, { write: (l: string) => void logs.push(JSON.parse(l) as { level: number; msg: string }) });
    let up = false;
    const sent: string[] = [];
    const fakeFetch = (async (_url: string, init: { body: string }) => {
      if (!up) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
      sent.push((JSON.parse(init.body) as Notification).id);
      return new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    const target = new WebhookTarget(base, { logger, fetch: fakeFetch, random: () => 0.5 });
    for (let i = 1; i <= 10; i++) target.enqueue(note(i));
    // n1 is being sent (retried); of n2…n10 only the newest three wait.
    expect(target.stats()).toMatchObject({ dropped: 6, pending: 4 });
    const warnings = logs.filter((l) => /queue full/.test(l.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/queue full \(3 waiting\); dropped the oldest 1 notification/);
    up = true;
    await until("delivery", () => target.stats().pending === 0);
    expect(sent).toEqual(["n1", "n8", "n9", "n10"]);
    expect(target.stats()).toMatchObject({ delivered: 4, dropped: 6, failed: 0 });
    expect(logs.some((l) => /request failed \(ECONNREFUSED\); retrying with backoff/.test(l.msg))).toBe(true);
  });

  it("does not retry a 4xx refusal (other than 408/425/429); does retry 429", async () => {
    const statuses = [429, 400];
    const seen: number[] = [];
    const fakeFetch = (async () => {
      const status = statuses.shift() ?? 200;
      seen.push(status);
      return new Response(null, { status });
    }) as unknown as typeof fetch;
    const target = new WebhookTarget({ ...base, queueSize: 10 }, { logger: pino({ level: "silent" }), fetch: fakeFetch });
    target.enqueue(note(1));
    target.enqueue(note(2));
    await until("both settled", () => target.stats().pending === 0);
    // n1: 429 (retried) then 400 (given up); n2: 200.
    expect(seen).toEqual([429, 400, 200]);
    expect(target.stats()).toMatchObject({ delivered: 1, failed: 1, retries: 1, requests: 3 });
  });

  it("close() delivers what it can until the deadline, then gives up on the rest (counted), without waiting longer", async () => {
    const fakeFetch = (async () => {
      throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    }) as unknown as typeof fetch;
    const target = new WebhookTarget({ ...base, retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }, { logger: pino({ level: "silent" }), fetch: fakeFetch });
    for (let i = 1; i <= 3; i++) target.enqueue(note(i));
    const started = Date.now();
    await target.close(Date.now() + 200);
    // Bounded by the deadline, not by the 60 s backoff.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(target.stats()).toMatchObject({ delivered: 0, failed: 3, pending: 0 });
    target.enqueue(note(4)); // after close: ignored
    expect(target.stats().pending).toBe(0);
  });

  it("stop() with the target down finishes in a process nothing else keeps alive (a retry timer must not let it exit mid-shutdown)", () => {
    const script = fileURLToPath(new URL("../fixtures/notify/stop-while-down.ts", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8", timeout: 30_000 });
    // Exit 13 is Node's "unsettled top-level await": the process ran out of work inside stop().
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stopped \{"delivered":0,"failed":\d+,"pending":0\}$/m);
  });
});
