/** Applies the numbered `.sql` files of `src/store/migrations/pg/` to a store's schema. */
import type pg from "pg";
import { StoreMigrationError } from "../errors.js";
import { listMigrations, pendingMigrations, readMigration } from "../migrate.js";

/** The PostgreSQL migrations shipped with this version of Sluice. */
export const PG_MIGRATIONS = new URL("../migrations/pg/", import.meta.url);

/**
 * Every pending migration, each in its own transaction with its row in `sluice_migrations`, under
 * a transaction-scoped advisory lock on the schema's name: processes migrating the same schema at
 * once (several workers starting together) run each migration exactly once, the others wait and
 * find it done.
 */
export async function applyPgMigrations(pool: pg.Pool, schema: string, folder: URL = PG_MIGRATIONS, now: () => number = Date.now): Promise<void> {
  const files = await listMigrations(folder);
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => void (broken = err);
  client.on("error", onError);
  try {
    const lock = async () => client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`sluice:migrate:${schema}`]);
    await client.query("BEGIN");
    try {
      await lock();
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".sluice_migrations (
          version    INTEGER PRIMARY KEY,
          name       TEXT    NOT NULL,
          applied_at BIGINT  NOT NULL)`);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK");
      throw error;
    }
    const applied = async (): Promise<number[]> => (await client.query<{ version: number }>(`SELECT version FROM "${schema}".sluice_migrations`)).rows.map((r) => r.version);
    const pending = pendingMigrations(files, await applied());
    for (const file of pending) {
      const sql = await readMigration(file);
      await client.query("BEGIN");
      try {
        await lock();
        if (!(await applied()).includes(file.version)) {
          await client.query(`SET LOCAL search_path TO "${schema}"`);
          await client.query(sql);
          await client.query(`INSERT INTO "${schema}".sluice_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [file.version, file.name, now()]);
        }
        await client.query("COMMIT");
      } catch (cause) {
        await client.query("ROLLBACK").catch(() => undefined);
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new StoreMigrationError(`Migration pg/${file.fileName} failed and was rolled back: ${reason}`, { cause });
      }
    }
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

/**
 * Whether the schema holds a migrated Sluice store, and if so whether this version of Sluice knows
 * every migration in it.
 *
 * @throws StoreMigrationError when the schema was migrated by a newer Sluice.
 */
export async function pgSchemaState(pool: pg.Pool, schema: string, folder: URL = PG_MIGRATIONS): Promise<"missing" | "behind" | "current"> {
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [`"${schema}".sluice_migrations`]);
  if (exists.rows[0]?.t == null) return "missing";
  const applied = (await pool.query<{ version: number }>(`SELECT version FROM "${schema}".sluice_migrations`)).rows.map((r) => r.version);
  if (applied.length === 0) return "missing";
  return pendingMigrations(await listMigrations(folder), applied).length > 0 ? "behind" : "current";
}
