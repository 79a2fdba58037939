/**
 * A `FOR UPDATE SKIP LOCKED` batch updater for queue-like tables: each batch claims rows no other
 * worker holds, hands them to `handle` inside the transaction, and commits. Several workers run
 * side by side without waiting for each other.
 */
import type pg from "pg";
import { qualified, quoteIdent, tableName, type TableName } from "./identifiers.js";

/** Options of {@link updateInBatches}. */
export interface BatchUpdateOptions<R> {
  /** A pool (one client per batch). */
  pool: pg.Pool;
  table: string | TableName;
  /** Key column, used for order. */
  key: string;
  /** Which rows are pending, SQL with `$1…` parameters, e.g. `status = 'new'`. Trusted SQL. */
  where: string;
  params?: readonly unknown[];
  /** Rows per batch. Default 500. */
  batchSize?: number;
  /** Work on claimed rows; must change them so `where` no longer matches (or delete them). */
  handle: (rows: R[], client: pg.PoolClient) => Promise<void>;
}

/**
 * Processes pending rows batch by batch until none is left unlocked; returns the rows handled.
 *
 * @example
 * await updateInBatches({ pool, table: "jobs", key: "id", where: "status = 'new'",
 *   handle: async (rows, c) => { await c.query("UPDATE jobs SET status = 'done' WHERE id = ANY($1)", [rows.map((r) => r.id)]); } });
 */
export async function updateInBatches<R extends pg.QueryResultRow>(o: BatchUpdateOptions<R>): Promise<number> {
  const t = qualified(tableName(o.table));
  const size = o.batchSize ?? 500;
  let total = 0;
  for (;;) {
    const client = await o.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<R>(`SELECT * FROM ${t} WHERE ${o.where} ORDER BY ${quoteIdent(o.key)} LIMIT ${size} FOR UPDATE SKIP LOCKED`, o.params ? [...o.params] : []);
      if (rows.length === 0) {
        await client.query("COMMIT");
        return total;
      }
      await o.handle(rows, client);
      await client.query("COMMIT");
      total += rows.length;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}
