// Sluice on PostgreSQL with worker processes, side by side with graphile-worker and pg-boss on the
// same PostgreSQL and BullMQ on the local Redis: the same number of worker processes and the same
// concurrency, each peer at its best documented settings (bench/distributed/peer-worker.mjs).
//   (a) no-op tasks per second draining 20,000 queued;
//   (b) enqueue-to-start latency on an idle system, p50/p99;
//   (c) Sluice's (a) with every task on a 4-slot pool, with priorities (the peers cannot express it);
//   (d) Sluice's (a) with 1,000,000 finished attempts in the store.
//
//   npx tsx bench/distributed.ts      (after npm run build; records its section in BENCHMARKS.md)
//   npx tsx bench/distributed.ts sluice-a | sluice-b | sluice-d | sluice
//                                     Sluice alone, nothing recorded: (a) with its CPU and rows per task,
//                                     (b) on fresh processes, (d) with its cost, or (a)–(d); BENCH_PROF=dir
//                                     writes CPU profiles of the scheduler and the workers.
//   npx tsx bench/distributed.ts graphile
//                                     graphile-worker alone, (a) and (b), nothing recorded.
//   npx tsx bench/distributed.ts latency
//                                     (b) only, Sluice and graphile-worker in turns, three rounds each.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { cpuSecondsByRole, machine, recordSection } from "./report.js";

const PG = process.env.SLUICE_BENCH_DATABASE_URL ?? process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS = process.env.SLUICE_BENCH_REDIS_URL ?? process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const PROCS = 2;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Sluice workers' `--prefetch`, as graphile-worker's `localQueue.size` below. */
const PREFETCH = Number(process.env.BENCH_PREFETCH ?? 500);
const JOBS = 20_000;
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const BIN = fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
const CONFIG = fileURLToPath(new URL("./distributed/sluice.config.ts", import.meta.url));
const PEER = fileURLToPath(new URL("./distributed/peer-worker.mjs", import.meta.url));
const SCHEMA = "bench_sluice";
const sluiceUrl = (() => {
  const u = new URL(PG);
  u.searchParams.set("schema", SCHEMA);
  return u.toString();
})();

const sql = async <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> => {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
};

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 600_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Starts marked by id, as the workers report them over IPC. */
class Starts {
  private readonly waiting = new Map<number, (t: number) => void>();
  listen(child: ChildProcess): void {
    child.on("message", (m: { started?: number; id?: number }) => {
      if (typeof m?.id === "number" && typeof m.started === "number") this.waiting.get(m.id)?.(m.started);
    });
  }
  next(id: number): Promise<number> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { p50: at(0.5), p99: at(0.99) };
}

async function latency(starts: Starts, enqueue: (id: number) => Promise<void>): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const started = starts.next(i);
    const t0 = Date.now();
    await enqueue(i);
    const t = await started;
    if (i >= 20) samples.push(t - t0); // the first 20 warm up
    await new Promise((r) => setTimeout(r, 10));
  }
  return percentiles(samples);
}

function stopAll(children: ChildProcess[], how: "message" | "signal"): Promise<void> {
  return Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once("exit", () => resolve());
          if (how === "message") c.send("stop");
          else c.kill("SIGTERM");
          setTimeout(() => c.kill("SIGKILL"), 15_000).unref();
        }),
    ),
  ).then(() => undefined);
}

// ── Sluice ─────────────────────────────────────────────────────────────────────────────────

function sluiceProcess(args: string[]): Promise<ChildProcess> {
  // Logs at info: the "started" line is how the bench knows a process is up.
  // BENCH_PROF=dir: every Sluice process writes a CPU profile there when it exits.
  const prof = process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROF] : [];
  const child = spawn(process.execPath, [...prof, BIN, ...args, "--db", sluiceUrl], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, BENCH_CONCURRENCY: String(CONCURRENCY) },
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/"msg":"sluice (scheduler|worker) started"/.test(out)) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`sluice ${args[0]} exited ${code}: ${err}${out.slice(-2000)}`)));
  });
}

