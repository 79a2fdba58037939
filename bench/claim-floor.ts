// An experiment, not Sluice: the fewest writes a task needs while keeping what Sluice keeps, and what
// PostgreSQL spends on them, in two designs: workers claiming ready tasks themselves, or one scheduler
// process giving them out (as Sluice's does) with no decision logic beyond a count. It measures the floor
// of each — their statements alone, no-op tasks — so the way to close the gap to graphile-worker in (a) of
// bench/distributed.ts is chosen on figures rather than hopes.
//
// Per task, what either design writes:
//   - the task instance, inserted with its run (state `ready`, in a partial index of ready tasks);
//   - the start: the task instance updated to `running` with its worker, fencing token and lease, the
//     global limit's counter taken in the same statement (nobody exceeds it);
//   - the end: the task instance updated to `success` (only with the fencing token it was given), the
//     attempt written once to the history table, the counter given back, the run's count of unfinished
//     tasks decremented (the run ends when it reaches 0).
// graphile-worker, for comparison: a job inserted, updated when fetched, deleted when done.
//
//   npx tsx bench/claim-floor.ts        (records its section in BENCHMARKS.md)
import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { cpuSecondsByRole, machine, recordSection } from "./report.js";

const PG = process.env.SLUICE_BENCH_DATABASE_URL ?? process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = "bench_floor";
const WORKERS = 2;
const BATCH = 500; // what a worker takes at a time, as graphile-worker's localQueue and Sluice's --prefetch in the bench
const RUNS = 20;
const TASKS = 1000;
const PARALLELISM = 2048;

const CLAIM_CTES = `free AS (SELECT slots - used AS n FROM ${SCHEMA}.limits WHERE name = 'parallelism' FOR UPDATE),
  c AS (SELECT run_id, task FROM ${SCHEMA}.task_instances WHERE state = 'ready' AND queue = 'default'
        ORDER BY priority DESC, ready_at LIMIT least($1, (SELECT n FROM free)) FOR UPDATE SKIP LOCKED),
  u AS (UPDATE ${SCHEMA}.task_instances t SET state = 'running', worker = $2, attempts = t.attempts + 1,
          fencing_token = nextval('${SCHEMA}.tokens'), lease_expires_at = $3, started_at = $4
        FROM c WHERE t.run_id = c.run_id AND t.task = c.task RETURNING t.run_id, t.task, t.fencing_token),
  l AS (UPDATE ${SCHEMA}.limits SET used = used + (SELECT count(*) FROM u) WHERE name = 'parallelism')`;
/** A worker takes up to $1 ready tasks. */
const CLAIM = `WITH ${CLAIM_CTES} SELECT run_id, task, fencing_token FROM u`;

const COMPLETE_CTES = `d AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS d (run_id, task, token)),
  u AS (UPDATE ${SCHEMA}.task_instances t SET state = 'success', ended_at = $4
        FROM d WHERE t.run_id = d.run_id AND t.task = d.task AND t.fencing_token = d.token AND t.state = 'running'
        RETURNING t.run_id, t.task, t.attempts, t.worker, t.fencing_token, t.started_at, t.ended_at),
  h AS (INSERT INTO ${SCHEMA}.attempts (run_id, pipeline, task, attempt, state, worker, fencing_token, started_at, ended_at)
        SELECT run_id, 'noop', task, attempts, 'success', worker, fencing_token, started_at, ended_at FROM u),
  l AS (UPDATE ${SCHEMA}.limits SET used = used - (SELECT count(*) FROM u) WHERE name = 'parallelism'),
  r AS (UPDATE ${SCHEMA}.runs SET remaining = remaining - x.n,
          state = CASE WHEN remaining - x.n = 0 THEN 'success' ELSE state END
        FROM (SELECT run_id, count(*) AS n FROM u GROUP BY run_id) x WHERE runs.id = x.run_id)`;
/** A worker reports the tasks it ran (only those whose fencing token is still theirs). */
const COMPLETE = `WITH ${COMPLETE_CTES} SELECT count(*) AS n FROM u`;

