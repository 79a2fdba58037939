/** Applies the numbered `.sql` files of `src/store/migrations/sqlite/` to a connection. */
import { listMigrations, pendingMigrations, readMigration } from "../migrate.js";
import { StoreMigrationError } from "../errors.js";
import type { SqliteDatabase } from "./connection.js";

/** The SQLite migrations shipped with this version of Sluice. */
export const SQLITE_MIGRATIONS = new URL("../migrations/sqlite/", import.meta.url);

const CREATE_LEDGER = `
  CREATE TABLE IF NOT EXISTS sluice_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`;

/**
 * Applies every pending migration, each in its own IMMEDIATE transaction together with its row in
 * `sluice_migrations`. Safe when several processes open the same file at once: the write lock is
 * taken before the ledger is re-read, so each migration runs exactly once.
 *
 * @param now - Clock for `applied_at`.
 */
export async function applySqliteMigrations(
  db: SqliteDatabase,
  folder: URL = SQLITE_MIGRATIONS,
  now: () => number = Date.now,
): Promise<void> {
  db.exec(CREATE_LEDGER);
  const appliedStmt = db.prepare<[], number>("SELECT version FROM sluice_migrations").pluck();
  const files = await listMigrations(folder);
  const pending = pendingMigrations(files, appliedStmt.all());
  if (pending.length === 0) return;

  const isApplied = db.prepare<[number], number>("SELECT 1 FROM sluice_migrations WHERE version = ?").pluck();
  const record = db.prepare<[number, string, number]>(
    "INSERT INTO sluice_migrations (version, name, applied_at) VALUES (?, ?, ?)",
  );
  for (const file of pending) {
    const sql = await readMigration(file);
    const applyOne = db.transaction(() => {
      if (isApplied.get(file.version) !== undefined) return; // another process was faster
      db.exec(sql);
      record.run(file.version, file.name, now());
    });
    try {
      applyOne.immediate();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new StoreMigrationError(`Migration ${file.fileName} failed and was rolled back: ${reason}`, { cause });
    }
  }
}