async function sluiceStart(starts: Starts): Promise<ChildProcess[]> {
  const scheduler = await sluiceProcess(["scheduler", CONFIG]);
  const workers = await Promise.all(Array.from({ length: PROCS }, (_, i) => sluiceProcess(["worker", CONFIG, "--name", `bench${i}`, "--concurrency", String(CONCURRENCY), "--prefetch", String(PREFETCH)])));
  for (const w of workers) starts.listen(w);
  return [scheduler, ...workers];
}

async function sluiceReset(): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  const r = spawn(process.execPath, [BIN, "migrate", "--db", sluiceUrl], { stdio: "ignore" });
  await new Promise((resolve) => r.once("exit", resolve));
}

const requestClient = new pg.Client({ connectionString: PG });
await requestClient.connect();

async function addRequest(pipeline: string, params: Record<string, unknown> = {}): Promise<void> {
  // What `sluice trigger` does: a request, and the notification that wakes the scheduler.
  await requestClient.query(`WITH r AS (INSERT INTO ${SCHEMA}.requests (type, pipeline, params, created_at) VALUES ('trigger', $1, $2, $3) RETURNING id) SELECT pg_notify('sluice_requests_${SCHEMA}', id::text) FROM r`, [
    pipeline,
    JSON.stringify(params),
    Date.now(),
  ]);
}

async function sluiceDrain(pipeline: "noop" | "pooled"): Promise<number> {
  const before = Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.runs WHERE pipeline = $1 AND state = 'success'`, [pipeline]))[0]?.n ?? 0);
  const t0 = performance.now();
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  for (let i = 0; i < JOBS / 1000; i++) await c.query(`INSERT INTO ${SCHEMA}.requests (type, pipeline, params, created_at) VALUES ('trigger', $1, '{}', $2)`, [pipeline, Date.now()]);
  await c.query(`SELECT pg_notify('sluice_requests_${SCHEMA}', '')`);
  await until(async () => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.runs WHERE pipeline = $1 AND state = 'success'`, [pipeline])).rows[0]?.n) - before >= JOBS / 1000, `${pipeline} runs to finish`, 600_000, 20);
  const ms = performance.now() - t0;
  await c.end();
  return (JOBS / ms) * 1000;
}

async function sluiceFill(finished: number): Promise<void> {
  const runs = finished / 100;
  // Finished an hour ago: recent enough that retention (30 days) leaves them where they are.
  const at = Date.now() - 3_600_000;
  await sql(`INSERT INTO ${SCHEMA}.runs (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
    SELECT 5000000 + g, 'old', ${at}, 'manual', '{}', 'success', ${at}, ${at}, ${at} FROM generate_series(1, ${runs}) g`);
  await sql(`INSERT INTO ${SCHEMA}.task_instances (run_id, task, state, attempts, lost_attempts, ready_at, output)
    SELECT 5000000 + (g - 1) / 100 + 1, 't' || ((g - 1) % 100), 'success', 1, 0, NULL, NULL FROM generate_series(1, ${finished}) g`);
  await sql(`INSERT INTO ${SCHEMA}.attempts (id, run_id, pipeline, task, attempt, state, fencing_token, worker_id, queued_at, started_at, ended_at, released_at)
    SELECT 50000000 + g, 5000000 + (g - 1) / 100 + 1, 'old', 't' || ((g - 1) % 100), 1, 'success', 50000000 + g, 'old', ${at}, ${at}, ${at}, ${at} FROM generate_series(1, ${finished}) g`);
  await sql(`VACUUM ANALYZE ${SCHEMA}.runs, ${SCHEMA}.task_instances, ${SCHEMA}.attempts`);
}

// ── peers ──────────────────────────────────────────────────────────────────────────────────

