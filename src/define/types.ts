/**
 * The public shapes users write in `sluice.config.ts`. Everything here is data plus the task
 * functions; validation lives in `validate.ts` (zod schemas + cross-reference checks) and turns a
 * {@link SluiceConfig} into a {@link ResolvedConfig} the core can run.
 */

/** `"30s"`, `"15m"`, `"1h30m"`, `"1d"`, `"250ms"`, or a number of milliseconds; at most 365 days. */
export type Duration = number | `${number}${"ms" | "s" | "m" | "h" | "d"}` | `${number}${"d" | "h" | "m" | "s"}${number}${string}`;

/** How a task's priority weight is computed from the DAG (Airflow's rules). */
export type WeightRule = "downstream" | "upstream" | "absolute";

/**
 * What happens when a scheduled run comes due while an earlier run of the same pipeline is active.
 * - `skip` (default): the new run is not created; the skip is logged and counted.
 * - `bufferOne`: keep at most one pending run; later ticks while one is pending are skipped.
 * - `bufferAll`: queue every tick; they start one after another.
 * - `cancelRunning`: abort the active run (its tasks' AbortSignal fires) and start the new one.
 * - `allow`: start it alongside, within `maxActiveRuns`.
 */
export type OverlapPolicy = "skip" | "bufferOne" | "bufferAll" | "cancelRunning" | "allow";

/**
 * Where a task's attempts run (`isolation`, per task or as a pipeline's default):
 * - `inline` (default): an async function in the worker's own process. Cheapest; a task that
 *   ignores its signal cannot be stopped, and its memory is not enforced, only declared.
 * - `thread`: a `worker_threads` thread whose V8 heap is limited to the task's `memoryMb`
 *   (`resourceLimits.maxOldGenerationSizeMb`); past it the thread is stopped and the attempt fails
 *   with `SLUICE_MEMORY_LIMIT`. Buffers outside the heap are not counted.
 * - `process`: a child process with a heap limit (`--max-old-space-size`) and a watchdog reading its
 *   resident memory (`/proc/<pid>/status`); past `memoryMb` it is killed and the attempt fails with
 *   `SLUICE_MEMORY_LIMIT`, naming the limit and the peak.
 *
 * A `thread` or `process` attempt that ignores its signal after a timeout or cancel is killed
 * after the grace period. Its task function is loaded again in the thread or child from the config
 * file, so what it closes over in the config module is a fresh copy there.
 *
 * @example
 * etl.task("load", { isolation: "process", memoryMb: 512 }, async (ctx) => load(ctx.params));
 */
export type Isolation = "inline" | "thread" | "process";

/** A fixed interval (`{ every: "15m" }`) or a cron expression (`{ cron: "0 2 * * *", timezone: "Europe/Paris" }`). */
export type ScheduleOptions =
  | { every: Duration; cron?: never; timezone?: never }
  | { cron: string; timezone?: string; every?: never };

/**
 * A pool whose limit adapts to the resource behind it (see {@link PoolOptions.slots}): it starts at
 * `initial` (default `min`) and moves between `min` and `max` with the latency of the attempts
 * holding it and with overload signals (lock timeouts, refused connections, `ctx.overloaded()`).
 */
export interface AdaptiveSlots {
  min: number;
  max: number;
  /** `"gradient"`: shrinks when latency rises above the no-load latency; `"aimd"`: +1 while busy, ×0.9 on overload. */
  adapt: "gradient" | "aimd";
  /** @defaultValue `min` */
  initial?: number;
  /** `aimd` only: a latency above this counts as an overload. @defaultValue none (only overload signals) */
  latencyThreshold?: Duration;
}

export interface PoolOptions {
  /**
   * How many slots the pool has; a task holds the number it names while it runs. Or an adaptive
   * limit, e.g. `{ min: 2, max: 20, adapt: "gradient" }`: see {@link AdaptiveSlots}.
   */
  slots: number | AdaptiveSlots;
  /** Shown by `sluice pools` and `inspect`. */
  description?: string;
}

