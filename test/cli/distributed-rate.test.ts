// Rate limits and bandwidth budgets across worker processes on PostgreSQL (issue 11): one budget
// for the installation — the scheduler's admission and three `sluice worker` processes draw on
// the same token buckets (store migration 0008), never one budget per worker. Real processes.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { TEST_DATABASE_URL } from "../support/pg.js";
import { pgSandboxes, type PgSandbox } from "../support/pg-sandbox.js";
import { waitFor, type CliOptions, type CliProcess } from "./helpers.js";
import { fileURLToPath } from "node:url";
import { BODY_TAKES, CALL_TASKS, COPY_BYTES, COPY_TASKS } from "../fixtures/distributed/rate.config.js";

const RATE = fileURLToPath(new URL("../fixtures/distributed/rate.config.ts", import.meta.url));
/** partner_api: 10 per 2 s, burst 3. */
const EMISSION_MS = 200;
const BURST = 3;
/** disk_io: 200 kB/s, burst 20 kB. */
const BYTES_PER_SECOND = 200_000;
const BYTE_BURST = 20_000;

const pgBoxes = pgSandboxes("rate");
/** Reads the store's tables directly: polling through the CLI costs a process (~1–2 s here) per look. */
const db = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
afterAll(async () => {
  await db.end();
  await pgBoxes.dispose();
});

async function runState(schema: string, runId: number): Promise<string | undefined> {
  return (await db.query<{ state: string }>(`SELECT state FROM "${schema}".runs WHERE id = $1`, [runId])).rows[0]?.state;
}

/** Generous: four processes start at once on a shared 2-core machine. */
const started = (box: PgSandbox, args: string[], options: CliOptions = {}): Promise<CliProcess> => box.started(args, options, 45_000);

/** The largest excess over `burst + window / emission` of any window [t_i, t_j] of the grants. */
function worstExcess(grants: ReadonlyArray<{ at: number; n: number }>, emissionMs: number, burst: number): { excess: number; window: string } {
  const sorted = [...grants].sort((x, y) => x.at - y.at);
  let worst = { excess: -Infinity, window: "" };
  for (let i = 0; i < sorted.length; i++) {
    let sum = 0;
    for (let j = i; j < sorted.length; j++) {
      sum += sorted[j]!.n;
      const excess = sum - (burst + (sorted[j]!.at - sorted[i]!.at) / emissionMs);
      if (excess > worst.excess) worst = { excess, window: `${sum} tokens in ${sorted[j]!.at - sorted[i]!.at} ms` };
    }
  }
  return worst;
}