/** Central mode: the scheduler gives a worker up to $1 ready tasks, and tells it in the same commit. */
const ASSIGN = `WITH ${CLAIM_CTES},
  n AS (SELECT pg_notify('${SCHEMA}_' || $2, string_agg(run_id || ':' || task || ':' || fencing_token, ',')) FROM (SELECT *, (row_number() OVER ()) / 300 AS chunk FROM u) x GROUP BY chunk)
  SELECT (SELECT count(*) FROM u) AS n, (SELECT count(*) FROM n) AS notified`;
/** Central mode: the worker's report also tells the scheduler how many slots it freed. */
const COMPLETE_NOTIFY = `WITH ${COMPLETE_CTES} SELECT pg_notify('${SCHEMA}_done', $5 || ':' || (SELECT count(*) FROM u))`;

if (process.argv[2] === "central-worker") {
  // Runs what the scheduler's notifications give it (no-ops), reports them in batches, one report at a time.
  const name = process.argv[3] ?? "w";
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  let given: string[][] = [];
  let reporting = false;
  const report = async (): Promise<void> => {
    if (reporting || given.length === 0) return;
    reporting = true;
    while (given.length > 0) {
      const batch = given;
      given = [];
      await c.query({ name: "complete", text: COMPLETE_NOTIFY, values: [batch.map((t) => t[0]), batch.map((t) => t[1]), batch.map((t) => t[2]), Date.now(), name] });
    }
    reporting = false;
  };
  c.on("notification", (m) => {
    for (const t of (m.payload ?? "").split(",")) if (t) given.push(t.split(":"));
    void report();
  });
  await c.query(`LISTEN ${SCHEMA}_${name}`);
  process.on("message", (m) => m === "stop" && void c.end().then(() => process.exit(0)));
  process.send?.("ready");
  await new Promise(() => undefined);
}

if (process.argv[2] === "central-scheduler") {
  // Decides every start: gives each worker tasks up to its room (slots + prefetch), as Sluice's scheduler does.
  const names = process.argv.slice(3);
  const room = new Map(names.map((n) => [n, BATCH + 16]));
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  let assigning = false;
  let again = false;
  const assign = async (): Promise<void> => {
    if (assigning) return void (again = true);
    assigning = true;
    do {
      again = false;
      for (const [name, free] of room) {
        if (free <= 0) continue;
        const now = Date.now();
        const n = Number((await c.query<{ n: string }>({ name: "assign", text: ASSIGN, values: [free, name, now + 15_000, now] })).rows[0]?.n);
        room.set(name, (room.get(name) ?? 0) - n); // reports may have come in meanwhile
      }
    } while (again);
    assigning = false;
  };
  c.on("notification", (m) => {
    const [name, n] = (m.payload ?? "").split(":");
    if (name && room.has(name)) room.set(name, (room.get(name) ?? 0) + Number(n));
    void assign();
  });
  await c.query(`LISTEN ${SCHEMA}_done`);
  const poll = setInterval(() => void assign(), 5); // new runs: what a request's notification would do
  process.on("message", (m) => m === "stop" && (clearInterval(poll), void c.end().then(() => process.exit(0))));
  process.send?.("ready");
  await new Promise(() => undefined);
}

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

/** CPU seconds so far of PostgreSQL's backends for the bench's database, the workers and the scheduler. */
function cpuSeconds(workers: readonly number[], scheduler: number): Map<string, number> {
  return cpuSecondsByRole(new URL(PG).pathname.slice(1), (pid) => (workers.includes(pid) ? "workers" : pid === scheduler ? "scheduler" : ""));
}

interface Round {
  perSecond: number;
  /** CPU µs per task: postgres, workers, scheduler. */
  cpu: Record<string, number>;
}

async function drain(round: number, workers: readonly number[], scheduler: number): Promise<Round> {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  const before = cpuSeconds(workers, scheduler);
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
  const after = cpuSeconds(workers, scheduler);
  await c.end();
  const jobs = RUNS * TASKS;
  return { perSecond: (jobs / ms) * 1000, cpu: Object.fromEntries([...after].map(([k, v]) => [k, Math.round(((v - (before.get(k) ?? 0)) / jobs) * 1e6)])) };
}

function start(args: string[]): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: process.execArgv });
  return new Promise((resolve) => child.once("message", () => resolve(child)));
}

