/**
 * Benchmark of sluice/pg: rows/s of each load mode on 1,000,000 narrow rows (id int, v text),
 * against `psql \copy` of the same data into an empty table. Prints one line per mode.
 *
 * Method: the data set is written once to a TSV file; `\copy` reads it into an empty table with a
 * primary key; each mode loads the same rows (generated, encoded by sluice/pg) into a table that
 * already holds 1M rows (swap/replace/upsert/truncate) or as a new partition. Best of 2 runs.
 * Run: `npx tsx bench/pg-load.ts` (SLUICE_TEST_DATABASE_URL, default the local test database).
 */
import { spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { load, type LoadMode } from "../src/pg/index.js";

const URL_ = process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = Number(process.env.PG_BENCH_ROWS ?? 1_000_000);
const schema = `bench_pg_${process.pid}`;
const file = join(tmpdir(), `sluice-pg-bench-${process.pid}.tsv`);

function* rows(): Generator<[number, string]> {
  for (let i = 1; i <= N; i++) yield [i, `value-${i}`];
}

const c = new pg.Client({ connectionString: URL_ });
await c.connect();
await c.query(`CREATE SCHEMA ${schema}`);
try {
  const out = createWriteStream(file);
  for (const [i, v] of rows()) if (!out.write(`${i}\t${v}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
  await new Promise((r) => out.end(r));

  const results: Record<string, number> = {};
  const best = (name: string, ms: number): void => {
    results[name] = Math.min(results[name] ?? Infinity, ms);
  };
  for (let run = 0; run < 2; run++) {
    await c.query(`DROP TABLE IF EXISTS ${schema}.psql_copy; CREATE TABLE ${schema}.psql_copy (id int PRIMARY KEY, v text NOT NULL)`);
    const t0 = performance.now();
    const r = spawnSync("psql", [URL_, "-q", "-v", "ON_ERROR_STOP=1", "-c", `\\copy ${schema}.psql_copy FROM '${file}'`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    best("psql \\copy (empty table)", performance.now() - t0);

    for (const mode of ["swap", "replace", "upsert", "truncate"] as LoadMode[]) {
      await c.query(`DROP TABLE IF EXISTS ${schema}.t_${mode}; CREATE TABLE ${schema}.t_${mode} (id int PRIMARY KEY, v text NOT NULL)`);
      await c.query(`INSERT INTO ${schema}.t_${mode} SELECT g, 'old' FROM generate_series(1, ${N}) g`);
      await c.query(`VACUUM ANALYZE ${schema}.t_${mode}`);
      const res = await load({ db: URL_, table: `${schema}.t_${mode}`, mode, key: ["id"], columns: ["id", "v"], rows: rows(), onEvent: () => undefined });
      best(mode, res.durationMs);
    }
    await c.query(`DROP TABLE IF EXISTS ${schema}.p_${run}; CREATE TABLE ${schema}.p_${run} (id int NOT NULL, v text NOT NULL) PARTITION BY RANGE (id)`);
    const res = await load({ db: URL_, table: `${schema}.p_${run}`, mode: "partition", columns: ["id", "v"], rows: rows(), onEvent: () => undefined, partition: { name: `p_${run}_1`, bounds: `FROM (1) TO (${N + 1})`, check: `id >= 1 AND id < ${N + 1}` } });
    best("partition", res.durationMs);
  }
  const base = N / (results["psql \\copy (empty table)"]! / 1000);
  for (const [name, ms] of Object.entries(results)) {
    const rate = N / (ms / 1000);
    console.log(`${name.padEnd(26)} ${String(Math.round(ms)).padStart(6)} ms  ${String(Math.round(rate)).padStart(8)} rows/s  ${((rate / base) * 100).toFixed(0)}% of \\copy`);
  }
} finally {
  await c.query(`DROP SCHEMA ${schema} CASCADE`);
  await c.end();
  await rm(file, { force: true });
}