export interface PipelineOptions {
  /** When runs are created. Without a schedule, the pipeline runs only when triggered. */
  schedule?: ScheduleOptions;
  /** @defaultValue `"skip"` */
  overlap?: OverlapPolicy;
  /** Runs of this pipeline active at once. @defaultValue 1 */
  maxActiveRuns?: number;
  /** Task attempts of this pipeline running at once, across all its runs. @defaultValue unlimited */
  maxActiveTasks?: number;
  /**
   * Create the runs missed while Sluice was not running (at most `catchupWindow` back).
   * @defaultValue false
   */
  catchup?: boolean;
  /** How far back `catchup` looks. @defaultValue `"24h"` */
  catchupWindow?: Duration;
  /**
   * A run should have ended this long after its scheduled time; past it, while the run is still
   * active, a `run.deadline_missed` event is recorded (once per run). @defaultValue none
   */
  deadline?: Duration;
  /** Where its tasks' attempts run, unless a task says otherwise; see {@link Isolation}. @defaultValue `"inline"` */
  isolation?: Isolation;
  description?: string;
  /** A run of this pipeline succeeded (`run.success`). See {@link NotifyHook}. */
  onSuccess?: NotifyHook;
  /** A run of this pipeline failed (`run.failed`). See {@link NotifyHook}. */
  onFailure?: NotifyHook;
  /** A task of this pipeline will be retried (`task.retry`). See {@link NotifyHook}. */
  onRetry?: NotifyHook;
  /** The overlap policy skipped a scheduled run of this pipeline (`run.skipped`). See {@link NotifyHook}. */
  onSkip?: NotifyHook;
  /** A task missed its `sla` (`task.sla_missed`; on a pipeline also its runs' `deadline`, `run.deadline_missed`). See {@link NotifyHook}. */
  onSlaMiss?: NotifyHook;
}

/**
 * What hooks and webhooks are told about:
 * - `run.success`, `run.failed`, `run.cancelled`: a run ended;
 * - `run.skipped`: the overlap policy skipped a scheduled run (no run was created);
 * - `task.success`: a task instance succeeded; `task.failed`: it failed for good (retries spent);
 * - `task.retry`: an attempt failed or was lost and the task will be tried again;
 * - `task.skipped`: the task will not run in this run because an upstream task failed;
 * - `task.sla_missed`: a task had not succeeded by its `sla`; `run.deadline_missed`: a run had not ended by its pipeline's `deadline`.
 */
export type NotifyEventType =
  | "run.success"
  | "run.failed"
  | "run.cancelled"
  | "run.skipped"
  | "task.success"
  | "task.failed"
  | "task.retry"
  | "task.skipped"
  | "task.sla_missed"
  | "run.deadline_missed";

/**
 * The payload of a hook call and the JSON body of a webhook POST (schema version 1; fields are
 * only ever added within a version). Times are ISO 8601 in UTC.
 */
export interface Notification {
  /** Schema version of this payload: 1. */
  version: 1;
  /** Unique per notification, the same on every delivery attempt: deduplicate on it (delivery is at-least-once). */
  id: string;
  type: NotifyEventType;
  /** When it happened (ISO 8601, UTC). */
  at: string;
  level: "info" | "warn" | "error";
  pipeline: string;
  /** `null` for `run.skipped` (no run was created). */
  runId: number | null;
  /** The task, for `task.*`; else `null`. */
  task: string | null;
  /** Attempts the task has made so far (`task.*`); else `null`. */
  attempts: number | null;
  /** The schedule time of the run (or of the skipped tick), ISO 8601 UTC; `null` when unknown. */
  scheduledFor: string | null;
  /** One line for people, as in the event log. */
  message: string;
  /** The error of the task's latest attempt (`task.failed`, `task.retry`); else `null`. */
  error: { message: string; code?: string | undefined } | null;
  /** Details of the event (e.g. `durationMs` of a run, `retryAt` of a retry, `activeRun` of a skip). */
  data: Record<string, unknown>;
}

