import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { updateInBatches } from "../../src/pg/index.js";
import { dropSchemas, freshSchema } from "../support/pg.js";
import { TEST_DATABASE_URL } from "./helpers.js";

const schema = freshSchema("pgbatch");
let pool: pg.Pool;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE "${schema}".jobs (id int PRIMARY KEY, status text NOT NULL, handled_by int)`);
  await pool.query(`INSERT INTO "${schema}".jobs SELECT g, 'new', NULL FROM generate_series(1, 2000) g`);
});
afterAll(async () => {
  await pool.end();
  await dropSchemas(schema);
});

it("3 workers with FOR UPDATE SKIP LOCKED handle every pending row exactly once, in batches", async () => {
  const handledIds: number[] = [];
  const worker = (w: number): Promise<number> =>
    updateInBatches<{ id: number }>({
      pool, table: { schema, name: "jobs" }, key: "id", where: "status = $1", params: ["new"], batchSize: 100,
      handle: async (rows, client) => {
        handledIds.push(...rows.map((r) => r.id));
        await new Promise((r) => setTimeout(r, 5));
        await client.query(`UPDATE "${schema}".jobs SET status = 'done', handled_by = $2 WHERE id = ANY($1)`, [rows.map((r) => r.id), w]);
      },
    });
  const counts = await Promise.all([worker(1), worker(2), worker(3)]);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(2000);
  expect(new Set(handledIds).size).toBe(2000);
  expect(handledIds.length).toBe(2000);
  const { rows } = await pool.query<{ n: number; workers: number }>(`SELECT count(*) FILTER (WHERE status = 'done')::int AS n, count(DISTINCT handled_by)::int AS workers FROM "${schema}".jobs`);
  expect(rows[0]!.n).toBe(2000);
  expect(rows[0]!.workers).toBeGreaterThan(1);
});
