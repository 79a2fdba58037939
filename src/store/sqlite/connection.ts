/** Opening a better-sqlite3 connection the way every Sluice process needs it. */
import Database from "better-sqlite3";

/** The driver's connection type; it stays inside `src/store/sqlite/`. */
export type SqliteDatabase = Database.Database;

/** How long a writer waits for another connection's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens the database file (created if missing; the folder must exist) or `":memory:"`.
 *
 * - WAL: readers (`sluice runs` in another terminal) never block the scheduler's writes, and the
 *   reverse.
 * - synchronous=NORMAL: in WAL mode a commit is not fsynced, only checkpoints are; a power cut may
 *   lose the last commits but never corrupts the file. The scheduler rebuilds its state from what
 *   was committed, so that trade buys the write rate `apply` needs.
 * - foreign_keys: on, so an attempt can never point at a task instance that does not exist.
 */
export function openDatabase(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  const db = options.readonly ? new Database(path, { timeout: BUSY_TIMEOUT_MS, readonly: true, fileMustExist: true }) : new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    // Read-only: the journal mode is the writer's (WAL, set when the store was created).
    if (!options.readonly) {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
    }
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma("foreign_keys = ON");
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** SQLite's codes for a damaged file or one that is not a database. */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT"));
}
