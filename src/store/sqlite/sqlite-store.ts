/**
 * The embedded store: one SQLite file (WAL) in the project's `.sluice/` folder. One process runs
 * the scheduler and writes; any number of readers (`sluice runs`, the dashboard) open the same
 * file alongside it.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, watch, type FSWatcher } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import Database, { type Statement } from "better-sqlite3";
import type {
  ActiveState, AttemptLogLine, ControlRequest, LeaseClaim, LeaseFence, PruneResult, StoredDefinitions, LeaseResult, NewRequest, AttemptQuery, AttemptRecord, CompletionOutcome, EpochMs, EventQuery, EventRecord,
  RunQuery, RunRecord, ScheduleStateRecord, Store, StoreWrite, TaskInstanceRecord,
} from "../types.js";
import { StoreCorruptError, StoreGoneError, StoreMigrationError, StoreNotFoundError } from "../errors.js";
import { isCorruption, openDatabase, type SqliteDatabase } from "./connection.js";
import { StorePathLock } from "./path-lock.js";
import { applySqliteMigrations } from "./migrations.js";
import { prepareApply } from "./apply.js";
import { prepareLeases, type LeaseOperations } from "./leases.js";
import { prepareQueries, type QueryOperations } from "./queries.js";
import { prepareActiveState } from "./active-state.js";
import { prepareControl, type ControlOperations } from "./control.js";
import { preparePrune } from "./prune.js";

/**
 * The owner reported while another process holds the store's OS lock but has not written the lease
 * row yet. Ends in ":cli" like the brief holds of CLI commands: callers wait for it.
 */
export const ACQUIRING_OWNER = "(taking the lease):cli";

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /**
   * Apply pending migrations before returning the store, so a fresh project needs no setup step.
   * @defaultValue true
   */
  migrate?: boolean;
  /**
   * Open for reading only (`sluice runs`, `history`, …): the file must exist (else
   * `StoreNotFoundError`), nothing is created or migrated, and read-only files work.
   * @defaultValue false
   */
  readonly?: boolean;
}

/** Defaults of {@link SqliteStoreOptions}. */
export const sqliteStoreDefaults = { migrate: true, readonly: false } satisfies Required<SqliteStoreOptions>;

interface Operations extends LeaseOperations, QueryOperations, ControlOperations {
  prune(before: EpochMs, limit: number): PruneResult;
  apply(batch: readonly StoreWrite[], fence?: LeaseFence): void;
  loadActiveState(): ActiveState;
}

/**
 * {@link Store} on a SQLite file through better-sqlite3. The driver is synchronous; the methods
 * are `async` only to honour the interface, and each call completes before it returns.
 *
 * Semantics every store shares (checked by `test/store/conformance.ts`):
 * - `apply` runs a batch in one transaction; a write that would duplicate a record rejects with
 *   `StoreConflictError`, a write changing a record that does not exist with `StoreWriteError`,
 *   and nothing of the batch remains. An optional field left out of an update keeps its column.
 * - `completeAttempt` ends the attempt (state, endedAt, error) and, on success, stores the output
 *   on the task instance; the task instance's state is the scheduler's to write.
 *
 * @example
 * const store = await SqliteStore.open(".sluice/sluice.db");
 * await store.apply([{ type: "appendEvent", event }]);
 * await store.close();
 */
export class SqliteStore implements Store {
  readonly kind = "sqlite";
  /** The file as given to the constructor, or `":memory:"`. */
  readonly path: string;
  readonly #db: SqliteDatabase;
  #ops: Operations | undefined;

  /** The OS lock on this store's path, while this store holds the scheduler lease. */
  #pathLock: StorePathLock | undefined;
  /** The file's identity when it was opened: a deleted or replaced file is noticed. */
  readonly #identity: { dev: number; ino: number } | undefined;

  /** Opens the file (which must be in an existing folder) without migrating; prefer {@link SqliteStore.open}. */
  constructor(path: string, options: { readonly?: boolean } = {}) {
    this.path = path;
    try {
      this.#db = openDatabase(path, options);
    } catch (err) {
      if (isCorruption(err)) throw new StoreCorruptError(path, [err instanceof Error ? err.message : String(err)], { cause: err });
      throw err;
    }
    if (path !== ":memory:") {
      const st = statSync(path);
      this.#identity = { dev: st.dev, ino: st.ino };
    }
  }

