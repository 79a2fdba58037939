/**
 * Rate limits and bandwidth in one process (`start()` on the embedded store, as `sluice run`):
 * tokens at admission and in task bodies share one budget, `explain` names the limit and its next
 * token, throttled streams share a byte budget, metrics count both, and a task naming an
 * undeclared budget fails with a clear error.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start, type Sluice, type WaitReason } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-rate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const db = () => `file:${join(dir, `rate-${++n}.db`)}`;

/** The largest excess over `burst + window / emission` of any window [t_i, t_j]. */
function worstExcess(times: readonly number[], emissionMs: number, burst: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = -Infinity;
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) worst = Math.max(worst, j - i + 1 - (burst + (sorted[j]! - sorted[i]!) / emissionMs));
  }
  return worst;
}

describe("rate limits and bandwidth in one process", () => {
  const running: Sluice[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop({ timeout: "2s" });
  });

  it("admission and ctx.take draw on one budget; explain says which limit and when its next token comes; metrics count both", async () => {
    const takes: number[] = [];
    const calls = pipeline("calls");
    for (let i = 0; i < 4; i++) {
      calls.task(`call${i}`, { rate: { api: 1 } }, async (ctx) => {
        for (let k = 0; k < 2; k++) takes.push((await ctx.take("api")).at);
      });
    }
    // 5 tokens a second (one every 200 ms), 2 at once: 12 tokens take about 2 s.
    const config = defineConfig({ rateLimits: { api: { limit: 5, per: "1s", burst: 2 } }, pipelines: [calls] });
    const sluice = await start({ config, db: db(), logger: false });
    running.push(sluice);
    const runId = await sluice.trigger("calls");
    let reason: Extract<WaitReason, { kind: "rate" }> | undefined;
    for (let i = 0; i < 100 && !reason; i++) {
      reason = sluice
        .explain(runId)
        .flatMap((e) => e.reasons)
        .find((r): r is Extract<WaitReason, { kind: "rate" }> => r.kind === "rate");
      if (!reason) await new Promise((r) => setTimeout(r, 20));
    }
    expect(reason).toMatchObject({ kind: "rate", name: "api", need: 1, limit: 5, perMs: 1000, burst: 2 });
    expect(reason?.nextTokenAt).toBeGreaterThan(Date.now() - 1000);
    expect((await sluice.waitForRun(runId)).state).toBe("success");

    const started = (await sluice.listAttempts({ runId })).map((a) => a.startedAt);
    expect(takes).toHaveLength(8);
    expect(worstExcess([...started, ...takes], 200, 2)).toBeLessThanOrEqual(1);
    expect(worstExcess(takes, 200, 2)).toBeLessThanOrEqual(1e-6);
    const metrics = await sluice.metrics.metrics();
    expect(metrics).toMatch(/sluice_rate_limit_tokens_total\{limit="api",by="admission"\} 4/);
    expect(metrics).toMatch(/sluice_rate_limit_tokens_total\{limit="api",by="task"\} 8/);
    expect(metrics).toMatch(/sluice_rate_limit_tokens\{limit="api",state="burst"\} 2/);
  }, 20_000);

  it("throttled streams from 4 tasks together stay within 5% of the byte budget, with backpressure on their sources", async () => {
    const seen: Array<{ t: number; bytes: number }> = [];
    let maxAhead = 0;
    let firstStart = Infinity;
    const copies = pipeline("copies");
    for (let i = 0; i < 4; i++) {
      copies.task(`copy${i}`, async (ctx) => {
        let produced = 0;
        let consumed = 0;
        const source = new Readable({
          highWaterMark: 4096,
          read() {
            if (produced >= 50_000) return this.push(null);
            produced += 4096;
            maxAhead = Math.max(maxAhead, produced - consumed);
            this.push(Buffer.alloc(4096, i));
          },
        });
        firstStart = Math.min(firstStart, Date.now());
        for await (const piece of ctx.throttle(source, "disk_io")) {
          consumed += (piece as Buffer).length;
          seen.push({ t: Date.now(), bytes: (piece as Buffer).length });
        }
      });
    }
    // 100 kB/s, 10 kB at once: 4 × ~50 kB take about 2 s.
    const config = defineConfig({ bandwidth: { disk_io: { bytesPerSecond: "100kB", burst: "10kB" } }, pipelines: [copies] });
    const sluice = await start({ config, db: db(), logger: false });
    running.push(sluice);
    expect((await sluice.waitForRun(await sluice.trigger("copies"))).state).toBe("success");
    const total = seen.reduce((s, x) => s + x.bytes, 0);
    expect(total).toBe(4 * 13 * 4096);
    // From the first stream's start to the last byte out: a slow consumer only lowers the figure.
    const last = Math.max(...seen.map((x) => x.t));
    expect(total / (10_000 + ((last - firstStart) / 1000) * 100_000)).toBeLessThanOrEqual(1.05);
    // Backpressure: a source is read only a few chunks ahead of what the budget let through,
    // never all 53 kB at once.
    expect(maxAhead).toBeLessThan(40_000);
    expect(await sluice.metrics.metrics()).toMatch(new RegExp(`sluice_bandwidth_bytes_total\\{bandwidth="disk_io"\\} ${total}`));
  }, 20_000);

  it("ctx.take of an undeclared limit, or more than its burst, fails the attempt with SLUICE_BUDGET and says what to do", async () => {
    const p = pipeline("bad");
    p.task("typo", (ctx) => ctx.take("partner_apl"));
    p.task("greedy", (ctx) => ctx.take("partner_api", 5));
    const config = defineConfig({ rateLimits: { partner_api: { limit: 10, per: "1s", burst: 2 } }, pipelines: [p] });
    const sluice = await start({ config, db: db(), logger: false });
    running.push(sluice);
    const runId = await sluice.trigger("bad");
    expect((await sluice.waitForRun(runId)).state).toBe("failed");
    const errors = Object.fromEntries((await sluice.listAttempts({ runId })).map((a) => [a.task, a.error]));
    expect(errors.typo).toMatchObject({ code: "SLUICE_BUDGET" });
    expect(errors.typo?.message).toMatch(/rate limit "partner_apl" is not declared; declared: "partner_api"/);
    expect(errors.greedy?.message).toMatch(/never holds more than its burst \(2\) tokens/);
  }, 20_000);

  it("a task waiting in ctx.take stops waiting when its run is cancelled", async () => {
    let waiting = false;
    const p = pipeline("slow");
    p.task("waits", async (ctx) => {
      await ctx.take("quota");
      waiting = true;
      await ctx.take("quota"); // the next token is a minute away
    });
    const config = defineConfig({ rateLimits: { quota: { limit: 1, per: "1m", burst: 1 } }, pipelines: [p] });
    const sluice = await start({ config, db: db(), logger: false });
    running.push(sluice);
    const runId = await sluice.trigger("slow");
    for (let i = 0; i < 200 && !waiting; i++) await new Promise((r) => setTimeout(r, 10));
    expect(waiting).toBe(true);
    expect(await sluice.cancel(runId)).toBe(true);
    expect((await sluice.waitForRun(runId)).state).toBe("cancelled");
    // Its function settled (the wait rejected): nothing of it is left running.
    for (let i = 0; i < 100 && (sluice.scheduler.engineView?.drainingAttempts ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sluice.scheduler.engineView?.drainingAttempts).toBe(0);
  }, 20_000);
});
