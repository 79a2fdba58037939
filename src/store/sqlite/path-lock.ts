/**
 * An operating-system lock on a store path, so two schedulers never run on one SQLite store, even
 * when someone deletes `.sluice/` under a running one and starts another (the lease row would
 * vanish with the file). The lock lives outside the store's folder, in the temp directory, named
 * after the store's absolute path; it is an exclusive SQLite transaction held open on a small
 * lock database: SQLite takes POSIX (fcntl) locks, which the OS releases when the process dies,
 * and which SQLite also keeps apart between connections of one process. No native addon needed.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";

function lockDir(): string {
  let user = "user";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): one shared folder is fine.
  }
  return join(tmpdir(), `sluice-locks-${user}`);
}

/** Where the lock of the store at `path` lives. */
export function lockFileFor(path: string): string {
  const key = createHash("sha256").update(resolve(path)).digest("hex").slice(0, 32);
  return join(lockDir(), `${key}.lock`);
}

/** A held lock; {@link release} is idempotent. */
export class StorePathLock {
  private constructor(private db: Database.Database | undefined) {}

  /** Take the lock of the store at `path`, or `undefined` if another connection holds it. */
  static tryAcquire(path: string): StorePathLock | undefined {
    mkdirSync(lockDir(), { recursive: true, mode: 0o700 });
    const db = new Database(lockFileFor(path), { timeout: 0 });
    try {
      db.pragma("journal_mode = DELETE");
      db.exec("BEGIN EXCLUSIVE");
      return new StorePathLock(db);
    } catch (err) {
      db.close();
      if ((err as { code?: unknown }).code === "SQLITE_BUSY") return undefined;
      throw err;
    }
  }

  release(): void {
    if (!this.db) return;
    try {
      this.db.exec("ROLLBACK");
    } finally {
      this.db.close();
      this.db = undefined;
    }
  }
}