  /** Creates the parent folder, opens the file and (by default) migrates it. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const { migrate, readonly } = { ...sqliteStoreDefaults, ...opts };
    if (readonly) {
      if (path === ":memory:" || !existsSync(path)) throw new StoreNotFoundError(path);
      const store = new SqliteStore(path, { readonly: true });
      try {
        store.#db.prepare("SELECT count(*) FROM sqlite_master").get();
        return store;
      } catch (err) {
        await store.close();
        // A WAL store in a folder this user may not write to: SQLite cannot create the shared-memory
        // file readers need. Read a private snapshot of it instead (the file and its WAL).
        const code = (err as { code?: unknown }).code;
        if (code !== "SQLITE_READONLY_DIRECTORY" && code !== "SQLITE_CANTOPEN" && code !== "SQLITE_READONLY_CANTINIT") throw err;
        return SqliteStore.#snapshot(path);
      }
    }
    if (path !== ":memory:") await mkdir(dirname(resolve(path)), { recursive: true });
    const store = new SqliteStore(path);
    if (migrate) {
      try {
        await store.migrate();
      } catch (error) {
        await store.close();
        throw error;
      }
    }
    return store;
  }

  /** Statements are prepared on first use, because they need the tables of the migrations. */
  get #operations(): Operations {
    if (this.#ops !== undefined) return this.#ops;
    try {
      const leases = prepareLeases(this.#db);
      const control = prepareControl(this.#db);
      // Holding the store's OS lock, this process is the only one that can hold the lease: an
      // expiry while it was paused (a laptop asleep) changes nothing, ownership is enough.
      const fence = (owner: string, now: number) => control.checkFence(owner, this.#pathLock ? undefined : now);
      this.#ops = { ...prepareQueries(this.#db), ...leases, ...control, apply: prepareApply(this.#db, fence), loadActiveState: prepareActiveState(this.#db), prune: preparePrune(this.#db) };
      return this.#ops;
    } catch (cause) {
      if (cause instanceof Database.SqliteError && cause.message.startsWith("no such table")) {
        throw new StoreMigrationError(`The store ${this.path} has no schema yet: call migrate() or run \`sluice migrate\`.`, { cause });
      }
      throw cause;
    }
  }

  async migrate(): Promise<void> {
    await applySqliteMigrations(this.#db);
  }

  /** A folder removed on close (a snapshot's). */
  #tempDir: string | undefined;

  static async #snapshot(path: string): Promise<SqliteStore> {
    const dir = mkdtempSync(join(tmpdir(), "sluice-snapshot-"));
    const copy = join(dir, basename(path));
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    const store = new SqliteStore(copy, { readonly: true });
    store.#tempDir = dir;
    return store;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#tempDir !== undefined) {
      if (this.#db.open) this.#db.close();
      rmSync(this.#tempDir, { recursive: true, force: true });
      this.#tempDir = undefined;
    }
    this.#pathLock?.release();
    this.#pathLock = undefined;
    if (this.#db.open) this.#db.close();
  }

  /**
   * SQLite's `quick_check`: the problems found (at most `limit`), none when the file is sound.
   * O(size of the file); `sluice run` runs it once at start.
   */
  async checkIntegrity(limit = 20): Promise<string[]> {
    try {
      const rows = this.#db.pragma(`quick_check(${Math.max(1, Math.floor(limit))})`) as Array<{ quick_check: string }>;
      const problems = rows.map((r) => r.quick_check).filter((p) => p !== "ok");
      return problems;
    } catch (err) {
      if (isCorruption(err)) return [err instanceof Error ? err.message : String(err)];
      throw err;
    }
  }

  /** Copy the whole store, consistent at one instant, to `file` (SQLite's online backup: writers keep writing). */
  async backup(file: string): Promise<void> {
    await this.#db.backup(file);
  }

  /** Throws `StoreGoneError` when the file at {@link path} is no longer the file this store opened. */
  checkFile(): void {
    if (this.#identity === undefined) return;
    let st;
    try {
      st = statSync(this.path);
    } catch {
      throw new StoreGoneError(this.path, "deleted");
    }
    if (st.ino !== this.#identity.ino || st.dev !== this.#identity.dev) throw new StoreGoneError(this.path, "replaced");
  }

  async apply(batch: readonly StoreWrite[], fence?: LeaseFence): Promise<void> {
    this.#operations.apply(batch, fence);
  }

  async renewLease(attemptId: number, fencingToken: number, leaseExpiresAt: EpochMs, progress?: unknown): Promise<boolean> {
    return this.#operations.renewLease(attemptId, fencingToken, leaseExpiresAt, progress);
  }

  async completeAttempt(attemptId: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): Promise<boolean> {
    return this.#operations.completeAttempt(attemptId, fencingToken, outcome, endedAt);
  }

  /**
   * The lease row, plus an OS lock on the store's path (see `path-lock.ts`): a process that holds
   * neither gets `acquired: false` with the current holder.
   */
  async acquireSchedulerLease(claim: LeaseClaim): Promise<LeaseResult> {
    this.checkFile();
    const ops = this.#operations;
    let taken: StorePathLock | undefined;
    if (this.path !== ":memory:" && this.#pathLock === undefined) {
      taken = StorePathLock.tryAcquire(this.path);
      if (taken === undefined) {
        const row = ops.currentLease();
        // Locked but no row yet: the holder is between taking the lock and writing the row.
        const owner = row?.owner ?? ACQUIRING_OWNER;
        return { acquired: false, holder: row ? `${row.owner}, pid ${row.pid} on ${row.host}` : "another process (it holds the store's lock)", owner };
      }
    }
    const result = ops.acquireSchedulerLease(claim);
    if (result.acquired) {
      this.#pathLock ??= taken;
    } else {
      taken?.release();
    }
    return result;
  }

  async renewSchedulerLease(owner: string, expiresAt: EpochMs, now?: EpochMs): Promise<boolean> {
    this.checkFile();
    return this.#operations.renewSchedulerLease(owner, expiresAt, this.#pathLock ? undefined : now);
  }

  async releaseSchedulerLease(owner: string): Promise<void> {
    if (this.#db.open) this.#operations.releaseSchedulerLease(owner);
    this.#pathLock?.release();
    this.#pathLock = undefined;
  }

  async addRequest(request: NewRequest): Promise<number> {
    return this.#operations.addRequest(request);
  }

  async takeRequests(limit: number, now: EpochMs = Date.now(), owner?: string): Promise<ControlRequest[]> {
    return this.#operations.takeRequests(limit, now, owner ?? null);
  }

  /**
   * A taken request's taker may still commit its answer as long as its process lives and holds
   * the store's OS lock (an expired lease row does not stop it): then it is not withdrawn.
   */
  async abandonRequest(id: number, now: EpochMs, why: string): Promise<boolean> {
    const ops = this.#operations;
    const req = ops.getRequest(id);
    if (!req || req.resolvedAt !== null) return false;
    if (req.takenAt === null || this.path === ":memory:" || this.#pathLock) return ops.abandonRequest(id, now, why, false);
    const probe = StorePathLock.tryAcquire(this.path);
    if (!probe) return false;
    try {
      return ops.abandonRequest(id, now, why, true);
    } finally {
      probe.release();
    }
  }

  async reclaimRequests(now: EpochMs, maxAgeMs: number): Promise<number> {
    return this.#operations.reclaimRequests(now, maxAgeMs);
  }

  /**
   * Another process's `sluice trigger`/`cancel` writes to the store's WAL file: watching that file
   * (inotify, FSEvents) wakes the scheduler's inbox at once instead of at its next poll. The
   * watcher may miss events (network file systems): the scheduler keeps polling.
   */
  async watchRequests(listener: () => void): Promise<() => Promise<void>> {
    if (this.path === ":memory:") return async () => undefined;
    let watcher: FSWatcher | undefined;
    try {
      // The WAL exists while the store is open in WAL mode; watch the folder if it does not yet.
      const wal = `${this.path}-wal`;
      watcher = existsSync(wal) ? watch(wal, { persistent: false }, () => listener()) : watch(dirname(this.path), { persistent: false }, (_e, name) => name === basename(wal) && listener());
      watcher.on("error", () => watcher?.close());
    } catch {
      watcher = undefined;
    }
    return async () => watcher?.close();
  }

  /** SQLite notifications are best effort (a file watcher): the scheduler keeps its fast poll. */
  readonly notifiesReliably = false;

  async getRequest(id: number): Promise<ControlRequest | undefined> {
    return this.#operations.getRequest(id);
  }

  async saveDefinitions(d: StoredDefinitions): Promise<void> {
    this.#db
      .prepare(`INSERT INTO definitions (id, fingerprint, saved_at, config) VALUES (1, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, saved_at = excluded.saved_at, config = excluded.config`)
      .run(d.fingerprint, d.savedAt, JSON.stringify(d.config));
  }

  async loadDefinitions(): Promise<StoredDefinitions | undefined> {
    // A store made by an older Sluice (read-only, not migrated) has no table yet: no definitions.
    const exists = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'definitions'").get();
    if (!exists) return undefined;
    const row = this.#db.prepare<[], { fingerprint: string; saved_at: number; config: string }>("SELECT fingerprint, saved_at, config FROM definitions WHERE id = 1").get();
    return row ? { fingerprint: row.fingerprint, savedAt: row.saved_at, config: JSON.parse(row.config) as unknown } : undefined;
  }

  async prune(before: EpochMs, limit: number): Promise<PruneResult> {
    return this.#operations.prune(before, limit);
  }

  async loadActiveState(): Promise<ActiveState> {
    return this.#operations.loadActiveState();
  }

  async getRun(id: number): Promise<RunRecord | undefined> {
    return this.#operations.getRun(id);
  }

  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    return this.#operations.listRuns(query);
  }

  async listTasks(runId: number): Promise<TaskInstanceRecord[]> {
    return this.#operations.listTasks(runId);
  }

  async getAttempt(id: number): Promise<AttemptRecord | undefined> {
    return this.#operations.getAttempt(id);
  }

  async listAttempts(query: AttemptQuery = {}): Promise<AttemptRecord[]> {
    return this.#operations.listAttempts(query);
  }

  async listEvents(query: EventQuery = {}): Promise<EventRecord[]> {
    return this.#operations.listEvents(query);
  }

  async listSchedules(): Promise<ScheduleStateRecord[]> {
    return this.#operations.listSchedules();
  }

  async appendAttemptLogs(lines: readonly AttemptLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    const db = this.#db;
    // INSERT … SELECT: a line of an attempt that is gone (pruned) is skipped, not a foreign-key error.
    const insert = (this.#logInsert ??= db.prepare(`INSERT OR IGNORE INTO attempt_logs (attempt_id, seq, at, level, msg, data)
      SELECT @attemptId, @seq, @at, @level, @msg, @data WHERE EXISTS (SELECT 1 FROM attempts WHERE id = @attemptId)`));
    db.transaction(() => {
      for (const l of lines) insert.run({ attemptId: l.attemptId, seq: l.seq, at: l.at, level: l.level, msg: l.msg, data: l.data === null ? null : JSON.stringify(l.data) });
    })();
  }

  async listAttemptLogs(attemptId: number, afterSeq = 0, limit = 10_000): Promise<AttemptLogLine[]> {
    const select = (this.#logSelect ??= this.#db.prepare<[number, number, number], LogRow>("SELECT attempt_id, seq, at, level, msg, data FROM attempt_logs WHERE attempt_id = ? AND seq > ? ORDER BY seq LIMIT ?"));
    return select.all(attemptId, afterSeq, limit).map(toLogLine);
  }

  #logInsert: Statement | undefined;
  #logSelect: Statement<[number, number, number], LogRow> | undefined;
}

interface LogRow {
  attempt_id: number;
  seq: number;
  at: number;
  level: AttemptLogLine["level"];
  msg: string;
  data: string | null;
}

function toLogLine(r: LogRow): AttemptLogLine {
  return { attemptId: r.attempt_id, seq: r.seq, at: r.at, level: r.level, msg: r.msg, data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>) };
}