async function peerStart(system: string, connection: string, starts: Starts): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: PROCS }, async () => {
      const child = fork(PEER, [system, connection, String(CONCURRENCY)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      await new Promise<void>((resolve, reject) => {
        child.on("message", (m: { ready?: boolean }) => m?.ready && resolve());
        child.once("exit", (code) => reject(new Error(`${system} worker exited ${code}`)));
      });
      starts.listen(child);
      return child;
    }),
  );
}

async function graphile(): Promise<{ perSecond: number; p50: number; p99: number; cpu: Record<string, number>; version: string }> {
  const gw = await import("graphile-worker");
  await sql("DROP SCHEMA IF EXISTS graphile_worker CASCADE");
  const utils = await gw.makeWorkerUtils({ connectionString: PG });
  await utils.migrate();
  const starts = new Starts();
  const children = await peerStart("graphile", PG, starts);
  const cpuBefore = cpuSeconds(undefined, children);
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await utils.addJobs(Array.from({ length: 1000 }, () => ({ identifier: "noop", payload: {} })));
  await until(async () => Number((await sql<{ n: string }>("SELECT count(*) AS n FROM graphile_worker._private_jobs"))[0]?.n) === 0, "graphile-worker to drain", 600_000, 20);
  const perSecond = (JOBS / (performance.now() - t0)) * 1000;
  const cpuAfter = cpuSeconds(undefined, children);
  const cpu = Object.fromEntries([...cpuAfter].map(([k, v]) => [k, ((v - (cpuBefore.get(k) ?? 0)) / JOBS) * 1e6] as const));
  const lat = await latency(starts, async (id) => void (await utils.addJob("noop", { id })));
  await stopAll(children, "message");
  await utils.release();
  await sql("DROP SCHEMA IF EXISTS graphile_worker CASCADE");
  return { perSecond, ...lat, cpu, version: versionOf("graphile-worker") };
}

async function pgboss(): Promise<{ perSecond: number; p50: number; p99: number; version: string }> {
  const { default: PgBoss } = await import("pg-boss");
  await sql("DROP SCHEMA IF EXISTS bench_pgboss CASCADE");
  const boss = new PgBoss({ connectionString: PG, schema: "bench_pgboss", supervise: false, schedule: false });
  boss.on("error", () => undefined);
  await boss.start();
  await boss.createQueue("noop");
  const starts = new Starts();
  const children = await peerStart("pgboss", PG, starts);
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await boss.insert(Array.from({ length: 1000 }, () => ({ name: "noop", data: {} })));
  await until(async () => Number((await sql<{ n: string }>("SELECT count(*) AS n FROM bench_pgboss.job WHERE name = 'noop' AND state = 'completed'"))[0]?.n) >= JOBS, "pg-boss to drain", 600_000, 20);
  const perSecond = (JOBS / (performance.now() - t0)) * 1000;
  const lat = await latency(starts, async (id) => void (await boss.send("noop", { id })));
  await stopAll(children, "message");
  await boss.stop({ graceful: false, wait: true });
  await sql("DROP SCHEMA IF EXISTS bench_pgboss CASCADE");
  return { perSecond, ...lat, version: versionOf("pg-boss") };
}

async function bullmq(): Promise<{ perSecond: number; p50: number; p99: number; version: string }> {
  const { Queue } = await import("bullmq");
  const url = new URL(REDIS);
  const queue = new Queue("noop", { connection: { host: url.hostname, port: Number(url.port || 6379) } });
  await queue.obliterate({ force: true });
  const starts = new Starts();
  const children = await peerStart("bullmq", REDIS, starts);
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, () => ({ name: "noop", data: {}, opts: { removeOnComplete: true } })));
  await until(async () => {
    const c = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
    return Object.values(c).every((n) => n === 0);
  }, "BullMQ to drain", 600_000, 20);
  const perSecond = (JOBS / (performance.now() - t0)) * 1000;
  const lat = await latency(starts, async (id) => void (await queue.add("noop", { id }, { removeOnComplete: true })));
  await stopAll(children, "message");
  await queue.obliterate({ force: true });
  await queue.close();
  return { perSecond, ...lat, version: versionOf("bullmq") };
}

