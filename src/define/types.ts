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

/** A fixed interval (`{ every: "15m" }`) or a cron expression (`{ cron: "0 2 * * *", timezone: "Europe/Paris" }`). */
export type ScheduleOptions =
  | { every: Duration; cron?: never; timezone?: never }
  | { cron: string; timezone?: string; every?: never };

export interface PoolOptions {
  /** How many slots the pool has; a task holds the number it names while it runs. */
  slots: number;
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
  description?: string;
}

/** A handle to a declared task, used in `dependsOn`. */
export interface TaskRef {
  readonly pipeline: string;
  readonly id: string;
}

/** What a task function receives. */
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
  /** Memory the task may use; admission keeps the sum within the worker's budget. */
  memoryMb?: number;
  /** Attempts of this task running at once across all runs of the pipeline. */
  maxActivePerPipeline?: number;
  /** Attempts of this task running at once within one run. */
  maxActivePerRun?: number;
  /** Expected run time, used by `sluice simulate` (and later by `analyze`). */
  estimate?: Duration;
  description?: string;
}

export interface WorkerOptions {
  /** Attempts one worker runs at once. @defaultValue 8 */
  concurrency?: number;
  /** Memory budget of one worker; tasks' `memoryMb` must fit in it. @defaultValue unknown (not enforced) */
  memoryMb?: number;
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

export interface SluiceConfig {
  /** Task attempts running at once in the whole installation. @defaultValue 32 */
  parallelism?: number;
  pools?: Record<string, PoolOptions>;
  pipelines: ReadonlyArray<PipelineDefinition>;
  worker?: WorkerOptions;
  aging?: AgingOptions;
  reservation?: ReservationOptions;
  /**
   * How long finished runs (with their attempts and events) are kept; older ones are deleted in
   * small batches while Sluice runs (`sluice prune` does it by hand). `false` keeps everything.
   * @defaultValue `"30d"`
   */
  retention?: Duration | false;
}