describe("rate limits and bandwidth across 1 scheduler + 3 worker processes on PostgreSQL", () => {
  let box: PgSandbox;
  let procs: CliProcess[] = [];

  it("starts", async () => {
    // Not migrated: all four start at once, and each migrates the schema under an advisory lock (the others wait).
    box = await pgBoxes.create({ migrate: false });
    const [scheduler, ...workers] = await Promise.all([
      started(box, ["scheduler", RATE], { killAfterMs: 120_000 }),
      ...[1, 2, 3].map((n) => started(box, ["worker", RATE, "--name", `w${n}`, "--concurrency", "2"], { killAfterMs: 120_000 })),
    ]);
    procs = [scheduler!, ...workers];
  }, 60_000);

  it("one shared token budget: admission (`rate`) and `ctx.take` in three workers stay within one token of it in every window; explain names a limit and its next token", async () => {
    // Triggers go by the definitions the scheduler recorded (no -c: no config to compile per command).
    const [q, t] = await Promise.all([box.cli(["trigger", "quota", "--json"]), box.cli(["trigger", "calls", "--json"])]);
    expect(q.code, q.stderr).toBe(0);
    const quotaRun = (JSON.parse(q.stdout) as RunRecord).id;
    expect(t.code, t.stderr).toBe(0);
    const runId = (JSON.parse(t.stdout) as RunRecord).id;
    // A task waiting for a token: explain (another process, reading the store's bucket, by the
    // recorded definitions) names
    // the limit and roughly when its next token comes.
    const explained = await waitFor(async () => {
      const text = await box.cli(["explain", String(quotaRun)]);
      return /rate limit quota: needs 1 token\(s\), 0 available \(1 per 1m, burst 1\); next token in ~\d+s/.test(text.stdout) ? text.stdout : undefined;
    }, "explain to show a quota task waiting for its token", { timeoutMs: 30_000, intervalMs: 100 });
    expect(explained).toMatch(/q\d: ready/);
    const cancelling = box.cli(["cancel", String(quotaRun)]);
    await waitFor(async () => ((await runState(box.schema, runId)) === "success" ? true : undefined), "the calls run to succeed", { timeoutMs: 40_000, intervalMs: 100 });

    const cancelled = await cancelling;
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const obs = box.observations().filter((o) => o.run === runId);
    const takes = obs.filter((o) => o.event === "take").map((o) => ({ at: o.at as number, n: 1 }));
    expect(takes).toHaveLength(CALL_TASKS * BODY_TAKES);
    // Every worker took part: one budget per worker would have let three times as much through.
    expect(new Set(obs.filter((o) => o.event === "start").map((o) => o.pid)).size).toBeGreaterThanOrEqual(2);
    // Admission's tokens count at the attempt's start, recorded by the scheduler just before its
    // take (a few ms early at most): in-body takes are on the database's clock.
    const attempts = (await db.query<{ started_at: string }>(`SELECT started_at FROM "${box.schema}".attempts WHERE run_id = $1 AND state = 'success'`, [runId])).rows;
    expect(attempts).toHaveLength(CALL_TASKS);
    const admitted = attempts.map((a) => ({ at: Number(a.started_at), n: 1 }));
    const all = [...admitted, ...takes];
    const { excess, window } = worstExcess(all, EMISSION_MS, BURST);
    const span = Math.max(...all.map((g) => g.at)) - Math.min(...all.map((g) => g.at));
    console.log(`rate: ${all.length} tokens over ${span} ms (budget ${BURST} + ${(span / EMISSION_MS).toFixed(1)}); worst window ${window}, excess ${excess.toFixed(2)} token(s)`);
    expect(excess, window).toBeLessThanOrEqual(1);
    // The in-body takes alone are exact decisions of the shared bucket: never over at all.
    expect(worstExcess(takes, EMISSION_MS, BURST).excess).toBeLessThanOrEqual(1e-6);
  }, 60_000);

  it("throttled streams from 4 tasks on 3 workers together stay within 5% of the byte budget", async () => {
    const t = await box.cli(["trigger", "copies", "--json"]);
    expect(t.code, t.stderr).toBe(0);
    const runId = (JSON.parse(t.stdout) as RunRecord).id;
    await waitFor(async () => ((await runState(box.schema, runId)) === "success" ? true : undefined), "the copies run to succeed", { timeoutMs: 40_000, intervalMs: 100 });
    const bytes = box.observations().filter((o) => o.run === runId && o.event === "bytes");
    const total = bytes.reduce((s, o) => s + (o.bytes as number), 0);
    expect(total).toBe(COPY_TASKS * COPY_BYTES);
    expect(new Set(bytes.map((o) => o.pid)).size).toBeGreaterThanOrEqual(2);
    // From the first stream's start (before any byte was asked for) to the last byte out: both
    // ends err on the long side, so a slow consumer can only make the figure look lower.
    const first = Math.min(...box.observations().filter((o) => o.run === runId && o.event === "stream").map((o) => o.t));
    const last = Math.max(...bytes.map((o) => o.t));
    const allowed = BYTE_BURST + ((last - first) / 1000) * BYTES_PER_SECOND;
    const ratio = total / allowed;
    console.log(`bandwidth: ${total} bytes over ${last - first} ms from ${new Set(bytes.map((o) => o.pid)).size} processes: ${(total / ((last - first) / 1000) / 1000).toFixed(1)} kB/s against 200 kB/s; ${(ratio * 100).toFixed(1)}% of what the budget allowed`);
    expect(ratio).toBeLessThanOrEqual(1.05);
  }, 60_000);

  it("stops", async () => {
    for (const p of procs) p.kill("SIGTERM");
    for (const p of procs) expect((await p.exited).code, p.describe()).toBe(0);
  }, 30_000);
});
