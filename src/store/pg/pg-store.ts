/**
 * The PostgreSQL store: the same {@link Store} as the embedded one, on a schema of a PostgreSQL
 * database shared by every Sluice process of a deployment. node-postgres (`pg`) with a small pool;
 * every multi-statement call is one transaction on one connection.
 */
import { hostname } from "node:os";
import pg from "pg";
import type { BucketShape } from "../../core/rate.js";
import type {
  ActiveState, AttemptLogLine, AttemptQuery, AttemptRecord, CompletionOutcome, ControlRequest, EpochMs, EventQuery, EventRecord, LeaseClaim, LeaseFence,
  LeaseResult, NewRequest, PruneResult, RunQuery, RunRecord, ScheduleStateRecord, Store, StoredDefinitions, StoreWrite, TaskInstanceRecord,
  ClaimResult, ClaimedWork, DispatchWrite, RemoteAttemptState, TokenGrant, TokenStore, WorkerInfo, WorkerStore,
} from "../types.js";
import { WORKERS_CHANGED } from "../types.js";
import { StoreConflictError, StoreLeaseLostError, StoreMigrationError, StoreNotFoundError, StoreWriteError, isStoreUnavailable } from "../errors.js";
import {
  ATTEMPT_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS, resourceRowsOf, resourcesJson, toAttemptRecords, toEventRecord, toJson, toRequest, toRunRecord, toTaskRecord,
  type AttemptRow, type EventRow, type RequestRow, type RunRow, type TaskRow,
} from "../rows.js";
import { describeWrite, iso } from "../writes.js";
import { createPool, describeConnectError, redactUrl, sqlState, type PgLocation, type PoolOptions } from "./connect.js";
import { applyPgMigrations, pgSchemaState } from "./migrations.js";
import { CONTROL_PIPELINE_SQL, controlPipelineParams, planBatch, workNotifications } from "./batch.js";
import { processAlive } from "../process-alive.js";

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions extends PoolOptions {
  /** Apply pending migrations before returning. @defaultValue true */
  migrate?: boolean;
  /** Read commands: the schema must exist and be migrated (else `StoreNotFoundError`); nothing is created. @defaultValue false */
  readonly?: boolean;
}

/** Default page sizes, as documented on the query types. */
const LIMITS = { runs: 50, attempts: 100, events: 1000 };
const limitOf = (limit: number | undefined, fallback: number): number => (limit === undefined ? fallback : Math.max(0, Math.floor(limit)));

/** A query with a stable name, so each connection parses and plans it once. */
const q = (name: string, text: string, values: unknown[]): pg.QueryConfig => ({ name: `sluice_${name}`, text, values });

/**
 * {@link Store} on PostgreSQL.
 *
 * Semantics are those of every store (checked by `test/store/conformance.ts`); what PostgreSQL adds:
 * - Several processes on several machines share one store. The scheduler lease is a row; taking
 *   it locks the table, and every fenced batch reads the row `FOR SHARE` inside its transaction, so
 *   a batch and a takeover never interleave: a scheduler that lost the lease cannot write.
 * - Requests from `sluice trigger`/`cancel` are claimed with `FOR UPDATE SKIP LOCKED`.
 *
 * @example
 * const store = await PgStore.open({ url: "postgres://localhost/etl", schema: "sluice" });
 * await store.apply([{ type: "appendEvent", event }]);
 * await store.close();
 */
export class PgStore implements Store, WorkerStore, TokenStore {
  readonly kind = "postgres";
  readonly #pool: pg.Pool;
  readonly #location: PgLocation;

  private constructor(pool: pg.Pool, location: PgLocation) {
    this.#pool = pool;
    this.#location = location;
  }

  /** The schema holding this store's tables. */
  get schema(): string {
    return this.#location.schema;
  }

  /** Where the store is, password hidden: for logs and messages. */
  get description(): string {
    return `${redactUrl(this.#location.url)} (schema ${this.#location.schema})`;
  }

  /**
   * Connects (checking the server answers), then migrates the schema, or for `readonly` checks
   * that it exists.
   *
   * @throws StoreConnectError when the server cannot be reached or refuses the user or database.
   * @throws StoreNotFoundError (`readonly`) when the schema holds no Sluice store.
   * @throws StoreMigrationError when the schema was migrated by a newer Sluice.
   */
  static async open(location: PgLocation, options: PgStoreOptions = {}): Promise<PgStore> {
    const pool = createPool(location, options);
    const store = new PgStore(pool, location);
    try {
      try {
        await pool.query("SELECT 1");
      } catch (error) {
        throw describeConnectError(error, location);
      }
      if (options.readonly) {
        const state = await pgSchemaState(pool, location.schema);
        if (state === "missing") throw new StoreNotFoundError(`${redactUrl(location.url)} (schema ${location.schema})`, "create it with `sluice migrate --db …`, or start `sluice run` on it (it migrates)");
      } else if (options.migrate ?? true) {
        await store.migrate();
      }
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  async migrate(): Promise<void> {
    await applyPgMigrations(this.#pool, this.#location.schema);
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#pool.end();
    }
  }
  #closed = false;

  /** Runs `fn` in a transaction on one connection; rolls back on any error. */
  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
    const client = await this.#pool.connect();
    // The pool listens for errors only on idle connections. One checked out here may be ended by
    // the server between two statements (this process was stopped past the idle-in-transaction
    // timeout, or the server restarted): without a listener that error would end the process.
    let broken: Error | undefined;
    const onError = (err: Error) => void (broken = err);
    client.on("error", onError);
    try {
      await client.query(begin);
      try {
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    } catch (error) {
      throw this.#missingSchema(error);
    } finally {
      client.off("error", onError);
      // A broken connection is closed, not handed to the next caller.
      client.release(broken);
    }
  }

  async #query<R extends pg.QueryResultRow>(config: pg.QueryConfig | string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await (typeof config === "string" ? this.#pool.query<R>(config, values) : this.#pool.query<R>(config));
    } catch (error) {
      throw this.#missingSchema(error);
    }
  }