/**
 * A callback run when something happens to a pipeline or task (`onSuccess`, `onFailure`,
 * `onRetry`, `onSkip`). Hooks run in the scheduler process (`sluice run`, or `sluice scheduler`
 * with workers), off the scheduler's path: a hook that throws is logged; one that does not settle
 * within `notify.hookTimeout` is logged and abandoned. Scheduling never waits for a hook.
 *
 * @example
 * pipeline("daily_sales", { onFailure: async (n) => slack.post(`${n.pipeline} failed: ${n.message}`) });
 */
export type NotifyHook = (notification: Notification) => void | Promise<void>;

/**
 * One webhook target: every notification of the listed `events` is POSTed to `url` as JSON (a
 * {@link Notification}), in order, retried with exponential backoff while the target fails
 * (5xx, 408, 429, a network error). Pending notifications wait in a bounded queue; when it is
 * full the oldest is dropped (counted, and logged as a warning).
 *
 * @example
 * { url: "https://hooks.example.com/sluice", events: ["run.failed", "task.retry"], headers: { authorization: `Bearer ${process.env.HOOK_TOKEN}` } }
 */
export interface WebhookOptions {
  /** `http://` or `https://` URL. */
  url: string;
  /** Which notifications to send, or `"*"` for all. @defaultValue every `run.*` event, `task.failed` and `task.retry` */
  events?: ReadonlyArray<NotifyEventType> | "*";
  /** Only notifications of these pipelines. @defaultValue all pipelines */
  pipelines?: ReadonlyArray<string>;
  /** Extra request headers (e.g. `authorization`). Never written to the store. */
  headers?: Record<string, string>;
  /** One request's time limit. @defaultValue `"10s"` */
  timeout?: Duration;
  /** Delay before the first retry; doubled each retry (±20% jitter), up to `maxRetryDelay`. @defaultValue `"1s"` */
  retryDelay?: Duration;
  /** @defaultValue `"1m"` */
  maxRetryDelay?: Duration;
  /** A notification not delivered after this long is given up (logged). @defaultValue `"24h"` */
  maxAge?: Duration;
  /** Notifications waiting for this target at most; when full, the oldest is dropped. @defaultValue 1000 */
  queueSize?: number;
}

/**
 * `notify`: webhook targets and the limits of hooks (the hooks themselves are options of
 * pipelines and tasks).
 *
 * @example
 * defineConfig({ pipelines, notify: { hookTimeout: "5s", webhooks: [{ url: "https://hooks.example.com/sluice", events: "*" }] } });
 */
export interface NotifyOptions {
  webhooks?: ReadonlyArray<WebhookOptions>;
  /** A hook that has not settled after this long is logged and abandoned. @defaultValue `"10s"` */
  hookTimeout?: Duration;
  /** Hook calls waiting to run at most; when full, the oldest is dropped (counted, logged). @defaultValue 1000 */
  hookQueueSize?: number;
}

/** A handle to a declared task, used in `dependsOn`. */
export interface TaskRef {
  readonly pipeline: string;
  readonly id: string;
}

/**
 * What a task function receives. With `isolation: "thread"` or `"process"` every member works in
 * the thread or child process too: the data members are copies, `signal` is aborted by a message,
 * and `log`, `heartbeat`, `progress` and `overloaded` are relayed to the worker. `log` fields and the
 * return value must be JSON; a thrown error arrives as its message, stack and `code`. `pg` opens
 * the attempt's connections from the thread or child itself, with the same cap (its slots).
 */
