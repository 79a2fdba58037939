// An experiment, not Sluice: what PostgreSQL would spend per task if workers claimed ready tasks
// themselves and decided admission against a counter in the database, the design BENCHMARKS.md names
// as the way to reach graphile-worker's throughput in (a) of bench/distributed.ts. It measures the
// floor of that design — its statements alone, driven with no scheduler — so the decision to build
// it can be taken on a figure rather than a hope.
//
// Per task, what such a design must still write to keep Sluice's guarantees and history:
//   - the task instance, inserted with its run (state `ready`, in a partial index of ready tasks);
//   - the claim: the task instance updated to `running` with its worker, fencing token and lease,
//     the global limit's counter taken in the same statement (a worker never exceeds it);
//   - the end: the task instance updated to `success` (only with the fencing token it was given),
//     the attempt written once to the history table, the counter given back, the run's count of
//     unfinished tasks decremented (the run ends when it reaches 0).
// graphile-worker, for comparison: a job inserted, updated when fetched, deleted when done.
//
//   npx tsx bench/claim-floor.ts        (records its section in BENCHMARKS.md)
import { fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { machine, recordSection } from "./report.js";

const PG = process.env.SLUICE_BENCH_DATABASE_URL ?? process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = "bench_floor";
const WORKERS = 2;
const BATCH = 500; // what a worker takes at a time, as graphile-worker's localQueue and Sluice's --prefetch in the bench
const RUNS = 20;
const TASKS = 1000;
const PARALLELISM = 2048;

const CLAIM = `WITH free AS (SELECT slots - used AS n FROM ${SCHEMA}.limits WHERE name = 'parallelism' FOR UPDATE),
  c AS (SELECT run_id, task FROM ${SCHEMA}.task_instances WHERE state = 'ready' AND queue = 'default'
        ORDER BY priority DESC, ready_at LIMIT least($1, (SELECT n FROM free)) FOR UPDATE SKIP LOCKED),
  u AS (UPDATE ${SCHEMA}.task_instances t SET state = 'running', worker = $2, attempts = t.attempts + 1,
          fencing_token = nextval('${SCHEMA}.tokens'), lease_expires_at = $3, started_at = $4
        FROM c WHERE t.run_id = c.run_id AND t.task = c.task RETURNING t.run_id, t.task, t.fencing_token),
  l AS (UPDATE ${SCHEMA}.limits SET used = used + (SELECT count(*) FROM u) WHERE name = 'parallelism')
  SELECT run_id, task, fencing_token FROM u`;

const COMPLETE = `WITH d AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS d (run_id, task, token)),
  u AS (UPDATE ${SCHEMA}.task_instances t SET state = 'success', ended_at = $4
        FROM d WHERE t.run_id = d.run_id AND t.task = d.task AND t.fencing_token = d.token AND t.state = 'running'
        RETURNING t.run_id, t.task, t.attempts, t.worker, t.fencing_token, t.started_at, t.ended_at),
  h AS (INSERT INTO ${SCHEMA}.attempts (run_id, pipeline, task, attempt, state, worker, fencing_token, started_at, ended_at)
        SELECT run_id, 'noop', task, attempts, 'success', worker, fencing_token, started_at, ended_at FROM u),
  l AS (UPDATE ${SCHEMA}.limits SET used = used - (SELECT count(*) FROM u) WHERE name = 'parallelism'),
  r AS (UPDATE ${SCHEMA}.runs SET remaining = remaining - x.n,
          state = CASE WHEN remaining - x.n = 0 THEN 'success' ELSE state END
        FROM (SELECT run_id, count(*) AS n FROM u GROUP BY run_id) x WHERE runs.id = x.run_id)
  SELECT count(*) AS n FROM u`;

if (process.argv[2] === "worker") {
  // A worker: take up to BATCH, run them (no-ops), report them in one statement, again.
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  const name = `w${process.pid}`;
  let stop = false;
  process.on("message", (m) => m === "stop" && (stop = true));
  process.send?.("ready");
  while (!stop) {
    const now = Date.now();
    const got = (await c.query<{ run_id: string; task: string; fencing_token: string }>({ name: "claim", text: CLAIM, values: [BATCH, name, now + 15_000, now] })).rows;
    if (got.length === 0) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    await c.query({ name: "complete", text: COMPLETE, values: [got.map((t) => t.run_id), got.map((t) => t.task), got.map((t) => t.fencing_token), Date.now()] });
  }
  await c.end();
  process.exit(0);
}

const sql = async (text: string): Promise<void> => {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  await c.query(text);
  await c.end();
};

async function reset(): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
    CREATE SEQUENCE ${SCHEMA}.tokens;
    CREATE TABLE ${SCHEMA}.runs (id bigint PRIMARY KEY, pipeline text NOT NULL, state text NOT NULL, remaining int NOT NULL, created_at bigint NOT NULL);
    CREATE TABLE ${SCHEMA}.task_instances (run_id bigint NOT NULL REFERENCES ${SCHEMA}.runs (id) ON DELETE CASCADE, task text NOT NULL, state text NOT NULL,
      queue text NOT NULL, priority int NOT NULL, ready_at bigint, attempts int NOT NULL, worker text, fencing_token bigint, lease_expires_at bigint,
      started_at bigint, ended_at bigint, PRIMARY KEY (run_id, task));
    CREATE INDEX task_instances_ready ON ${SCHEMA}.task_instances (queue, priority DESC, ready_at) WHERE state = 'ready';
    CREATE TABLE ${SCHEMA}.limits (name text PRIMARY KEY, slots int NOT NULL, used int NOT NULL);
    INSERT INTO ${SCHEMA}.limits VALUES ('parallelism', ${PARALLELISM}, 0);
    CREATE TABLE ${SCHEMA}.attempts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id bigint NOT NULL, pipeline text NOT NULL, task text NOT NULL,
      attempt int NOT NULL, state text NOT NULL, worker text, fencing_token bigint NOT NULL, started_at bigint, ended_at bigint);
    CREATE INDEX attempts_run_task ON ${SCHEMA}.attempts (run_id, task);
    CREATE INDEX attempts_pipeline_task_id ON ${SCHEMA}.attempts (pipeline, task, id);`);
}

/** CPU seconds (utime + stime) of PostgreSQL's backends for the bench's database and of the workers. */
function cpuSeconds(workers: readonly number[]): Map<string, number> {
  const out = new Map<string, number>();
  const db = ` ${new URL(PG).pathname.slice(1)} `;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    let title: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      title = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const key = comm === "postgres" && title.includes(db) ? "postgres" : workers.includes(Number(pid)) ? "workers" : "";
    if (!key) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(key, (out.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
  }
  return out;
}

async function drain(round: number, workers: readonly number[]): Promise<{ perSecond: number; cpu: Record<string, number> }> {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  const before = cpuSeconds(workers);
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const id = round * RUNS + i + 1;
    // What the trigger's commit would hold: the run and its tasks, ready.
    await c.query(`WITH r AS (INSERT INTO ${SCHEMA}.runs VALUES ($1, 'noop', 'running', ${TASKS}, $2))
      INSERT INTO ${SCHEMA}.task_instances (run_id, task, state, queue, priority, ready_at, attempts)
      SELECT $1, 't' || g, 'ready', 'default', 0, $2, 0 FROM generate_series(0, ${TASKS - 1}) g`, [id, Date.now()]);
  }
  for (;;) {
    const n = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.runs WHERE state = 'success' AND id > $1`, [round * RUNS])).rows[0]?.n);
    if (n === RUNS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  const after = cpuSeconds(workers);
  await c.end();
  const jobs = RUNS * TASKS;
  return { perSecond: (jobs / ms) * 1000, cpu: Object.fromEntries([...after].map(([k, v]) => [k, Math.round(((v - (before.get(k) ?? 0)) / jobs) * 1e6)])) };
}

