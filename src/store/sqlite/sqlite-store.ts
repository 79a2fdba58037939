/**
 * The embedded store: one SQLite file (WAL) in the project's `.sluice/` folder. One process runs
 * the scheduler and writes; any number of readers (`sluice runs`, the dashboard) open the same
 * file alongside it.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type {
  ActiveState, ControlRequest, LeaseClaim, LeaseResult, NewRequest, AttemptQuery, AttemptRecord, CompletionOutcome, EpochMs, EventQuery, EventRecord,
  RunQuery, RunRecord, ScheduleStateRecord, Store, StoreWrite, TaskInstanceRecord,
} from "../types.js";
import { StoreMigrationError } from "../errors.js";
import { openDatabase, type SqliteDatabase } from "./connection.js";
import { applySqliteMigrations } from "./migrations.js";
import { prepareApply } from "./apply.js";
import { prepareLeases, type LeaseOperations } from "./leases.js";
import { prepareQueries, type QueryOperations } from "./queries.js";
import { prepareActiveState } from "./active-state.js";
import { prepareControl, type ControlOperations } from "./control.js";

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /**
   * Apply pending migrations before returning the store, so a fresh project needs no setup step.
   * @defaultValue true
   */
  migrate?: boolean;
}

/** Defaults of {@link SqliteStoreOptions}. */
export const sqliteStoreDefaults = { migrate: true } satisfies Required<SqliteStoreOptions>;

interface Operations extends LeaseOperations, QueryOperations, ControlOperations {
  apply(batch: readonly StoreWrite[]): void;
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

  /** Opens the file (which must be in an existing folder) without migrating; prefer {@link SqliteStore.open}. */
  constructor(path: string) {
    this.path = path;
    this.#db = openDatabase(path);
  }

  /** Creates the parent folder, opens the file and (by default) migrates it. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const { migrate } = { ...sqliteStoreDefaults, ...opts };
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
      this.#ops = { ...prepareQueries(this.#db), ...leases, ...prepareControl(this.#db), apply: prepareApply(this.#db), loadActiveState: prepareActiveState(this.#db) };
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

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  async apply(batch: readonly StoreWrite[]): Promise<void> {
    this.#operations.apply(batch);
  }

  async renewLease(attemptId: number, fencingToken: number, leaseExpiresAt: EpochMs, progress?: unknown): Promise<boolean> {
    return this.#operations.renewLease(attemptId, fencingToken, leaseExpiresAt, progress);
  }

  async completeAttempt(attemptId: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): Promise<boolean> {
    return this.#operations.completeAttempt(attemptId, fencingToken, outcome, endedAt);
  }

  async acquireSchedulerLease(claim: LeaseClaim): Promise<LeaseResult> {
    return this.#operations.acquireSchedulerLease(claim);
  }

  async renewSchedulerLease(owner: string, expiresAt: EpochMs): Promise<boolean> {
    return this.#operations.renewSchedulerLease(owner, expiresAt);
  }

  async releaseSchedulerLease(owner: string): Promise<void> {
    if (this.#db.open) this.#operations.releaseSchedulerLease(owner);
  }

  async addRequest(request: NewRequest): Promise<number> {
    return this.#operations.addRequest(request);
  }

  async takeRequests(limit: number, now: EpochMs = Date.now()): Promise<ControlRequest[]> {
    return this.#operations.takeRequests(limit, now);
  }

  async reclaimRequests(now: EpochMs, maxAgeMs: number): Promise<number> {
    return this.#operations.reclaimRequests(now, maxAgeMs);
  }

  async getRequest(id: number): Promise<ControlRequest | undefined> {
    return this.#operations.getRequest(id);
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
}