export interface TaskContext<Params extends Record<string, unknown> = Record<string, unknown>> {
  /** Fires when the attempt is cancelled, timed out or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Structured logger tagged with pipeline, run, task and attempt. */
  readonly log: TaskLogger;
  readonly pipeline: string;
  readonly task: string;
  /** The run's id, as `sluice runs` and the API show it. */
  readonly runId: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
  /**
   * A stable idempotency key for this task instance (`pipeline:run:task`): the same for every
   * attempt of it. Delivery is at-least-once — an attempt may run again after it returned but
   * before its result was recorded (a crash in between) — so write with this key (a unique
   * column, an upsert, an `Idempotency-Key` header) and a repeat changes nothing.
   *
   * @example
   * await db.query("INSERT INTO loads (key, rows) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [ctx.key, n]);
   */
  readonly key: string;
  /** The schedule time this run is for (the trigger time for a manual run). */
  readonly scheduledFor: Date;
  /** Parameters given to `sluice trigger --params`, merged over none for scheduled runs. */
  readonly params: Params;
  /** The return values of upstream tasks, by task id. */
  readonly upstream: Readonly<Record<string, unknown>>;
  /** Renew the attempt's lease now (Sluice also renews it on a timer). */
  heartbeat(): Promise<void>;
  /** Report progress (0..1 or any JSON value); renews the lease too. */
  progress(value: unknown): Promise<void>;
  /**
   * Say the resource behind this task's pools is overloaded (e.g. the database answered "too
   * many connections" and you retried inside the task): adaptive pools it holds lower their limit
   * when the attempt ends, as they do for a lock timeout or refused connection it fails with.
   */
  overloaded(): void;
  /**
   * Take `tokens` of a rate limit declared in `rateLimits`, waiting until the budget has them:
   * one budget for the whole installation (on PostgreSQL, shared by every worker process and the
   * scheduler's admission). Resolves with when they were granted, by the budget's clock (ms
   * since the epoch). Rejects when the attempt's signal aborts while it waits.
   *
   * @example
   * for (const page of pages) {
   *   await ctx.take("partner_api");
   *   await fetch(page.url);
   * }
   */
  take(limit: string, tokens?: number): Promise<{ at: number }>;
  /**
   * Pass `stream` through a byte budget declared in `bandwidth`: the returned stream yields the
   * same bytes no faster than the budget allows, shared with every other throttled stream on it
   * (across worker processes on PostgreSQL). Backpressure reaches `stream`: it is read only as
   * fast as the budget lets bytes through. Errors of `stream` are forwarded.
   *
   * @example
   * await pipeline(ctx.throttle(createReadStream(path), "disk_io"), upload);
   */
  throttle(stream: ReadableSource, bandwidth: string): ThrottledStream;
  /**
   * A database declared in the config's `databases`, for this attempt: its connections come from
   * a pool tied to a Sluice pool, at most as many at once as the slots this task holds in it, and
   * they are all given back when the attempt ends (success, failure, timeout, cancel). Without a
   * name: the only declared database. Throws {@link TaskDatabase} errors at once when the name is
   * unknown or the task holds no slot of the database's pool.
   *
   * @example
   * .task("load", { pools: { warehouse_db: 1 } }, async (ctx) => {
   *   const db = ctx.pg("warehouse");
   *   const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM sales WHERE day = $1", [ctx.params.day]);
   *   return Number(rows[0]?.n);
   * })
   */
  pg(database?: string): TaskDatabase;
}

/**
 * A Node.js readable stream — a `Readable`, `fs.createReadStream(…)`, an HTTP response — typed by
 * what `ctx.throttle` uses of it, so the definition types need no Node type declarations.
 */