/** Three rounds after a warm-up, on fresh tables and processes. */
async function design(kind: "claim" | "central"): Promise<Round[]> {
  await reset();
  const names = Array.from({ length: WORKERS }, (_, i) => `w${i}`);
  const workers = await Promise.all(names.map((n) => start(kind === "claim" ? ["worker"] : ["central-worker", n])));
  const scheduler = kind === "central" ? await start(["central-scheduler", ...names]) : undefined;
  const results: Round[] = [];
  for (let round = 0; round < 4; round++) {
    const r = await drain(round, workers.map((w) => w.pid ?? 0), scheduler?.pid ?? 0);
    if (round > 0) results.push(r);
    console.log(JSON.stringify({ design: kind, round: round === 0 ? "warm-up" : round, perSecond: Math.round(r.perSecond), cpuUsPerTask: r.cpu }));
  }
  const all = [...workers, ...(scheduler ? [scheduler] : [])];
  for (const child of all) child.send("stop");
  await Promise.all(all.map((c) => new Promise((r) => c.once("exit", r))));
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  return results;
}

const claim = await design("claim");
const central = await design("central");

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const range = (rs: Round[], f: (r: Round) => number) => `${fmt(Math.min(...rs.map(f)))}–${fmt(Math.max(...rs.map(f)))}`;
const cores = availableParallelism();
/** With a real worker's ~30 µs per task around its function, as in (a): what the cores allow. */
const ceiling = (rs: Round[]) => fmt((cores * 1e6) / (Math.max(...rs.map((r) => (r.cpu.postgres ?? 0) + (r.cpu.scheduler ?? 0))) + 30));
const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()}, ${cores} cores shared by PostgreSQL, the workers and the scheduler.

An experiment, not Sluice: the fewest writes a task needs while keeping what Sluice keeps (its task instance, a fencing
token and lease, the global limit's counter taken with the start, the attempt in history, the run's end), in two designs
(\`bench/claim-floor.ts\` says what each statement writes): **workers claim** ready tasks themselves (\`FOR UPDATE SKIP
LOCKED\`, ${BATCH} at a time), or a **central** scheduler process gives each worker tasks up to its room (${BATCH} + 16) in one
statement whose commit notifies it, as Sluice's scheduler does, with no decision logic beyond the count. ${WORKERS} worker
processes, no-op tasks reported at once in one statement per batch; ${RUNS} runs of ${fmt(TASKS)} tasks per round, three rounds after a
warm-up, timed from the first run's insert until every run has ended.

| | workers claim | central |
|---|---|---|
| tasks/s | ${range(claim, (r) => r.perSecond)} | ${range(central, (r) => r.perSecond)} |
| PostgreSQL's CPU per task | ${range(claim, (r) => r.cpu.postgres ?? 0)} µs | ${range(central, (r) => r.cpu.postgres ?? 0)} µs |
| the scheduler's CPU per task | — | ${range(central, (r) => r.cpu.scheduler ?? 0)} µs |
| the workers' CPU per task (statements only: no task functions, no heartbeats) | ${range(claim, (r) => r.cpu.workers ?? 0)} µs | ${range(central, (r) => r.cpu.workers ?? 0)} µs |
| ceiling with a real worker's ~30 µs per task | ~${ceiling(claim)}/s | ~${ceiling(central)}/s |

Compare with (a) of the distributed benchmark, where today's Sluice spends ~65–70 µs per task in PostgreSQL and
~70–100 µs in its scheduler, and graphile-worker ~20–22 µs in PostgreSQL and ~28 µs in its workers. Both designs write
the same rows and cost PostgreSQL the same: who runs the start's statement does not matter, so keeping admission in one
process, as Sluice's design requires, is not what holds it back. What does: today's writes (about twice these: an
attempt row written at the start and again at the end, a dispatch row in and out, the task instance updated at the
start and at the end) and today's scheduler, whose share of a graphile-worker-sized budget (${cores} cores for everything)
must come down to the low tens of µs per task. What the floor leaves out is what the scheduler does beyond counting:
pools (several per task), memory per worker, reservations that keep a big task from starving, the reasons a task waits.`;
recordSection("## Design experiment: the fewest writes per task (bench/claim-floor.ts)", body);
console.log(body);
process.exit(0);