function versionOf(pkg: string): string {
  return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as { version: string }).version;
}

// ── run ────────────────────────────────────────────────────────────────────────────────────

async function sluice(): Promise<{ a: number; aCost: DrainCost; b: { p50: number; p99: number }; c: number; d: number }> {
  await sluiceReset();
  let starts = new Starts();
  let children = await sluiceStart(starts);
  await sluiceDrain("noop"); // warm-up: JIT, prepared statements, the first runs' rows
  const aCost = await sluiceDrainCost(children);
  const a = aCost.perSecond;
  const b = await latency(starts, (id) => addRequest("one", { id }));
  const c = await sluiceDrain("pooled");
  await stopAll(children, "signal");
  await sluiceFill(1_000_000);
  starts = new Starts();
  children = await sluiceStart(starts);
  await sluiceDrain("noop");
  const d = await sluiceDrain("noop");
  await stopAll(children, "signal");
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  return { a, aCost, b, c, d };
}

const pgVersion = (await sql<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v ?? "?";
/** CPU seconds so far (utime + stime) of PostgreSQL's backends for the bench's database, the scheduler and the workers. */
function cpuSeconds(scheduler: ChildProcess | undefined, workers: readonly ChildProcess[]): Map<string, number> {
  return cpuSecondsByRole(new URL(PG).pathname.slice(1), (pid) => (scheduler?.pid === pid ? "scheduler" : workers.some((w) => w.pid === pid) ? "workers" : ""));
}

/** Rows written per table (inserted, updated, of them HOT) and transactions committed, from pg_stat. */
async function pgCounters(): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  const rows = await sql<{ relname: string; ins: string; upd: string; hot: string; del: string }>(
    "SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot, n_tup_del AS del FROM pg_stat_user_tables WHERE schemaname = $1",
    [SCHEMA],
  );
  for (const r of rows) for (const k of ["ins", "upd", "hot", "del"] as const) m.set(`${r.relname}.${k}`, Number(r[k]));
  const db = await sql<{ xact_commit: string }>("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
  m.set("commits", Number(db[0]?.xact_commit));
  return m;
}

interface DrainCost {
  perSecond: number;
  /** CPU µs per task: PostgreSQL's backends, the scheduler, the workers. */
  cpu: Record<string, number>;
  /** Per task: rows written by table and kind, and transactions committed. */
  rows: Record<string, number>;
}

/** (a), with what it cost per task. */
async function sluiceDrainCost(children: readonly ChildProcess[]): Promise<DrainCost> {
  const settle = () => new Promise((r) => setTimeout(r, 800)); // pg_stat views lag by up to 500 ms
  await settle();
  const rowsBefore = await pgCounters();
  const cpuBefore = cpuSeconds(children[0], children.slice(1));
  const perSecond = await sluiceDrain("noop");
  const cpuAfter = cpuSeconds(children[0], children.slice(1));
  await settle();
  const rowsAfter = await pgCounters();
  const per = (after: Map<string, number>, before: Map<string, number>, scale: number) =>
    Object.fromEntries([...after].map(([k, v]) => [k, ((v - (before.get(k) ?? 0)) / JOBS) * scale] as const).filter(([, v]) => v > 0.01));
  return { perSecond, cpu: per(cpuAfter, cpuBefore, 1e6), rows: per(rowsAfter, rowsBefore, 1) };
}

if (process.argv[2] === "sluice-a" || process.argv[2] === "sluice-d") {
  // (a) only — or (d): (a) with 1,000,000 finished attempts in the store — twice after a warm-up,
  // with its cost per task: for quick comparisons while changing Sluice.
  await sluiceReset();
  if (process.argv[2] === "sluice-d") await sluiceFill(1_000_000);
  const children = await sluiceStart(new Starts());
  await sluiceDrain("noop");
  for (let i = 0; i < 2; i++) console.log(JSON.stringify(await sluiceDrainCost(children)));
  await stopAll(children, "signal");
  process.exit(0);
}
if (process.argv[2] === "sluice-b") {
  // (b) only, on fresh processes: enqueue-to-start latency on an idle system.
  await sluiceReset();
  const starts = new Starts();
  const children = await sluiceStart(starts);
  console.log(JSON.stringify(await latency(starts, (id) => addRequest("one", { id }))));
  await stopAll(children, "signal");
  process.exit(0);
}
if (process.argv[2] === "latency") {
  // (b) only, Sluice and graphile-worker in turns on fresh processes, three rounds each: their
  // p99s are a few slow starts out of 200, so one round of each says little.
  const gw = await import("graphile-worker");
  for (let round = 0; round < 3; round++) {
    await sluiceReset();
    let starts = new Starts();
    const children = await sluiceStart(starts);
    console.log("sluice", JSON.stringify(await latency(starts, (id) => addRequest("one", { id }))));
    await stopAll(children, "signal");
    await sql("DROP SCHEMA IF EXISTS graphile_worker CASCADE");
    const utils = await gw.makeWorkerUtils({ connectionString: PG });
    await utils.migrate();
    starts = new Starts();
    const peers = await peerStart("graphile", PG, starts);
    console.log("graphile-worker", JSON.stringify(await latency(starts, async (id) => void (await utils.addJob("noop", { id })))));
    await stopAll(peers, "message");
    await utils.release();
  }
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await sql("DROP SCHEMA IF EXISTS graphile_worker CASCADE");
  process.exit(0);
}
if (process.argv[2] === "graphile") {
  // graphile-worker alone, (a) and (b), nothing recorded: the peer's figure of the day, for comparisons.
  console.log("graphile-worker", JSON.stringify(await graphile()));
  process.exit(0);
}
if (process.argv[2] === "sluice") {
  // Sluice alone, nothing recorded: for profiling and quick comparisons.
  console.log("sluice", JSON.stringify(await sluice()));
  process.exit(0);
}
const s = await sluice();
console.log("sluice", JSON.stringify(s));
const g = await graphile();
console.log("graphile-worker", JSON.stringify(g));
const b = await pgboss();
console.log("pg-boss", JSON.stringify(b));
const q = await bullmq();
console.log("bullmq", JSON.stringify(q));

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(0)} ms`;
const fastestPg = Math.max(g.perSecond, b.perSecond);
const cost = (r: Record<string, number>, key: string) => (r[key] ?? 0).toFixed(2);
const cpu = (k: string) => `${Math.round(s.aCost.cpu[k] ?? 0)} µs`;
// What PostgreSQL and the workers cost per task bounds (a) whatever the scheduler costs: they share the cores.
const cores = availableParallelism();
const floorUs = (s.aCost.cpu.postgres ?? 0) + (s.aCost.cpu.workers ?? 0);
const floorPerSecond = floorUs > 0 ? (cores * 1e6) / floorUs : 0;
const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()}, PostgreSQL ${pgVersion} and Redis on the same machine (load average ${loadavg()[0]?.toFixed(2)} at the end).

Method: ${PROCS} worker processes × concurrency ${CONCURRENCY} for every system, started before the work is enqueued. (a) ${fmt(JOBS)} no-op
jobs enqueued in batches of 1,000 (Sluice: 20 runs of a 1,000-task pipeline, requested the way \`sluice trigger\` does);
timed from the first enqueue until the database says all are done (Sluice: every run recorded success; graphile-worker:
its jobs table empty; pg-boss: ${fmt(JOBS)} completed; BullMQ: nothing waiting or active). Sluice gets one warm-up round first.
(b) ${LATENCY_SAMPLES} single jobs, one at a time, 10 ms apart, after 20 warm-up ones: enqueue to the job function's
first line, reported over IPC. (c) as (a), every task on one 4-slot pool with priorities 0–9. (d) as (a), with 1,000,000
finished attempts (10,000 finished runs) inserted first. Every system at its best documented settings
(\`bench/distributed/peer-worker.mjs\`): Sluice workers with \`--prefetch ${PREFETCH}\`; graphile-worker ${g.version} with \`localQueue: { size: 500 }\`,
\`completeJobBatchDelay: 0\`, \`failJobBatchDelay: 0\`; pg-boss ${b.version} with \`batchSize\` = concurrency and the shortest
polling interval (0.5 s); BullMQ ${q.version} with \`concurrency\` ${CONCURRENCY} and \`removeOnComplete\`.

| | Sluice | graphile-worker | pg-boss | BullMQ (Redis, reference) |
|---|---|---|---|---|
| (a) no-op jobs/s draining ${fmt(JOBS)} | ${fmt(s.a)} | ${fmt(g.perSecond)} | ${fmt(b.perSecond)} | ${fmt(q.perSecond)} |
| (b) enqueue → start p50 | ${ms(s.b.p50)} | ${ms(g.p50)} | ${ms(b.p50)} | ${ms(q.p50)} |
| (b) enqueue → start p99 | ${ms(s.b.p99)} | ${ms(g.p99)} | ${ms(b.p99)} | ${ms(q.p99)} |
| (c) jobs/s, all on a 4-slot pool, priorities | ${fmt(s.c)} | cannot express it | cannot express it | cannot express it |
| (d) jobs/s with 1,000,000 finished attempts | ${fmt(s.d)} (${Math.round((s.d / s.a) * 100)}% of (a)) | | | |

Target: Sluice ≥ the faster of graphile-worker and pg-boss on (a) (${fmt(fastestPg)}/s): ${s.a >= fastestPg ? "**met**" : `**not met** (${Math.round((s.a / fastestPg) * 100)}%)`};
≤ on (b)'s p99 (${ms(Math.min(g.p99, b.p99))}): ${s.b.p99 <= Math.min(g.p99, b.p99) ? "**met**" : "**not met**"}.

What (a) cost Sluice per task, measured in the same run: CPU ${cpu("postgres")} in PostgreSQL's backends (the bench's
database only), ${cpu("scheduler")} in the scheduler, ${cpu("workers")} in the two workers (\`/proc/<pid>/stat\` before and after);
rows written per task (\`pg_stat_user_tables\`): attempts ${cost(s.aCost.rows, "attempts.ins")} inserted + ${cost(s.aCost.rows, "attempts.upd")} updated
(${cost(s.aCost.rows, "attempts.hot")} of them HOT), dispatch ${cost(s.aCost.rows, "dispatch.ins")} inserted + ${cost(s.aCost.rows, "dispatch.del")} deleted,
task_instances ${cost(s.aCost.rows, "task_instances.ins")} + ${cost(s.aCost.rows, "task_instances.upd")} (${cost(s.aCost.rows, "task_instances.hot")} HOT); ${cost(s.aCost.rows, "commits")} commits per task.
graphile-worker's (a), measured the same way: CPU ${Math.round(g.cpu.postgres ?? 0)} µs in PostgreSQL's backends and ${Math.round(g.cpu.workers ?? 0)} µs in its two
workers per job (its enqueueing, by the bench, included in PostgreSQL's).

Where Sluice's time goes. Every task passes through the scheduler, which is what admission is: it commits the
start (the attempt with what it holds, its dispatch row naming the worker it gives it to, the task's state) in one
statement, the worker starts it on the notification of that commit and records the result, the scheduler reads
the result and commits the end. The scheduler, the workers and PostgreSQL share the two cores, so (a) is bound by
CPU per task (figures above). Per task, from \`pg_stat_statements\` over 60,000 tasks: the scheduler's turn
statements ~65 µs and ~18 WAL records (the attempt and its five indexes, the dispatch row in and out, the task
instance inserted with its run and updated twice), the worker's completion 13 µs and one WAL record (a HOT
update), the scheduler's read of results and the workers' reads of their work ~4 µs each. The scheduler's own
CPU goes to admission's bookkeeping (a quarter of its busy time), garbage collection (a sixth) and turning
batches into statement parameters (a tenth). graphile-worker writes a job once and deletes it once, with no
central decision in between, and spends a fraction of that per job.

What changed on 2026-12-05 (two sessions), found with PostgreSQL's statement log, \`pg_stat_statements\` and
\`auto_explain\` (before → after on the same machine): (1) a new store's generic plans, made while its tables
were empty, scanned whole tables; the store's connections now price scans, hash and merge joins out (JIT off).
(2) Workers take attempts ahead of free slots (\`--prefetch\`), so a scheduler turn carries hundreds of starts
and ends. (3) The workers' statements found their attempts by reading every running attempt whenever the
planner underestimated how many run; they look them up by id: completion 3.7 → 0.7 ms. (4) Migration 10: resources
in a column of the attempt, no index on lease expiry (WAL records per task 42 → ~24). (5) The scheduler reads
only the attempts the workers' notifications name. Then: (6) a scheduler turn is one statement, not a
transaction of two (one round trip instead of four); (7) the scheduler gives each started attempt to a worker
with room for it and the commit's notification carries the start command, so most tasks are never claimed
(attempt updates per task 2 → 1); (8) migration 11 makes the dispatch rows the set of active attempts and drops
the indexes of attempts on their state, so the completion is a HOT update (32 → 13 µs, 6 → 1 WAL records per
task); (9) a worker with a memory budget no longer claims again, in vain, after every finished attempt;
(10) admission itself places each task on one worker with a slot and the task's memory free there (what (7)
did after the decision, by a count that started empty after a takeover): no measurable cost — \`sluice-a\` in one
session, the commit before and after: 2,930–3,011/s and 2,824–3,142/s; (11) a worker starts a prefetched
attempt as soon as a function ends, not a round trip later once the store has recorded the result, so its
results go in larger batches (\`sluice-a\` in one session: 3,459–3,687/s before, 4,826–6,216/s after; the
workers' CPU per task ~135 → ~50 µs, PostgreSQL's ~150 → 90–113 µs); (12) the store finds the active
attempts through \`dispatch\`, each looked up by id: the look for expired leases (four times a second) joined
\`dispatch\` to \`attempts\` ordered by the attempt's id, and the planner, estimating one running attempt, walked the
whole key of \`attempts\` for it — 0.56–0.74 s a call with 1,000,000 finished attempts (found with
\`log_min_duration_statement = 0\` on the bench's database: 17.8 s of (d)'s statement time, against 0.2 s in (a)).
On the machine of the day's first sessions (a) went from 1,451/s (morning) to ~4,200/s to 5,778/s, PostgreSQL
CPU per task from ~450 to ~100 µs. The machine of the day's last session ran the same code at about half that
speed (\`sluice-a\` of the code before (10): 5,767–6,383/s there, 2,930–3,011/s here), so compare a record's figures with the
peers' in the same run, not with another day's.
What would close the rest is a different write path and a leaner scheduler, not tuning. In this run PostgreSQL and the workers alone spent
${fmt(floorUs)} µs of CPU per task; on ${cores} cores that caps (a) at ${fmt(floorPerSecond)}/s even with a scheduler that cost nothing,
against graphile-worker's ${fmt(g.perSecond)}/s${floorPerSecond < g.perSecond ? " — no work on the scheduler alone can meet the target" : ""}. A task's start is decided by one process
for all workers and written as about a dozen row versions and index entries (its task instance, its attempt, its
dispatch row, each written at least twice), where graphile-worker's job is one row written once and deleted once
by the process that runs it, and nothing of it is kept. \`bench/claim-floor.ts\` (its own section) measured the fewest
writes that keep Sluice's guarantees and history — a task instance inserted and updated twice, the attempt written
once at its end, a counter — at 29–35 µs of PostgreSQL per task (two runs), the same whether workers claim their tasks or one
scheduler gives them out. So the way is not to move admission into the workers (the design keeps it in one
process) but (1) that write path, with the running attempt's lease and token on its task instance, and (2) a
scheduler spending tens of µs per task, not ~100: its admission bookkeeping, its copies of every write, its read
of every result (the workers' notifications could carry them). Neither is started.
(b): the request's commit wakes the scheduler, which takes it (a commit), decides and commits the start in one
statement; the worker starts the task on that commit's notification. Two commits after the enqueue, where
graphile-worker's worker needs one (its fetch). Its p99, like graphile-worker's, moves by several ms between
runs on this machine: over the 2026-12-05 runs (\`bench/distributed.ts latency\` runs both in turns, three
rounds each) Sluice's p99 was 7–12 ms and graphile-worker's 4–10 ms, p50 3–5 ms and 2–4 ms, on the slower
machine of the last session 17 and 11 ms, 6 and 6 ms; Sluice's p99 was below graphile-worker's in some runs and
above in most. On the machine of 2026-12-05's night session, rounds of 1,000 samples (\`BENCH_LATENCY_SAMPLES=1000\`):
Sluice 8, 8, 7 ms against 6, 6, 5 ms. Where Sluice's time went there, stage by stage (timestamps written by the
bench, the scheduler and the worker; p50 / p99 over 500 triggers): the request's commit and its notification
reaching the scheduler 0.8 / 4.3 ms, the take 0.4 / 1.8 ms (committed asynchronously in that trace, see below), the decision 0.1 / 0.4 ms, the start's commit and its
notification reaching the worker 1.0 / 4.3 ms, the worker calling the function 0.2 / 0.7 ms. The two commit-and-notify
hops hold most of the tail, and graphile-worker has two of those as well (the enqueue, its fetch); the take is the
hop Sluice has more. Committing the take asynchronously (\`synchronous_commit\` off for that transaction: a
synchronous commit cost 0.5–0.6 ms here, an asynchronous one 0.2–0.35 ms) made no difference measurable at the
bench's 1 ms resolution (three rounds of 1,000 each way: p99 7, 10, 8 against 9, 9, 7 ms) and was not kept.
What would remove the take is the scheduler deciding on the request as the notification carries it and marking it
taken in the decision's commit; the CLI's rule for withdrawing an unanswered request (it may while nobody took it)
would then have to change, since a request would be taken only when it is answered.
The machine matters more than the code between sessions: graphile-worker drained 27,059–28,822/s on this one and
15,550/s on the last session's, Sluice 7,568–9,220/s and 6,452/s; Sluice's drains left 15–25% of the two cores idle
(\`vmstat\`): its scheduler waits for each turn's commit before it decides the next (a turn of ~500 starts: ~10 ms
deciding, ~40 ms in the store).
(d) was 67–88% of (a) through 2026-12-05, and 34% in the first full run after (11), which made (a) faster but not
(d): the look for expired leases read every finished attempt, see (12). After (12), the \`sluice-d\` mode gave
5,611–6,238/s with PostgreSQL at 89–91 µs per task, as \`sluice-a\` (4,826–6,427/s, 86–113 µs).
pg-boss is bound by its
polling: v10 waits \`pollingIntervalSeconds\`
(≥ 0.5 s) between fetches even when a fetch returned a full batch, so a job waits for the next poll.
`;
recordSection("## Distributed: Sluice vs graphile-worker, pg-boss, BullMQ (bench/distributed.ts)", body);
console.log(body);
process.exit(0);