  /** "relation does not exist": the schema was never migrated (or was dropped). */
  #missingSchema(error: unknown): unknown {
    if (sqlState(error) !== "42P01") return error;
    return new StoreMigrationError(`The store ${this.description} has no Sluice tables: run \`sluice migrate --db …\` (or start the scheduler, which migrates).`, { cause: error });
  }

  // ── writes ────────────────────────────────────────────────────────────────────────────────

  /**
   * Grouped by kind, a constant number of statements per batch (see `batch.ts`). Should that fail
   * (a conflict, a row that does not exist), the batch is replayed write by write in a new
   * transaction, which fails on the exact write and names it — or, if grouping was the only
   * problem, succeeds.
   */
  async apply(batch: readonly StoreWrite[], fence?: LeaseFence): Promise<void> {
    if (batch.length === 0) return;
    try {
      const { statements } = planBatch(batch, this.#channel("work"), fence);
      const [first, ...rest] = statements;
      if (!first) return;
      let fenced: boolean;
      if (rest.length === 0) {
        // One statement is atomic by itself: no BEGIN and COMMIT around it (one round trip).
        fenced = Number((await this.#query<{ fenced: number }>(first)).rows[0]?.fenced ?? 0) > 0;
      } else {
        fenced = await this.#transaction(async (client) => {
          if (Number((await client.query<{ fenced: number }>(first)).rows[0]?.fenced ?? 0) === 0) return false;
          for (const statement of rest) await client.query(statement);
          return true;
        });
      }
      if (!fenced && fence) {
        // Nothing was written; say who holds the lease now (this throws).
        await this.#transaction((client) => checkFence(client, fence.owner, fence.now));
        throw new StoreLeaseLostError(fence.owner, `the scheduler lease of ${fence.owner} is lost; this scheduler may no longer write`);
      }
    } catch (error) {
      if (error instanceof StoreLeaseLostError || isStoreUnavailable(error)) throw error;
      // A group missed a row (its statement fails with division by zero) or a constraint failed: nothing of the batch
      // was written. Replayed write by write, it fails on the exact write and names it — or, if
      // grouping was the only problem, succeeds.
      await this.#applyOneByOne(batch, fence);
    }
  }

  async #applyOneByOne(batch: readonly StoreWrite[], fence?: LeaseFence): Promise<void> {
    await this.#transaction(async (client) => {
      if (fence) await checkFence(client, fence.owner, fence.now);
      for (let i = 0; i < batch.length; i++) {
        const write = batch[i] as StoreWrite;
        try {
          await applyOne(client, write, i);
        } catch (error) {
          throw translateWriteError(error, write, i);
        }
      }
      // Delivered at commit: workers given work start it, those of the queue claim the rest.
      const notes = workNotifications(batch.filter((w): w is DispatchWrite => w.type === "dispatch"));
      if (notes.length > 0) await client.query("SELECT pg_notify($1, p) FROM unnest($2::text[]) p", [this.#channel("work"), notes]);
    });
  }

  /** See {@link TokenStore.takeTokens}: one call of `take_tokens` (migration 0008), on the database's clock. */
  async takeTokens(bucket: string, min: number, max: number, shape: BucketShape): Promise<TokenGrant> {
    const { rows } = await this.#query<{ taken: number; retry_after_ms: number; next_token_ms: number; at_ms: number }>(
      q("take_tokens", "SELECT taken, retry_after_ms, next_token_ms, at_ms FROM take_tokens($1, $2, $3, $4, $5)", [bucket, min, max, shape.emissionMs, shape.burst]),
    );
    const r = rows[0];
    return { taken: r?.taken ?? 0, retryAfterMs: r?.retry_after_ms ?? shape.emissionMs, nextTokenMs: r?.next_token_ms ?? 0, at: r?.at_ms ?? Date.now() };
  }

  /** See {@link TokenStore.refundTokens}. */
  async refundTokens(bucket: string, tokens: number, shape: BucketShape): Promise<void> {
    await this.#query(q("refund_tokens", "SELECT refund_tokens($1, $2, $3)", [bucket, tokens, shape.emissionMs]));
  }

  /** See {@link TokenStore.peekTokens}. */
  async peekTokens(bucket: string, shape: BucketShape): Promise<{ tokens: number; nextTokenMs: number }> {
    const { rows } = await this.#query<{ tokens: number; next_token_ms: number }>(q("peek_tokens", "SELECT tokens, next_token_ms FROM peek_tokens($1, $2, $3)", [bucket, shape.emissionMs, shape.burst]));
    return { tokens: rows[0]?.tokens ?? 0, nextTokenMs: rows[0]?.next_token_ms ?? 0 };
  }

  async renewLease(attemptId: number, fencingToken: number, leaseExpiresAt: EpochMs, progress?: unknown): Promise<boolean> {
    const result = await this.#query(
      q("renew_lease", `UPDATE attempts SET lease_expires_at = $3, progress = CASE WHEN $4 THEN $5 ELSE progress END
        WHERE id = $1 AND fencing_token = $2 AND ${STILL_RUNNING}`, [attemptId, fencingToken, leaseExpiresAt, progress !== undefined, toJson(progress)]),
    );
    return result.rowCount === 1;
  }

  async completeAttempt(attemptId: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): Promise<boolean> {
    const [recorded] = await this.completeAttempts([{ attemptId, fencingToken, outcome, endedAt }]);
    return recorded === true;
  }


  // ── the scheduler lease and the inbox ─────────────────────────────────────────────────────

  async acquireSchedulerLease(claim: LeaseClaim): Promise<LeaseResult> {
    return this.#transaction(async (client) => {
      // EXCLUSIVE conflicts with the FOR SHARE of fenced batches: no batch of the old holder
      // commits between this check and the takeover.
      // Never wait long behind a stalled holder of the row: answer "not acquired", try again later.
      await client.query("SET LOCAL lock_timeout = '1s'");
      try {
        await client.query("LOCK TABLE scheduler_lease IN EXCLUSIVE MODE");
      } catch (error) {
        if (sqlState(error) === "55P03") return { acquired: false as const, holder: "a scheduler in the middle of a write", owner: "(busy)" };
        throw error;
      }
      const row = (await client.query<{ owner: string; host: string; pid: number; expires_at: number }>("SELECT owner, host, pid, expires_at FROM scheduler_lease WHERE id = 1")).rows[0];
      const free =
        row === undefined ||
        row.owner === claim.owner ||
        row.expires_at <= claim.now ||
        (row.host === hostname() && !processAlive(row.pid)) ||
        (claim.holdsLock === true && !row.owner.endsWith(":cli"));
      if (!free) return { acquired: false, holder: `${row.owner}, pid ${row.pid} on ${row.host}`, owner: row.owner };
      await client.query(
        `INSERT INTO scheduler_lease (id, owner, host, pid, expires_at) VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at`,
        [claim.owner, claim.host, claim.pid, claim.now + claim.ttlMs],
      );
      return { acquired: true };
    });
  }

  async tryLockScheduler(): Promise<(() => Promise<void>) | undefined> {
    const client = new pg.Client({ connectionString: this.#location.url, application_name: "sluice scheduler lock" });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const got = (await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [`sluice:scheduler:${this.#location.schema}`])).rows[0]?.ok === true;
      if (got) return async () => void (await client.end().catch(() => undefined));
    } catch {
      // Unreachable now: not held; the caller tries again.
    }
    await client.end().catch(() => undefined);
    return undefined;
  }

  async renewSchedulerLease(owner: string, expiresAt: EpochMs, now?: EpochMs): Promise<boolean> {
    const result = await this.#query(q("renew_scheduler", "UPDATE scheduler_lease SET expires_at = $2 WHERE id = 1 AND owner = $1 AND ($3::bigint IS NULL OR expires_at > $3)", [owner, expiresAt, now ?? null]));
    return (result.rowCount ?? 0) > 0;
  }

  async releaseSchedulerLease(owner: string): Promise<void> {
    if (this.#closed) return;
    await this.#query("DELETE FROM scheduler_lease WHERE id = 1 AND owner = $1", [owner]);
  }

  /** A NOTIFY channel of this store (one set per schema). */
  #channel(name: "requests" | "work" | "done"): string {
    return `sluice_${name}_${this.#location.schema}`;
  }

  async addRequest(request: NewRequest): Promise<number> {
    // The notification is delivered when the insert commits: a listening scheduler wakes at once.
    const result = await this.#query<{ id: number }>(
      `WITH added AS (INSERT INTO requests (type, pipeline, run_id, params, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id)
       SELECT id, pg_notify($6, id::text) FROM added`,
      [request.type, request.pipeline ?? null, request.runId ?? null, toJson(request.params ?? {}) ?? "{}", request.at, this.#channel("requests")],
    );
    return (result.rows[0] as { id: number }).id;
  }

  async watchRequests(listener: () => void): Promise<() => Promise<void>> {
    return this.watch("requests", listener);
  }

  /**
   * LISTEN on a connection of its own (outside the pool). When that connection breaks it is
   * re-opened with backoff, and `listener` is called once it is back (what was notified meanwhile
   * was missed); callers also poll, less often.
   */
  async watch(name: "requests" | "work" | "done", listener: (attemptIds?: readonly number[], payload?: string) => void): Promise<() => Promise<void>> {
    const channel = this.#channel(name);
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (delay: number): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: this.#location.url, application_name: `sluice listen ${name}` });
      const again = () => {
        if (stopped || client !== c) return;
        client = undefined;
        c.end().catch(() => undefined);
        retry = setTimeout(() => void connect(Math.min(delay * 2, 5_000)), delay);
        retry.unref();
      };
      client = c;
      c.on("error", again);
      c.on("end", again);
      c.on("notification", (n) => {
        if (n.channel !== channel) return;
        // "done" carries the ids of the attempts a worker just ended ("12,13,…"), else nothing.
        const ids = name === "done" && n.payload ? n.payload.split(",").map(Number) : undefined;
        // "work" carries what the scheduler gave one worker (see assignedHeader), or nothing.
        listener(ids && ids.every(Number.isSafeInteger) ? ids : undefined, name === "work" || n.payload === WORKERS_CHANGED ? n.payload : undefined);
      });
      try {
        await c.connect();
        await c.query(`LISTEN "${channel}"`);
        listener();
      } catch {
        again();
      }
    };
    await connect(100);
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    };
  }

  // ── worker processes (WorkerStore) ───────────────────────────────────────────────────────

  async registerWorker(info: Omit<WorkerInfo, "stoppedAt" | "prefetch"> & { prefetch?: number }, ttlMs: number): Promise<{ ok: true } | { ok: false; holder: string }> {
    return this.#transaction(async (client) => {
      const row = (await client.query<{ host: string; pid: number; heartbeat_at: number; stopped_at: number | null }>("SELECT host, pid, heartbeat_at, stopped_at FROM workers WHERE name = $1 FOR UPDATE", [info.name])).rows[0];
      const live = row && row.stopped_at === null && row.heartbeat_at + ttlMs > info.heartbeatAt && !(row.host === info.host && row.pid === info.pid) && !(row.host === hostname() && !processAlive(row.pid));
      if (live) return { ok: false as const, holder: `pid ${row.pid} on ${row.host}, last heartbeat ${iso(row.heartbeat_at)}` };
      await client.query(
        `INSERT INTO workers (name, host, pid, queues, slots, prefetch, memory_mb, fingerprint, avoid, started_at, heartbeat_at, stopped_at)
         VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, $9, $10, NULL)
         ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, slots = excluded.slots, prefetch = excluded.prefetch,
           memory_mb = excluded.memory_mb, fingerprint = excluded.fingerprint, avoid = excluded.avoid, started_at = excluded.started_at,
           heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, draining_at = NULL`,
        [info.name, info.host, info.pid, info.queues, info.slots, info.memoryMb, info.fingerprint, info.avoid, info.startedAt, info.heartbeatAt, info.prefetch ?? 0],
      );
      // The scheduler reads the workers again at once (it reads them at most every second otherwise).
      await client.query("SELECT pg_notify($1, $2)", [this.#channel("done"), WORKERS_CHANGED]);
      return { ok: true as const };
    });
  }

  async heartbeatWorker(name: string, now: EpochMs, attempts: ReadonlyArray<{ id: number; fencingToken: number }>, leaseExpiresAt: EpochMs): Promise<number[]> {
    return this.#transaction(async (client) => {
      await client.query(q("worker_heartbeat", "UPDATE workers SET heartbeat_at = $2 WHERE name = $1", [name, now]));
      if (attempts.length === 0) return [];
      const renewed = await client.query<{ id: number }>(
        q("worker_renew", `UPDATE attempts a SET lease_expires_at = $2
          FROM unnest($3::bigint[], $4::bigint[]) AS mine (id, token)
          WHERE a.id = mine.id AND a.fencing_token = mine.token AND ${STILL_RUNNING_A} AND a.worker_id = $1
          RETURNING a.id`, [name, leaseExpiresAt, attempts.map((a) => a.id), attempts.map((a) => a.fencingToken)]),
      );
      return renewed.rows.map((r) => r.id);
    });
  }

  async stopWorker(name: string, now: EpochMs): Promise<void> {
    if (this.#closed) return;
    await this.#query("WITH s AS (UPDATE workers SET stopped_at = $2, heartbeat_at = $2 WHERE name = $1) SELECT pg_notify($3, $4)", [name, now, this.#channel("done"), WORKERS_CHANGED]);
  }

  async claimWork(name: string, queues: readonly string[], limit: number, memoryMb: number | null, avoid: readonly string[], _now: EpochMs, leaseExpiresAt: EpochMs): Promise<ClaimResult> {
    if (limit <= 0) return { work: [], unfit: false };
    // One statement (one round trip, one commit): pick the oldest unclaimed work of these queues
    // that fits the memory budget, and make this worker its worker (the row stays, an active
    // attempt's, until the attempt is released; its claim and lease renewals are HOT updates).
    const rows = (await this.#query<{ unfit: boolean; attempt_id: number | null; task_key: string; memory_mb: number | null; command: string; fencing_token: number }>(
      q("claim", `WITH picked AS (
          SELECT attempt_id, task_key, memory_mb, command FROM dispatch
          WHERE queue = ANY($1::text[]) AND worker IS NULL AND NOT (task_key = ANY($3::text[]))
          ORDER BY attempt_id LIMIT $2 FOR UPDATE SKIP LOCKED),
        chosen AS (
          SELECT * FROM (SELECT *, sum(coalesce(memory_mb, 0)) OVER (ORDER BY attempt_id) AS used FROM picked) f
          WHERE $4::bigint IS NULL OR used <= $4::bigint),
        mine AS (UPDATE dispatch d SET worker = $5 FROM chosen WHERE d.attempt_id = chosen.attempt_id),
        taken AS (
          UPDATE attempts a SET worker_id = $5, lease_expires_at = $6 FROM chosen
          WHERE a.id = chosen.attempt_id AND ${STILL_RUNNING_A} RETURNING a.id, a.fencing_token)
        -- One row at least: whether some work picked did not fit the memory left, with what was taken.
        SELECT (SELECT count(*) FROM picked) > (SELECT count(*) FROM chosen) AS unfit, w.* FROM (SELECT 1) one LEFT JOIN (
          SELECT chosen.attempt_id, chosen.task_key, chosen.memory_mb, chosen.command, taken.fencing_token
          FROM chosen JOIN taken ON taken.id = chosen.attempt_id) w ON true ORDER BY w.attempt_id`, [queues, limit, avoid, memoryMb, name, leaseExpiresAt]),
    )).rows;
    const work: ClaimedWork[] = [];
    for (const w of rows) if (w.attempt_id !== null) work.push({ attemptId: w.attempt_id, fencingToken: w.fencing_token, taskKey: w.task_key, memoryMb: w.memory_mb, command: JSON.parse(w.command) as unknown });
    return { work, unfit: rows[0]?.unfit === true };
  }

  async assignedWork(name: string, startedAt: EpochMs, afterId: number): Promise<ClaimedWork[]> {
    const rows = (await this.#query<{ attempt_id: number; task_key: string; memory_mb: number | null; command: string; fencing_token: number }>(
      q("assigned", `SELECT d.attempt_id, d.task_key, d.memory_mb, d.command, a.fencing_token FROM dispatch d JOIN attempts a ON a.id = d.attempt_id
        WHERE d.worker = $1 AND d.attempt_id > $3 AND d.worker_started_at = $2 AND a.worker_id = $1 AND ${STILL_RUNNING_A}
        ORDER BY d.attempt_id`, [name, startedAt, afterId]),
    )).rows;
    return rows.map((w) => ({ attemptId: w.attempt_id, fencingToken: w.fencing_token, taskKey: w.task_key, memoryMb: w.memory_mb, command: JSON.parse(w.command) as unknown }));
  }

  async drainWorker(name: string, attemptIds: readonly number[], leaseExpiresAt: EpochMs): Promise<void> {
    await this.#transaction(async (client) => {
      // The scheduler reads the workers again at once, and gives this one nothing more.
      await client.query("WITH d AS (UPDATE workers SET draining_at = $2 WHERE name = $1) SELECT pg_notify($3, $4)", [name, Date.now(), this.#channel("done"), WORKERS_CHANGED]);
      if (attemptIds.length === 0) return;
      // Back to the queue: any worker claims it (the lease runs from now, as for new work).
      const back = await client.query(`WITH back AS (UPDATE dispatch SET worker = NULL, worker_started_at = NULL WHERE attempt_id = ANY($2::bigint[]) AND worker = $1 RETURNING attempt_id)
        UPDATE attempts a SET worker_id = NULL, lease_expires_at = $3 FROM back WHERE a.id = back.attempt_id AND a.worker_id = $1 AND ${STILL_RUNNING_A}`, [name, attemptIds, leaseExpiresAt]);
      if ((back.rowCount ?? 0) > 0) await client.query("SELECT pg_notify($1, '')", [this.#channel("work")]);
    });
  }

  async completeAttempts(items: ReadonlyArray<{ attemptId: number; fencingToken: number; outcome: CompletionOutcome; endedAt: EpochMs }>): Promise<boolean[]> {
    if (items.length === 0) return [];
    // One statement for a worker's completions of a moment: one commit, one notification.
    const rows = (await this.#query<{ id: number }>(
      q("complete_many", `WITH c AS (
          SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bool[], $9::bigint[])
            AS c (id, token, state, ended_at, error, output, still_running, peak)),
        ended AS (
          UPDATE attempts a SET state = c.state, ended_at = c.ended_at, error = c.error,
            released_at = CASE WHEN c.still_running THEN NULL ELSE c.ended_at END, peak_memory_bytes = c.peak
          FROM c WHERE a.id = c.id AND a.fencing_token = c.token AND ${STILL_RUNNING_A}
          RETURNING a.id, a.run_id, a.task, c.state, c.output),
        -- One lookup per ended attempt (joining ended to c again here made it one per pair).
        stored AS (
          UPDATE task_instances t SET output = ended.output FROM ended
          WHERE ended.state = 'success' AND t.run_id = ended.run_id AND t.task = ended.task AND t.output IS DISTINCT FROM ended.output),
        -- The scheduler reads just these attempts; a payload too long for NOTIFY (8000 bytes)
        -- says nothing, and the scheduler looks at all it waits for. Materialized: one
        -- notification, not one per row it is joined to.
        notified AS MATERIALIZED (SELECT pg_notify($8, CASE WHEN length(s) < 7900 THEN s ELSE '' END)
          FROM (SELECT string_agg(id::text, ',') AS s FROM ended) ids WHERE s IS NOT NULL)
        SELECT ended.id FROM ended, notified`, [
        items.map((i) => i.attemptId),
        items.map((i) => i.fencingToken),
        items.map((i) => i.outcome.state),
        items.map((i) => i.endedAt),
        items.map((i) => (i.outcome.state === "success" ? null : toJson(i.outcome.error))),
        items.map((i) => (i.outcome.state === "success" ? toJson(i.outcome.output) : null)),
        items.map((i) => i.outcome.state !== "success" && i.outcome.stillRunning === true),
        this.#channel("done"),
        items.map((i) => i.outcome.peakMemoryBytes ?? null),
      ]),
    )).rows;
    const done = new Set(rows.map((r) => r.id));
    return items.map((i) => done.has(i.attemptId));
  }

  async releaseLeases(name: string, attemptIds: readonly number[], now: EpochMs): Promise<void> {
    if (attemptIds.length === 0) return;
    await this.#query(`UPDATE attempts SET lease_expires_at = $3 WHERE id = ANY($2::bigint[]) AND worker_id = $1 AND ${STILL_RUNNING}`, [name, attemptIds, now]);
    await this.#query("SELECT pg_notify($1, '')", [this.#channel("done")]);
  }

  async markReleased(attemptId: number, fencingToken: number, at: EpochMs, peakMemoryBytes?: number): Promise<boolean> {
    const result = await this.#query<{ id: number }>(
      `WITH released AS (UPDATE attempts SET released_at = $3, peak_memory_bytes = GREATEST(peak_memory_bytes, $5::bigint)
         WHERE id = $1 AND fencing_token = $2 AND state <> 'running' AND released_at IS NULL RETURNING id)
       SELECT id, pg_notify($4, '') FROM released`,
      [attemptId, fencingToken, at, this.#channel("done"), peakMemoryBytes ?? null],
    );
    return result.rows.length === 1;
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    const rows = (await this.#query<{ name: string; host: string; pid: number; queues: string[]; slots: number; prefetch: number; memory_mb: number | null; fingerprint: string; avoid: string[]; started_at: number; heartbeat_at: number; stopped_at: number | null; draining_at: number | null }>(
      "SELECT * FROM workers ORDER BY name COLLATE \"C\"",
    )).rows;
    return rows.map((r) => ({ name: r.name, host: r.host, pid: r.pid, queues: r.queues, slots: r.slots, prefetch: r.prefetch, memoryMb: r.memory_mb, fingerprint: r.fingerprint, avoid: r.avoid, startedAt: r.started_at, heartbeatAt: r.heartbeat_at, stoppedAt: r.stopped_at, drainingAt: r.draining_at }));
  }

  async remoteStates(ids: readonly number[]): Promise<RemoteAttemptState[]> {
    if (ids.length === 0) return [];
    const rows = (await this.#query<{ id: number; fencing_token: number; state: string; error: string | null; output: string | null; released_at: number | null; worker_id: string | null }>(
      q("remote_states", `SELECT a.id, a.fencing_token, a.state, a.error, t.output, a.released_at, a.worker_id FROM attempts a
        JOIN task_instances t ON t.run_id = a.run_id AND t.task = a.task
        WHERE a.id = ANY($1::bigint[]) AND (a.state <> 'running' OR a.released_at IS NOT NULL)`, [ids]),
    )).rows;
    return rows.map((r) => ({
      id: r.id,
      fencingToken: r.fencing_token,
      state: r.state as RemoteAttemptState["state"],
      error: (r.error === null ? null : JSON.parse(r.error)) as RemoteAttemptState["error"],
      output: r.output === null ? null : (JSON.parse(r.output) as unknown),
      releasedAt: r.released_at,
      workerId: r.worker_id,
    }));
  }

  async expiredAttempts(now: EpochMs, deadWorkers: readonly string[] = []): Promise<Array<{ id: number; workerId: string | null; restarted?: true }>> {
    // Given to an earlier life of a worker that registered again under its name: that life is gone
    // (a name is refused while its holder lives), so nothing of it will report.
    const rows = (await this.#query<{ id: number; worker_id: string | null; restarted: boolean }>(
      // Read from the active attempts (dispatch), each looked up in attempts by id: the lateral
      // subquery (OFFSET 0 keeps the planner from flattening it) fixes that order. As a plain join
      // ordered by a.id, the planner walked the whole attempts key for the few running ones
      // (estimated at one row): 0.56 s a call with 1,000,000 finished attempts, four times a second.
      q("expired_attempts", `SELECT a.id, a.worker_id, (w.started_at > d.worker_started_at) IS TRUE AS restarted
        FROM dispatch d
        CROSS JOIN LATERAL (SELECT id, worker_id, state, lease_expires_at FROM attempts WHERE id = d.attempt_id OFFSET 0) a
        LEFT JOIN workers w ON w.name = d.worker
        WHERE a.state = 'running' AND (a.lease_expires_at < $1 OR a.worker_id = ANY($2::text[]) OR w.started_at > d.worker_started_at)
        ORDER BY d.attempt_id LIMIT 1000`, [now, deadWorkers]),
    )).rows;
    return rows.map((r) => ({ id: r.id, workerId: r.worker_id, ...(r.restarted ? { restarted: true as const } : {}) }));
  }

  async takeRequests(limit: number, now: EpochMs = Date.now(), owner?: string): Promise<ControlRequest[]> {
    const result = await this.#query<RequestRow>(
      q("take_requests", `UPDATE requests SET taken_at = $2, taken_by = $3
        WHERE id IN (SELECT id FROM requests WHERE taken_at IS NULL AND resolved_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`, [limit, now, owner ?? null]),
    );
    return result.rows.map(toRequest).sort((a, b) => a.id - b.id);
  }

  async abandonRequest(id: number, now: EpochMs, why: string): Promise<boolean> {
    const result = await this.#query(
      `UPDATE requests SET resolved_at = $2, error = $3
       WHERE id = $1 AND resolved_at IS NULL
         AND (taken_at IS NULL OR NOT EXISTS (SELECT 1 FROM scheduler_lease WHERE id = 1 AND owner = requests.taken_by AND expires_at > $2))`,
      [id, now, why],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getRequest(id: number): Promise<ControlRequest | undefined> {
    const row = (await this.#query<RequestRow>("SELECT * FROM requests WHERE id = $1", [id])).rows[0];
    return row ? toRequest(row) : undefined;
  }

  async reclaimRequests(now: EpochMs, maxAgeMs: number): Promise<number> {
    return this.#transaction(async (client) => {
      await client.query("UPDATE requests SET resolved_at = $1, error = 'expired: not answered before Sluice stopped; send it again' WHERE resolved_at IS NULL AND created_at < $2", [now, now - maxAgeMs]);
      const reopened = await client.query("UPDATE requests SET taken_at = NULL, taken_by = NULL WHERE resolved_at IS NULL AND taken_at IS NOT NULL AND created_at >= $1", [now - maxAgeMs]);
      return reopened.rowCount ?? 0;
    });
  }

  // ── retention and definitions ──────────────────────────────────────────────────────────────

  async prune(before: EpochMs, limit: number): Promise<PruneResult> {
    return this.#transaction(async (client) => {
      const ids = (await client.query<{ id: number }>(
        "SELECT id FROM runs WHERE state IN ('success', 'failed', 'cancelled') AND ended_at < $1 ORDER BY ended_at, id LIMIT $2",
        [before, limit],
      )).rows.map((r) => r.id);
      await client.query(`INSERT INTO id_floor (name, value)
          SELECT 'run', coalesce(max(id), 0) FROM runs
          UNION ALL SELECT 'attempt', coalesce(max(id), 0) FROM attempts
          UNION ALL SELECT 'fencing_token', coalesce(max(fencing_token), 0) FROM attempts
          ON CONFLICT (name) DO UPDATE SET value = greatest(id_floor.value, excluded.value)`);
      const attempts = Number((await client.query<{ n: number }>("SELECT count(*) AS n FROM attempts WHERE run_id = ANY($1::bigint[])", [ids])).rows[0]?.n ?? 0);
      let events = (await client.query("DELETE FROM events WHERE run_id = ANY($1::bigint[])", [ids])).rowCount ?? 0;
      const runs = (await client.query("DELETE FROM runs WHERE id = ANY($1::bigint[])", [ids])).rowCount ?? 0;
      events += (await client.query("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE run_id IS NULL AND at < $1 ORDER BY at, id LIMIT $2)", [before, limit * 10])).rowCount ?? 0;
      const requests = (await client.query("DELETE FROM requests WHERE resolved_at IS NOT NULL AND created_at < $1", [before])).rowCount ?? 0;
      return { runs, attempts, events, requests, more: runs === limit };
    });
  }

  async saveDefinitions(d: StoredDefinitions): Promise<void> {
    await this.#query(
      `INSERT INTO definitions (id, fingerprint, saved_at, config) VALUES (1, $1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, saved_at = excluded.saved_at, config = excluded.config`,
      [d.fingerprint, d.savedAt, JSON.stringify(d.config)],
    );
  }

  async loadDefinitions(): Promise<StoredDefinitions | undefined> {
    const row = (await this.#query<{ fingerprint: string; saved_at: number; config: string }>("SELECT fingerprint, saved_at, config FROM definitions WHERE id = 1")).rows[0];
    return row ? { fingerprint: row.fingerprint, savedAt: row.saved_at, config: JSON.parse(row.config) as unknown } : undefined;
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────

  async loadActiveState(): Promise<ActiveState> {
    // One snapshot: tasks and attempts agree with the runs, whatever the scheduler writes meanwhile.
    return this.#transaction(async (client) => {
      const max = (await client.query<Pick<ActiveState, "maxRunId" | "maxAttemptId" | "maxFencingToken">>(`SELECT
          greatest((SELECT coalesce(max(id), 0) FROM runs), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'run')) AS "maxRunId",
          greatest((SELECT coalesce(max(id), 0) FROM attempts), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'attempt')) AS "maxAttemptId",
          greatest((SELECT coalesce(max(fencing_token), 0) FROM attempts), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'fencing_token')) AS "maxFencingToken"`)).rows[0];
      const active = "state IN ('queued', 'running')";
      const runs = (await client.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE ${active} ORDER BY id`)).rows;
      const tasks = (await client.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM task_instances WHERE run_id IN (SELECT id FROM runs WHERE ${active}) ORDER BY run_id, task`)).rows;
      // The active attempts are those with a row in dispatch (see migration 11): running, and
      // ended with their function still running (draining). Read from dispatch, each looked up by
      // id (see expiredAttempts): as a semi-join ordered by id, the planner walked every attempt.
      const inDispatch = (where: string) => `SELECT a.* FROM dispatch d CROSS JOIN LATERAL (SELECT ${PG_ATTEMPT_COLUMNS} FROM attempts WHERE id = d.attempt_id AND ${where} OFFSET 0) a ORDER BY d.attempt_id`;
      const attempts = (await client.query<PgAttemptRow>(inDispatch("state = 'running'"))).rows;
      const draining = (await client.query<PgAttemptRow>(inDispatch("released_at IS NULL AND state <> 'running'"))).rows;
      const resources = resourceRowsOf([...attempts, ...draining]);
      const schedules = (await client.query<ActiveState["schedules"][number]>(`SELECT pipeline, last_scheduled_for AS "lastScheduledFor", skipped, paused_at AS "pausedAt", backfill_max_active AS "backfillMaxActive" FROM schedule_state ORDER BY pipeline`)).rows;
      return {
        runs: runs.map(toRunRecord),
        tasks: tasks.map(toTaskRecord),
        attempts: toAttemptRecords(attempts, resources),
        draining: toAttemptRecords(draining, resources),
        schedules,
        maxRunId: max?.maxRunId ?? 0,
        maxAttemptId: max?.maxAttemptId ?? 0,
        maxFencingToken: max?.maxFencingToken ?? 0,
      };
    }, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }

  async getRun(id: number): Promise<RunRecord | undefined> {
    const row = (await this.#query<RunRow>(q("get_run", `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]))).rows[0];
    return row ? toRunRecord(row) : undefined;
  }

  async listRuns({ pipeline, states, limit }: RunQuery = {}): Promise<RunRecord[]> {
    const where = new Where();
    where.add("pipeline = ?", pipeline);
    where.add("state = ANY(?::text[])", states && states.length > 0 ? states : undefined);
    const rows = (await this.#query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs${where.sql()} ORDER BY id DESC LIMIT ${limitOf(limit, LIMITS.runs)}`, where.values)).rows;
    return rows.map(toRunRecord);
  }

  async listTasks(runId: number): Promise<TaskInstanceRecord[]> {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
    const rows = (await this.#query<TaskRow>(q("list_tasks", `SELECT ${TASK_COLUMNS} FROM task_instances WHERE run_id = $1 ORDER BY task COLLATE "C"`, [runId]))).rows;
    return rows.map(toTaskRecord);
  }

  async getAttempt(id: number): Promise<AttemptRecord | undefined> {
    const rows = (await this.#query<PgAttemptRow>(q("get_attempt", `SELECT ${PG_ATTEMPT_COLUMNS} FROM attempts WHERE id = $1`, [id]))).rows;
    return withResources(rows)[0];
  }

  async listAttempts({ runId, pipeline, task, since, limit }: AttemptQuery = {}): Promise<AttemptRecord[]> {
    const where = new Where();
    where.add("run_id = ?", runId);
    where.add("pipeline = ?", pipeline);
    where.add("task = ?", task);
    where.add("(ended_at IS NULL OR ended_at >= ?)", since);
    const rows = (await this.#query<PgAttemptRow>(`SELECT ${PG_ATTEMPT_COLUMNS} FROM attempts${where.sql()} ORDER BY id DESC LIMIT ${limitOf(limit, LIMITS.attempts)}`, where.values)).rows;
    return withResources(rows);
  }

  async listEvents({ afterId, runId, pipeline, types, newestFirst, limit }: EventQuery = {}): Promise<EventRecord[]> {
    const where = new Where();
    where.add("id > ?", afterId);
    where.add("run_id = ?", runId);
    where.add("pipeline = ?", pipeline);
    where.add("type = ANY(?::text[])", types && types.length > 0 ? types : undefined);
    const rows = (await this.#query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events${where.sql()} ORDER BY id${newestFirst ? " DESC" : ""} LIMIT ${limitOf(limit, LIMITS.events)}`, where.values)).rows;
    return rows.map(toEventRecord);
  }

  async appendAttemptLogs(lines: readonly AttemptLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    // One statement; a line of an attempt that is gone (pruned) is skipped, not a foreign-key error.
    await this.#query(
      q("append_logs", `INSERT INTO attempt_logs (attempt_id, seq, at, level, msg, data)
        SELECT l.* FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS l (attempt_id, seq, at, level, msg, data)
        WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.id = l.attempt_id)
        ON CONFLICT DO NOTHING`, [
        lines.map((l) => l.attemptId), lines.map((l) => l.seq), lines.map((l) => l.at), lines.map((l) => l.level), lines.map((l) => l.msg), lines.map((l) => (l.data === null ? null : JSON.stringify(l.data))),
      ]),
    );
  }

  async listAttemptLogs(attemptId: number, afterSeq = 0, limit = 10_000): Promise<AttemptLogLine[]> {
    const rows = (await this.#query<{ attempt_id: number; seq: number; at: number; level: AttemptLogLine["level"]; msg: string; data: string | null }>(
      q("list_logs", "SELECT attempt_id, seq, at, level, msg, data FROM attempt_logs WHERE attempt_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", [attemptId, afterSeq, limit]),
    )).rows;
    return rows.map((r) => ({ attemptId: r.attempt_id, seq: r.seq, at: r.at, level: r.level, msg: r.msg, data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>) }));
  }

  async listSchedules(): Promise<ScheduleStateRecord[]> {
    return (await this.#query<ScheduleStateRecord>(`SELECT pipeline, last_scheduled_for AS "lastScheduledFor", skipped, paused_at AS "pausedAt", backfill_max_active AS "backfillMaxActive" FROM schedule_state ORDER BY pipeline COLLATE "C"`)).rows;
  }
}

/** WHERE terms with `?` placeholders numbered as they are added; a filter whose value is undefined is left out. */
class Where {
  readonly terms: string[] = [];
  readonly values: unknown[] = [];

  add(term: string, value: unknown): void {
    if (value === undefined) return;
    this.values.push(value);
    this.terms.push(term.replace("?", `$${this.values.length}`));
  }

  sql(): string {
    return this.terms.length > 0 ? ` WHERE ${this.terms.join(" AND ")}` : "";
  }
}

/**
 * "The attempt still runs", for statements that find attempts by id: the same rows as
 * `state = 'running'` (the CHECK constraint allows six states), written so the planner cannot use
 * the partial index `attempts_running` for it. With that predicate it may read every running
 * attempt and filter, instead of looking the given ids up, whenever its statistics underestimate
 * how many run — as they do on a store with a long history and a busy queue (with `--prefetch`,
 * ~1,000 running: 5 ms a completion batch instead of 0.3).
 */
const STILL_RUNNING = "state <> ALL ('{success,failed,timed_out,lost,cancelled}'::text[])";
const STILL_RUNNING_A = `a.${STILL_RUNNING}`;

/** Attempts' columns as PostgreSQL keeps them: their resources are a column of their own (JSON). */
const PG_ATTEMPT_COLUMNS = `${ATTEMPT_COLUMNS}, resources`;
type PgAttemptRow = AttemptRow & { resources: string | null };

function withResources(rows: readonly PgAttemptRow[]): AttemptRecord[] {
  return toAttemptRecords(rows, resourceRowsOf(rows));
}

/** Throws `StoreLeaseLostError` unless `owner` holds the lease, unexpired at `now`; holds the row until commit. */
async function checkFence(client: pg.PoolClient, owner: string, now: EpochMs): Promise<void> {
  const row = (await client.query<{ owner: string; expires_at: number }>(q("fence", "SELECT owner, expires_at FROM scheduler_lease WHERE id = 1 FOR SHARE", []))).rows[0];
  if (row?.owner !== owner || row.expires_at <= now) {
    const holder = row === undefined ? "nobody holds it" : row.owner === owner ? `it expired at ${iso(row.expires_at)}` : `${row.owner} holds it`;
    throw new StoreLeaseLostError(owner, `the scheduler lease of ${owner} is lost (${holder}); this scheduler may no longer write`);
  }
}

/** Throws when an UPDATE found no row: the batch refers to something that was never created. */
function mustChange(result: pg.QueryResult, write: StoreWrite, index: number): void {
  if ((result.rowCount ?? 0) === 0) throw new StoreWriteError(index, write.type, `${describeWrite(write)} does not exist; nothing of the batch was applied.`);
}

async function applyOne(client: pg.PoolClient, write: StoreWrite, index: number): Promise<void> {
  switch (write.type) {
    case "createRun": {
      const r = write.run;
      await client.query(
        q("insert_run", `INSERT INTO runs (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [r.id, r.pipeline, r.scheduledFor, r.trigger, toJson(r.params) ?? "{}", r.state, r.createdAt, r.startedAt, r.endedAt]),
      );
      if (write.tasks.length === 0) return;
      const t = write.tasks;
      await client.query(
        q("insert_tasks", `INSERT INTO task_instances (run_id, task, state, attempts, lost_attempts, ready_at, output)
          SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::text[])`, [
          r.id, t.map((x) => x.task), t.map((x) => x.state), t.map((x) => x.attempts), t.map((x) => x.lostAttempts ?? 0), t.map((x) => x.readyAt), t.map((x) => toJson(x.output)),
        ]),
      );
      return;
    }
    case "updateRun": {
      const { id, state, startedAt, endedAt } = write;
      return mustChange(await client.query(
        q("update_run", `UPDATE runs SET state = $2,
          started_at = CASE WHEN $3 THEN $4::bigint ELSE started_at END,
          ended_at = CASE WHEN $5 THEN $6::bigint ELSE ended_at END WHERE id = $1`, [id, state, startedAt !== undefined, startedAt ?? null, endedAt !== undefined, endedAt ?? null]),
      ), write, index);
    }
    case "updateTask": {
      const { runId, task, state, attempts, lostAttempts, readyAt, output } = write;
      return mustChange(await client.query(
        q("update_task", `UPDATE task_instances SET state = $3,
          attempts = CASE WHEN $4 THEN $5::int ELSE attempts END,
          lost_attempts = CASE WHEN $6 THEN $7::int ELSE lost_attempts END,
          ready_at = CASE WHEN $8 THEN $9::bigint ELSE ready_at END,
          output = CASE WHEN $10 THEN $11::text ELSE output END
          WHERE run_id = $1 AND task = $2`, [
          runId, task, state, attempts !== undefined, attempts ?? null, lostAttempts !== undefined, lostAttempts ?? null, readyAt !== undefined, readyAt ?? null, output !== undefined, toJson(output),
        ]),
      ), write, index);
    }
    case "createAttempt": {
      const a = write.attempt;
      await client.query(
        q("insert_attempt", `INSERT INTO attempts (id, run_id, pipeline, task, attempt, state, fencing_token, worker_id, queued_at,
          started_at, ended_at, lease_expires_at, error, progress, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, [
          a.id, a.runId, a.pipeline, a.task, a.attempt, a.state, a.fencingToken, a.workerId, a.queuedAt, a.startedAt, a.endedAt, a.leaseExpiresAt, toJson(a.error), toJson(a.progress),
          resourcesJson(a.resources),
        ]),
      );
      // Active from now until released (a dispatch write in the batch adds its work to the row).
      await client.query(q("insert_active", "INSERT INTO dispatch (attempt_id, created_at, worker) VALUES ($1, $2, $3) ON CONFLICT (attempt_id) DO NOTHING", [a.id, a.queuedAt, a.workerId]));
      return;
    }
    case "endAttempt": {
      const { id, state, endedAt, error } = write;
      return mustChange(await client.query(
        // Work nobody claimed goes with it. A draining attempt keeps released_at as it is: a
        // worker may have reported the release already.
        q("end_attempt", `WITH inactive AS (DELETE FROM dispatch WHERE attempt_id = $1 AND NOT $6)
          UPDATE attempts SET state = $2, ended_at = $3::bigint,
          error = CASE WHEN $4 THEN $5::text ELSE error END,
          released_at = CASE WHEN $6 THEN released_at ELSE $3::bigint END,
          peak_memory_bytes = COALESCE($7::bigint, peak_memory_bytes) WHERE id = $1`, [id, state, endedAt, error !== undefined, toJson(error), write.stillRunning === true, write.peakMemoryBytes ?? null]),
      ), write, index);
    }
    case "releaseAttempt":
      return mustChange(await client.query(q("release_attempt", `WITH inactive AS (DELETE FROM dispatch WHERE attempt_id = $1)
        UPDATE attempts SET released_at = $2, peak_memory_bytes = GREATEST(peak_memory_bytes, $3::bigint) WHERE id = $1 AND state <> 'running'`, [write.id, write.at, write.peakMemoryBytes ?? null])), write, index);
    case "recordSchedule":
      await client.query(
        q("record_schedule", `INSERT INTO schedule_state (pipeline, last_scheduled_for, skipped) VALUES ($1, $2, $3)
          ON CONFLICT (pipeline) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for, skipped = schedule_state.skipped + excluded.skipped`, [
          write.pipeline, write.lastScheduledFor, write.skippedDelta,
        ]),
      );
      return;
    case "controlPipeline":
      await client.query(q("control_pipeline", CONTROL_PIPELINE_SQL, controlPipelineParams(write)));
      return;
    case "appendEvent": {
      const e = write.event;
      await client.query(
        q("insert_event", `INSERT INTO events (at, type, level, pipeline, run_id, task, attempt_id, message, data)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [e.at, e.type, e.level, e.pipeline, e.runId, e.task, e.attemptId, e.message, toJson(e.data) ?? "{}"]),
      );
      return;
    }
    case "dispatch":
      await client.query(
        q("insert_dispatch", `INSERT INTO dispatch (attempt_id, queue, task_key, memory_mb, command, created_at, worker, worker_started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
          ON CONFLICT (attempt_id) DO UPDATE SET queue = excluded.queue, task_key = excluded.task_key, memory_mb = excluded.memory_mb, command = excluded.command,
            worker = excluded.worker, worker_started_at = excluded.worker_started_at`, [
          write.attemptId, write.queue, write.taskKey, write.memoryMb ?? null, JSON.stringify(write.command), write.at, write.worker?.name ?? null, write.worker?.startedAt ?? null,
        ]),
      );
      return;
    case "resolveRequest":
      return mustChange(await client.query(q("resolve_request", "UPDATE requests SET run_id = $2, error = $3, resolved_at = $4 WHERE id = $1", [write.id, write.runId, write.error, write.at])), write, index);
    default: {
      const unknown: never = write;
      throw new StoreWriteError(index, String((unknown as { type?: unknown }).type), `Unknown store write ${JSON.stringify(unknown)}`);
    }
  }
}

/** Unique violations become {@link StoreConflictError}, other constraint failures {@link StoreWriteError}. */
function translateWriteError(error: unknown, write: StoreWrite, index: number): unknown {
  const state = sqlState(error);
  if (state === undefined || !state.startsWith("23")) return error;
  const what = describeWrite(write);
  const at = `batch write ${index}, ${write.type}`;
  const message = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  if (state === "23505") {
    if (write.type === "createRun" && (error as { constraint?: string }).constraint === "runs_schedule_tick") {
      return new StoreConflictError(
        index,
        write.type,
        `A run of pipeline "${write.run.pipeline}" for the schedule tick ${iso(write.run.scheduledFor)} already exists (${at}): a tick creates at most one run. Nothing of the batch was applied.`,
        options,
      );
    }
    return new StoreConflictError(index, write.type, `Cannot create ${what}: it already exists (${at}; ${message}). Nothing of the batch was applied.`, options);
  }
  if (state === "23503") return new StoreWriteError(index, write.type, `Cannot create ${what}: its run or task instance does not exist (${at}). Nothing of the batch was applied.`, options);
  return new StoreWriteError(index, write.type, `Invalid ${what} (${at}): ${message}. Nothing of the batch was applied.`, options);
}