await reset();
const children = await Promise.all(
  Array.from({ length: WORKERS }, async () => {
    const child = fork(fileURLToPath(import.meta.url), ["worker"], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: process.execArgv });
    await new Promise<void>((resolve) => child.once("message", () => resolve()));
    return child;
  }),
);
const pids = children.map((c) => c.pid ?? 0);
const results: Array<{ perSecond: number; cpu: Record<string, number> }> = [];
for (let round = 0; round < 4; round++) {
  const r = await drain(round, pids);
  if (round > 0) results.push(r);
  console.log(JSON.stringify({ round: round === 0 ? "warm-up" : round, perSecond: Math.round(r.perSecond), cpuUsPerTask: r.cpu }));
}
for (const child of children) child.send("stop");
await Promise.all(children.map((c) => new Promise((r) => c.once("exit", r))));
await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const range = (f: (r: (typeof results)[number]) => number) => `${fmt(Math.min(...results.map(f)))}–${fmt(Math.max(...results.map(f)))}`;
const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()}, ${availableParallelism()} cores shared by PostgreSQL and the workers.

An experiment, not Sluice: the statements of a design where workers claim ready tasks themselves and take the
global limit's counter in the same statement (\`bench/claim-floor.ts\` says what each writes), driven by ${WORKERS} worker
processes taking ${BATCH} at a time, with no scheduler and no-op tasks that the workers report at once: ${RUNS} runs of ${fmt(TASKS)}
tasks per round, three rounds after a warm-up, timed from the first run's insert until every run has ended.

| | per round |
|---|---|
| tasks/s | ${range((r) => r.perSecond)} |
| PostgreSQL's CPU per task | ${range((r) => r.cpu.postgres ?? 0)} µs |
| the workers' CPU per task (statements only, no task functions, no heartbeats) | ${range((r) => r.cpu.workers ?? 0)} µs |

Compare with (a) of the distributed benchmark, where Sluice's PostgreSQL spends ~65–70 µs per task and graphile-worker's
~20–22 µs: this is the floor of the design that BENCHMARKS.md's distributed section names as what would close the gap.
A real worker adds what it does around a task function (~30 µs per task in (a), as graphile-worker's workers), so
the design's ceiling on this machine is about ${fmt((availableParallelism() * 1e6) / (Math.max(...results.map((r) => r.cpu.postgres ?? 0)) + 30))} tasks/s: graphile-worker's order, where today's Sluice is capped
below it by PostgreSQL's and the workers' CPU alone. What it leaves out is what the scheduler does today beyond
counting: tasks on pools (several per task, each its own counter), memory per worker, reservations that keep a big
task from starving, and the answer to "why does it wait"; a design would keep those in the scheduler and give
workers the tasks that need only counters.`;
recordSection("## Design experiment: workers claiming tasks themselves (bench/claim-floor.ts)", body);
console.log(body);
process.exit(0);
