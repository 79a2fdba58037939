/**
 * Store.apply throughput on the embedded SQLite store: how many task lifecycles per second the
 * store can record, to check the scheduler's target of >= 5,000 no-op tasks/s end to end.
 *
 * Run: npx tsx bench/store-apply.ts [rounds]
 *
 * Method: a fresh WAL file in os.tmpdir() (the production pragmas). Each round creates one run of
 * B tasks (untimed), then records B task lifecycles, timed, in one of two shapes:
 *   split    - one batch of starts (updateTask running + createAttempt holding 2 resources +
 *              appendEvent) then one batch of ends (endAttempt + updateTask success + appendEvent),
 *              as a scheduler flushing after admission and after completions would;
 *   combined - all 6 writes of each lifecycle in a single batch.
 * A task lifecycle is 6 writes. Warm-up rounds are discarded. Figures: tasks/s and writes/s over
 * the timed rounds, and the p50 / p99 duration of one apply call. Then the worker-side calls
 * (renewLease, completeAttempt), one autocommit transaction each. No assertions: figures only.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { StoreWrite } from "../src/store/types.js";

const ROUNDS = Number(process.argv[2] ?? 100);
const WARMUP = 10;
const WRITES_PER_TASK = 6;

interface Ids {
  run: number;
  attempt: number;
}

function createRun(ids: Ids, size: number): StoreWrite {
  const id = ++ids.run;
  const now = Date.now();
  return {
    type: "createRun",
    run: { id, pipeline: "bench", scheduledFor: now, trigger: "manual", params: {}, state: "running", createdAt: now, startedAt: now, endedAt: null },
    tasks: Array.from({ length: size }, (_, i) => ({ runId: id, task: `t${i}`, state: "ready" as const, attempts: 0, lostAttempts: 0, readyAt: now, output: null })),
  };
}

/** The writes `write` makes for each of `size` tasks of a run, attempt ids from `firstAttempt`. */
function perTask(runId: number, firstAttempt: number, size: number, write: (id: number, task: string, now: number) => StoreWrite[]): StoreWrite[] {
  const now = Date.now();
  return Array.from({ length: size }, (_, i) => write(firstAttempt + i, `t${i}`, now)).flat();
}

function starts(runId: number, firstAttempt: number, size: number): StoreWrite[] {
  return perTask(runId, firstAttempt, size, (id, task, now) => [
    { type: "updateTask", runId, task, state: "running", attempts: 1 },
    {
      type: "createAttempt",
      attempt: {
        id, runId, pipeline: "bench", task, attempt: 1, state: "running", fencingToken: id, workerId: "w1",
        queuedAt: now, startedAt: now, endedAt: null, leaseExpiresAt: now + 30_000, error: null, progress: null,
        resources: [{ key: "parallelism", amount: 1 }, { key: "pool:warehouse_db", amount: 1 }], peakMemoryBytes: null,
      },
    },
    { type: "appendEvent", event: { at: now, type: "task.started", level: "info", pipeline: "bench", runId, task, attemptId: id, message: "started", data: { attempt: 1 } } },
  ]);
}

function ends(runId: number, firstAttempt: number, size: number): StoreWrite[] {
  return perTask(runId, firstAttempt, size, (id, task, now) => [
    { type: "endAttempt", id, state: "success", endedAt: now },
    { type: "updateTask", runId, task, state: "success", output: null },
    { type: "appendEvent", event: { at: now, type: "task.succeeded", level: "info", pipeline: "bench", runId, task, attemptId: id, message: "succeeded", data: { durationMs: 0 } } },
  ]);
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function measure(store: SqliteStore, ids: Ids, shape: "split" | "combined", size: number): Promise<string> {
  const applyMs: number[] = [];
  let busyMs = 0;
  let tasks = 0;
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    await store.apply([createRun(ids, size)]);
    const runId = ids.run;
    const first = ids.attempt + 1;
    ids.attempt += size;
    const batches = shape === "split" ? [starts(runId, first, size), ends(runId, first, size)] : [[...starts(runId, first, size), ...ends(runId, first, size)]];
    for (const batch of batches) {
      const t = performance.now();
      await store.apply(batch);
      const ms = performance.now() - t;
      if (round >= WARMUP) {
        applyMs.push(ms);
        busyMs += ms;
      }
    }
    if (round >= WARMUP) tasks += size;
  }
  applyMs.sort((a, b) => a - b);
  const perSec = (n: number): string => Math.round((n / busyMs) * 1000).toLocaleString("en-US").padStart(9);
  return `${shape.padEnd(8)} ${String(size).padStart(4)} tasks/batch: ${perSec(tasks)} tasks/s ${perSec(tasks * WRITES_PER_TASK)} writes/s` +
    `   apply p50 ${quantile(applyMs, 0.5).toFixed(2)} ms, p99 ${quantile(applyMs, 0.99).toFixed(2)} ms`;
}

async function measureLeases(store: SqliteStore, ids: Ids, n: number): Promise<string[]> {
  await store.apply([createRun(ids, n)]);
  const runId = ids.run;
  const first = ids.attempt + 1;
  ids.attempt += n;
  await store.apply(starts(runId, first, n));
  let t = performance.now();
  for (let i = 0; i < n; i++) await store.renewLease(first + i, first + i, Date.now() + 30_000, { pct: 50 });
  const renewMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < n; i++) await store.completeAttempt(first + i, first + i, { state: "success", output: { rows: i } }, Date.now());
  const completeMs = performance.now() - t;
  const rate = (ms: number): string => Math.round((n / ms) * 1000).toLocaleString("en-US");
  return [`renewLease      (1 call = 1 transaction): ${rate(renewMs)} calls/s`, `completeAttempt (1 call = 1 transaction): ${rate(completeMs)} calls/s`];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-"));
  const store = await SqliteStore.open(join(dir, "bench.db"));
  const ids: Ids = { run: 0, attempt: 0 };
  try {
    console.log(`Store.apply on SQLite (WAL, synchronous=NORMAL), file in ${tmpdir()}`);
    console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} x${cpus().length}; ${ROUNDS} timed rounds after ${WARMUP} warm-up, ${WRITES_PER_TASK} writes per task`);
    for (const shape of ["split", "combined"] as const) {
      for (const size of [10, 100, 500]) console.log(await measure(store, ids, shape, size));
    }
    for (const line of await measureLeases(store, ids, 5000)) console.log(line);
    const attempts = (await store.loadActiveState()).maxAttemptId;
    console.log(`(store holds ${attempts.toLocaleString("en-US")} attempts and ${(attempts * 2).toLocaleString("en-US")} events at the end)`);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
