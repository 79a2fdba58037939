/**
 * PostgreSQL helpers for the sluice/pg tests: a schema per file, a client, a table of n rows.
 */
import pg from "pg";
import { TEST_DATABASE_URL } from "../support/pg.js";

export { TEST_DATABASE_URL };

/** A connected client with `search_path` set to `schema`. */
export async function connect(schema?: string, applicationName = "sluice-test"): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: applicationName });
  await c.connect();
  if (schema !== undefined) await c.query(`SET search_path = ${pg.escapeIdentifier(schema)}`);
  return c;
}

/** Rows `[i, "v" + i * mul]` for i in 1..n, generated lazily. */
export function* numbered(n: number, mul = 1): Generator<[number, string]> {
  for (let i = 1; i <= n; i++) yield [i, `v${i * mul}`];
}

/** Count and a checksum of `(id, v)` rows of a table. */
export async function fingerprint(c: pg.ClientBase, table: string): Promise<{ n: number; sum: string }> {
  const r = await c.query<{ n: string; sum: string | null }>(`SELECT count(*) AS n, sum(hashtext(id::text || v))::text AS sum FROM ${table}`);
  return { n: Number(r.rows[0]!.n), sum: r.rows[0]!.sum ?? "0" };
}
