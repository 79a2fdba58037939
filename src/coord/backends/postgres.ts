/**
 * PostgreSQL backend (node-postgres). Each step is one call of a PL/pgSQL function (see
 * postgres-schema.ts) using the database's clock; waiters are woken by LISTEN/NOTIFY on one
 * channel per schema, with a short fallback poll for what nobody announces (a crashed holder's
 * lease running out).
 */
import { createHash } from "node:crypto";
import pg from "pg";
import type { CoordBackend, RateRequest, RateResult, TryAcquireRequest, TryAcquireResult } from "../backend.js";
import { CoordOptionsError } from "../errors.js";
import { schemaSql } from "./postgres-schema.js";

/** Options of {@link postgresBackend}. */
export interface PostgresBackendOptions {
  /** A pool (not closed by the backend), or a connection string to open one. */
  pool: pg.Pool | string;
  /** Schema holding the tables and functions; created if missing. @defaultValue "sluice_coord" */
  schema?: string;
}

/**
 * A backend shared by every process that reaches the same database and schema.
 *
 * @example
 * import pg from "pg";
 * const backend = postgresBackend({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 */
export function postgresBackend(options: PostgresBackendOptions): CoordBackend {
  const schemaName = options.schema ?? "sluice_coord";
  if (schemaName.length === 0 || schemaName.length > 63 || schemaName.includes("\0")) {
    throw new CoordOptionsError(`postgresBackend: schema must be 1 to 63 characters without NUL, got "${schemaName}"`);
  }
  const s = `"${schemaName.replaceAll('"', '""')}"`;
  const owned = typeof options.pool === "string";
  const pool = typeof options.pool === "string" ? new pg.Pool({ connectionString: options.pool }) : options.pool;
  const channel = `sluice_coord_${createHash("sha1").update(schemaName).digest("hex").slice(0, 16)}`;

  let ready: Promise<void> | null = null;
  const ensure = (): Promise<void> =>
    (ready ??= (async () => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        // Concurrent CREATE OR REPLACE FUNCTION from several processes fails ("tuple concurrently updated").
        await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice_coord_schema'), hashtext($1))", [schemaName]);
        await client.query(schemaSql(s));
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        ready = null;
        throw error;
      } finally {
        client.release();
      }
    })());

  const query = async <R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<R[]> => {
    await ensure();
    return (await pool.query<R>(sql, values)).rows;
  };

  // One LISTEN connection per backend, opened on first subscribe; if it breaks, the next
  // subscribe opens another, and waiters meanwhile fall back to polling.
  const listeners = new Map<string, Set<() => void>>();
  let listener: Promise<pg.Client> | null = null;
  const listen = (): Promise<pg.Client> =>
    (listener ??= (async () => {
      const client = new pg.Client(pool.options);
      client.on("notification", (n) => {
        for (const fn of listeners.get(n.payload ?? "") ?? []) fn();
      });
      client.on("error", () => {
        listener = null;
        for (const set of listeners.values()) for (const fn of set) fn();
      });
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      return client;
    })().catch((error: unknown) => {
      listener = null;
      throw error;
    }));

  return {
    kind: "postgres",
    async tryAcquire(r: TryAcquireRequest): Promise<TryAcquireResult> {
      const [row] = await query<{ fence: string | null }>(`SELECT ${s}.try_acquire($1, $2, $3, $4, $5, $6) AS fence`, [r.key, r.id, r.permits, r.limit, r.ttlMs, channel]);
      return row?.fence != null ? { acquired: true, fencingToken: Number(row.fence) } : { acquired: false };
    },
    async renew(key, id, ttlMs) {
      const [row] = await query<{ ok: boolean }>(`SELECT ${s}.renew($1, $2, $3) AS ok`, [key, id, ttlMs]);
      return row?.ok === true;
    },
    async release(key, id) {
      await query(`SELECT ${s}.release($1, $2, $3)`, [key, id, channel]);
    },
    async leave(key, id) {
      await query(`SELECT ${s}.leave($1, $2, $3)`, [key, id, channel]);
    },
    async subscribe(key, onWake) {
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(onWake);
      await listen();
      return async () => {
        set.delete(onWake);
        if (set.size === 0) listeners.delete(key);
      };
    },
    async rate(r: RateRequest): Promise<RateResult> {
      const [row] = await query<{ admitted: boolean; retry_after_ms: number; at_ms: number }>(`SELECT * FROM ${s}.rate($1, $2, $3, $4)`, [r.key, r.cost, r.emissionMs, r.burst]);
      return { admitted: row?.admitted === true, retryAfterMs: row?.retry_after_ms ?? 0, at: row?.at_ms ?? 0 };
    },
    async close() {
      listeners.clear();
      const l = listener;
      listener = null;
      if (l) await l.then((c) => c.end()).catch(() => {});
      if (owned) await pool.end();
    },
  };
}
