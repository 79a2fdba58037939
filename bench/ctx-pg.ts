/**
 * ctx.pg benchmark: what a checkout costs. Each `db.query()` takes a connection of the attempt's
 * own, names it (`set_config('application_name', …)`, which is also the validity check), runs the
 * statement and `RESET ALL`s it on the way back: three round trips where a bare pg.Pool query
 * makes one. This measures that, beside a bare pool and a client checked out once.
 *
 * Method (printed with the figures): one attempt holding 1 slot, `SELECT 1` N times in a row on
 * the local PostgreSQL; per-query mean, in this process (no scheduler involved).
 *   - pg.Pool: `pool.query("SELECT 1")` on a node-postgres pool of 1;
 *   - ctx.pg query(): `db.query("SELECT 1")`;
 *   - ctx.pg connect(): one `db.connect()`, then `client.query("SELECT 1")` N times.
 *
 * Run: npx tsx bench/ctx-pg.ts   (SLUICE_TEST_DATABASE_URL as for tests; N=2000 by default)
 */
import os from "node:os";
import pg from "pg";
import { Databases } from "../src/worker/databases.js";
import { AttemptDatabases } from "../src/worker/task-database.js";
import { buildDatabase } from "../src/define/databases.js";

const URL_ = process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = Number(process.env.N ?? 2000);

async function time(label: string, body: () => Promise<void>): Promise<void> {
  await body(); // warm-up round, not counted
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(20)} ${((ms * 1000) / N).toFixed(0).padStart(6)} µs/query   (${N} queries in ${ms.toFixed(0)} ms)`);
}

const bare = new pg.Pool({ connectionString: URL_, max: 1 });
const databases = new Databases({ pools: { wh: { name: "wh", slots: 1, description: undefined } }, databases: { warehouse: buildDatabase("warehouse", { url: { kind: "url", url: URL_ }, pool: "wh" }) } });
const attempt = new AttemptDatabases(databases, { pipeline: "bench", runId: 1, task: "q" }, { wh: 1 }, new AbortController().signal);
const db = attempt.get("warehouse");

console.log(`ctx.pg checkout cost — ${new Date().toISOString()}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}, N=${N}`);
await time("pg.Pool query()", async () => {
  for (let i = 0; i < N; i++) await bare.query("SELECT 1");
});
await time("ctx.pg query()", async () => {
  for (let i = 0; i < N; i++) await db.query("SELECT 1");
});
await time("ctx.pg connect()", async () => {
  const c = await db.connect();
  for (let i = 0; i < N; i++) await c.query("SELECT 1");
  c.release();
});
await attempt.end();
await databases.close();
await bare.end();