export interface ReadableSource {
  // `never`: any stream's `pipe` fits, whatever destinations it accepts.
  pipe(destination: never, options?: { end?: boolean }): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * What `ctx.throttle` returns: at run time a Node.js `Transform` (from `node:stream`), typed here
 * by what you do with it — iterate it, pass it to `stream.pipeline` — so the definition types need
 * no Node type declarations. Cast it to `Transform` for the rest of its API (`.pipe(…)`).
 */
export interface ThrottledStream extends AsyncIterable<Uint8Array> {
  on(event: "error", listener: (error: Error) => void): unknown;
  destroy(error?: Error): unknown;
}

/** The rows of a query, as node-postgres returns them (`QueryResult` of `pg`). */
export interface TaskQueryResult<Row = Record<string, unknown>> {
  rows: Row[];
  rowCount: number | null;
  command: string;
}

/**
 * A connection checked out with {@link TaskDatabase.connect}: a node-postgres `PoolClient` (type it
 * as one with `db.connect<pg.PoolClient>()` for the whole API, e.g. COPY streams). Call
 * `release()` when done; one still checked out when the attempt ends is closed for you.
 */
export interface TaskPgClient {
  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<TaskQueryResult<Row>>;
  /** Give the connection back (`release(true)` or an error: close it instead of reusing it). */
  release(destroy?: boolean | Error): void;
}

/** Rows for {@link TaskDatabase.load}: arrays of values, from an array, an (async) iterable or an object-mode stream. */
export type TaskRows = Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>;

/**
 * The options of `load` from `sluice/pg` other than `db`, `table` and `rows`: `mode`, `columns`,
 * and per mode `key`, `where`, `partition`, `lockTimeoutMs`, `deadlineMs`, `skipUnchanged`, `onEvent`.
 */
export interface TaskLoadOptions {
  mode: "swap" | "replace" | "upsert" | "partition" | "truncate";
  columns: readonly string[];
  [option: string]: unknown;
}

/** What {@link TaskDatabase.load} reports (the `LoadResult` of `sluice/pg`). */
export interface TaskLoadResult {
  mode: string;
  table: string;
  rowsWritten: number;
  durationMs: number;
  retries: number;
  lockWaitMs: number;
  deadTuples?: number;
}

/**
 * A declared database as one attempt sees it (`ctx.pg("warehouse")`). Every method takes one of
 * the attempt's connections (at most as many at once as the slots it holds in the database's
 * pool; more wait for one to come back, up to `checkoutTimeout`), names it after the task in
 * `application_name` (`sluice:pipeline/run/task`, seen in `pg_stat_activity` and
 * `sluice pg blockers`), and gives it back. When the attempt is cancelled or times out, its
 * running queries are cancelled and its connections closed.
 *
 * @example
 * const db = ctx.pg("warehouse");
 * await db.query("DELETE FROM staging WHERE run = $1", [ctx.runId]);
 * await db.load("public.daily", rows, { mode: "swap", columns: ["id", "total"] });
 * const client = await db.connect();
 * try { await client.query("BEGIN"); …; await client.query("COMMIT"); } finally { client.release(); }
 */
export interface TaskDatabase {
  /** The database's name in `databases`. */
  readonly name: string;
  /** The `application_name` this attempt's connections carry. */
  readonly applicationName: string;
  /** How many connections this attempt may have at once: the slots it holds in the database's pool. */
  readonly maxConnections: number;
  /** One statement on one of the attempt's connections, given back at once. */
  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<TaskQueryResult<Row>>;
  /** A connection of the attempt's own, for a transaction or a COPY stream; `release()` it when done. */
  connect<Client extends TaskPgClient = TaskPgClient>(): Promise<Client>;
  /** `load` from `sluice/pg` on one of the attempt's connections (swap, replace, upsert, partition, truncate). */
  load(table: string | { schema?: string; name: string }, rows: TaskRows, options: TaskLoadOptions): Promise<TaskLoadResult>;
}

export interface TaskLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type TaskFn = (ctx: TaskContext) => unknown;

export interface TaskOptions {
  /** Tasks of the same pipeline that must succeed first: handles returned by `.task()` or their ids. */
  dependsOn?: ReadonlyArray<TaskRef | string>;
  /** Slots held in each pool while the task runs, taken all at once or not at all. */
  pools?: Record<string, number>;
  /**
   * Tokens taken from each named rate limit (declared in `rateLimits`) when the task is admitted:
   * it waits until all of them are in the budget, together with its pools. For calls made inside
   * the task, use `ctx.take` instead.
   *
   * @example
   * .task("sync", { rate: { partner_api: 1 } }, fn)
   */
  rate?: Record<string, number>;
  /** Own priority weight. @defaultValue 1 */
  priority?: number;
  /** @defaultValue `"downstream"` */
  weightRule?: WeightRule;
  /** Which workers may run it. @defaultValue `"default"` */
  queue?: string;
  /** Retries after the first attempt fails. @defaultValue 0 */
  retries?: number;
  /**
   * Retries of attempts *lost* to infrastructure — the worker crashed, was killed, or Sluice shut
   * down mid-attempt — counted apart from `retries`: a lost attempt is not the task's fault. They
   * start again at once, without `retryDelay`. @defaultValue 3
   */
  lostRetries?: number;
  /** Delay before a retry. @defaultValue `"10s"` */
  retryDelay?: Duration;
  /** `exponential` doubles the delay each retry (capped by `maxRetryDelay`), with ±20% jitter. @defaultValue `"fixed"` */
  retryBackoff?: "fixed" | "exponential";
  /** @defaultValue `"1h"` */
  maxRetryDelay?: Duration;
  /** Abort the attempt after this long. @defaultValue none */
  timeout?: Duration;
  /**
   * Memory the task may use; admission keeps the sum within the worker's budget. With `isolation`
   * `thread` or `process` it is also enforced (see {@link Isolation}); inline, it is only declared.
   */
  memoryMb?: number;
  /** Where its attempts run: `inline`, `thread` or `process`; see {@link Isolation}. @defaultValue the pipeline's, else `"inline"` */
  isolation?: Isolation;
  /** Attempts of this task running at once across all runs of the pipeline. */
  maxActivePerPipeline?: number;
  /** Attempts of this task running at once within one run. */
  maxActivePerRun?: number;
  /** Expected run time, used by `sluice simulate` (and later by `analyze`). */
  estimate?: Duration;
  /**
   * The task should have succeeded this long after its run's scheduled time. Past it, while the
   * run is still active, a `task.sla_missed` event is recorded (once per run), `explain` says so
   * beforehand ("will miss its SLA at …" when its estimate no longer fits), and `simulate` predicts it.
   * @defaultValue none
   */
  sla?: Duration;
  description?: string;
  /** This task succeeded in a run (`task.success`). See {@link NotifyHook}. */
  onSuccess?: NotifyHook;
  /** This task failed for good, its retries spent (`task.failed`). See {@link NotifyHook}. */
  onFailure?: NotifyHook;
  /** An attempt of this task failed or was lost and it will be retried (`task.retry`). See {@link NotifyHook}. */
  onRetry?: NotifyHook;
  /** This task will not run in a run because an upstream task failed (`task.skipped`). See {@link NotifyHook}. */
  onSkip?: NotifyHook;
  /** A task missed its `sla` (`task.sla_missed`; on a pipeline also its runs' `deadline`, `run.deadline_missed`). See {@link NotifyHook}. */
  onSlaMiss?: NotifyHook;
}

export interface WorkerOptions {
  /** Attempts one worker runs at once. @defaultValue 8 */
  concurrency?: number;
  /** Memory budget of one worker; tasks' `memoryMb` must fit in it. @defaultValue unknown (not enforced) */
  memoryMb?: number;
}

/**
 * A token bucket: `limit` tokens per `per` at the sustained rate, at most `burst` at once. One
 * budget for the whole installation.
 *
 * @example
 * rateLimits: { partner_api: { limit: 100, per: "1m", burst: 10 } }
 */
export interface RateLimitOptions {
  /** Tokens per `per`. */
  limit: number;
  per: Duration;
  /** Tokens that may be taken at once after a quiet period. @defaultValue `limit` */
  burst?: number;
  description?: string;
}

/** A size: a number of bytes, or a string such as `"100MB"` (decimal) or `"1.5GiB"` (binary). */
export type Size = number | string;

/**
 * A byte budget shared by every stream passed through `ctx.throttle(stream, name)`.
 *
 * @example
 * bandwidth: { disk_io: { bytesPerSecond: "100MB" } }
 */
export interface BandwidthOptions {
  bytesPerSecond: Size;
  /** Bytes that may pass at once after a quiet period. @defaultValue a tenth of a second's budget */
  burst?: Size;
  description?: string;
}

export interface AgingOptions {
  /** Priority points a waiting task gains per minute of waiting. @defaultValue 1 */
  pointsPerMinute?: number;
}

export interface ReservationOptions {
  /** After a task has waited this long, the capacity it needs is held for it. @defaultValue `"30s"` */
  after?: Duration;
}

/** Declared by {@link pipeline}; add tasks with `.task(id, options, fn)`. */
export interface PipelineDefinition {
  readonly id: string;
  readonly options: PipelineOptions;
  readonly tasks: ReadonlyArray<TaskDefinition>;
  task(id: string, fn: TaskFn): TaskRef;
  task(id: string, options: TaskOptions, fn: TaskFn): TaskRef;
}

export interface TaskDefinition {
  readonly pipeline: string;
  readonly id: string;
  readonly options: TaskOptions;
  readonly fn: TaskFn;
}

/**
 * A PostgreSQL database tasks use through `ctx.pg(name)`. Each process that runs tasks keeps one
 * node-postgres pool per database, capped by the slots of `pool`; a task holding k slots of that
 * pool may have k connections at once.
 *
 * @example
 * databases: { warehouse: { url: { env: "WAREHOUSE_URL" }, pool: "warehouse_db", maxLifetime: "10m" } }
 */
export interface DatabaseOptions {
  /**
   * A `postgres://` URL, or `{ env: "NAME" }`: the URL is read from that environment variable by
   * each process when a task first uses the database (so `sluice worker` machines can point at
   * their own replica, and the URL, with its password, is never written to the store).
   */
  url: string | { env: string };
  /** The Sluice pool whose slots cap this database's connections. */
  pool: string;
  /** Give up opening one connection after this long (then retry). @defaultValue `"10s"` */
  connectTimeout?: Duration;
  /** Close a connection unused for this long. @defaultValue `"30s"` */
  idleTimeout?: Duration;
  /** Close a connection this old when it comes back to the pool. @defaultValue `"30m"` */
  maxLifetime?: Duration;
  /** How long a task asking for more connections than its slots waits for one of its own. @defaultValue `"30s"` */
  checkoutTimeout?: Duration;
  /** Retries of a checkout that failed to connect. @defaultValue 3 */
  retries?: number;
  /** First retry delay, doubled each retry, with jitter. @defaultValue `"250ms"` */
  retryDelay?: Duration;
  description?: string;
}

export interface SluiceConfig {
  /** Task attempts running at once in the whole installation. @defaultValue 32 */
  parallelism?: number;
  pools?: Record<string, PoolOptions>;
  /** PostgreSQL databases tasks reach with `ctx.pg(name)`; see {@link DatabaseOptions}. */
  databases?: Record<string, DatabaseOptions>;
  pipelines: ReadonlyArray<PipelineDefinition>;
  worker?: WorkerOptions;
  /** Token budgets tasks take from at admission (`rate`) and inside their body (`ctx.take`). See {@link RateLimitOptions}. */
  rateLimits?: Record<string, RateLimitOptions>;
  /** Byte budgets for `ctx.throttle`. See {@link BandwidthOptions}. */
  bandwidth?: Record<string, BandwidthOptions>;
  aging?: AgingOptions;
  reservation?: ReservationOptions;
  /**
   * How long finished runs (with their attempts and events) are kept; older ones are deleted in
   * small batches while Sluice runs (`sluice prune` does it by hand). `false` keeps everything.
   * @defaultValue `"30d"`
   */
  retention?: Duration | false;
  /** Webhook targets and hook limits; see {@link NotifyOptions}. Hooks themselves are options of pipelines and tasks. */
  notify?: NotifyOptions;
}
