import type {
  AgingOptions,
  Duration,
  PipelineOptions,
  ReservationOptions,
  SluiceConfig,
  TaskOptions,
  WorkerOptions,
} from "./types.js";

/** The shape of {@link DEFAULTS}: every option that has a default, with a value of its own type. */
export interface SluiceDefaults {
  parallelism: NonNullable<SluiceConfig["parallelism"]>;
  worker: Required<Pick<WorkerOptions, "concurrency">>;
  aging: Required<AgingOptions>;
  reservation: Required<ReservationOptions>;
  retention: Duration;
  pipeline: Required<Pick<PipelineOptions, "overlap" | "maxActiveRuns" | "catchup" | "catchupWindow">>;
  task: Required<
    Pick<
      TaskOptions,
      "priority" | "weightRule" | "queue" | "retries" | "lostRetries" | "retryDelay" | "retryBackoff" | "maxRetryDelay" | "isolation"
    >
  >;
}

/**
 * Every default of the definition API, in one place. `resolveConfig` applies them; docs and
 * `sluice inspect` can print them. Options without an entry here default to "not set"
 * (`maxActiveTasks`, `timeout`, `memoryMb`, `worker.memoryMb`, …).
 */
export const DEFAULTS = {
  /** Task attempts running at once in the whole installation. @defaultValue 32 */
  parallelism: 32,
  worker: {
    /** Attempts one worker runs at once. @defaultValue 8 */
    concurrency: 8,
  },
  aging: {
    /** Priority points a waiting task gains per minute of waiting. @defaultValue 1 */
    pointsPerMinute: 1,
  },
  reservation: {
    /** Wait after which the capacity a task needs is held for it. @defaultValue `"30s"` */
    after: "30s",
  },
  /** How long finished runs are kept. @defaultValue `"30d"` */
  retention: "30d",
  pipeline: {
    /** What a due run does while an earlier run is active. @defaultValue `"skip"` */
    overlap: "skip",
    /** Runs of one pipeline active at once. @defaultValue 1 */
    maxActiveRuns: 1,
    /** Create runs missed while Sluice was down. @defaultValue false */
    catchup: false,
    /** How far back catch-up looks. @defaultValue `"24h"` */
    catchupWindow: "24h",
  },
  task: {
    /** A task's own priority weight. @defaultValue 1 */
    priority: 1,
    /** How the weight is computed over the DAG. @defaultValue `"downstream"` */
    weightRule: "downstream",
    /** Which workers may run the task. @defaultValue `"default"` */
    queue: "default",
    /** Retries after the first failed attempt. @defaultValue 0 */
    retries: 0,
    /** Retries of attempts lost to a crash or shutdown, apart from `retries`. @defaultValue 3 */
    lostRetries: 3,
    /** Delay before a retry. @defaultValue `"10s"` */
    retryDelay: "10s",
    /** How the retry delay grows. @defaultValue `"fixed"` */
    retryBackoff: "fixed",
    /** Cap on the retry delay with exponential backoff. @defaultValue `"1h"` */
    maxRetryDelay: "1h",
    /** Where attempts run: in the worker's process. @defaultValue `"inline"` */
    isolation: "inline",
  },
} as const satisfies SluiceDefaults;
