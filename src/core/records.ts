/**
 * The records Sluice keeps about runs, task instances, attempts, schedules and events, and the
 * changes the engine decides. Plain data: the engine (core) produces {@link Change}s, the
 * scheduler hands them to a store, which applies them in one transaction per batch.
 */

/** Milliseconds since the Unix epoch. */
export type EpochMs = number;

export type RunState = "queued" | "running" | "success" | "failed" | "cancelled";
export type RunTrigger = "schedule" | "catchup" | "manual";

export type TaskState =
  | "pending" // waiting for upstream tasks
  | "ready" // upstream done, waiting for admission
  | "running"
  | "retry_wait" // failed, waiting for its retry delay
  | "success"
  | "failed"
  | "upstream_failed"
  | "cancelled";

export type AttemptState = "running" | "success" | "failed" | "timed_out" | "lost" | "cancelled";

export interface RunRecord {
  /** Assigned by the scheduler; increases with creation order. */
  id: number;
  pipeline: string;
  scheduledFor: EpochMs;
  trigger: RunTrigger;
  params: Record<string, unknown>;
  state: RunState;
  createdAt: EpochMs;
  startedAt: EpochMs | null;
  endedAt: EpochMs | null;
}

export interface TaskInstanceRecord {
  runId: number;
  task: string;
  state: TaskState;
  /** Attempts made so far. */
  attempts: number;
  /** Of those, attempts lost to infrastructure (crash, shutdown); they use the `lostRetries` budget. */
  lostAttempts: number;
  /** When it last became ready (its place in the queue), or when its retry is due. */
  readyAt: EpochMs | null;
  /** JSON-serialisable return value of the successful attempt. */
  output: unknown;
}

export interface HeldResource {
  /** Admission resource key, e.g. `pool:warehouse_db`, `parallelism`. */
  key: string;
  amount: number;
}

export interface AttemptRecord {
  /** Assigned by the scheduler; increases with creation order. */
  id: number;
  runId: number;
  pipeline: string;
  task: string;
  /** 1-based. */
  attempt: number;
  state: AttemptState;
  /** Grows with every attempt ever created: a completion carrying a smaller token is refused. */
  fencingToken: number;
  workerId: string | null;
  /** When the task became ready for this attempt. */
  queuedAt: EpochMs;
  startedAt: EpochMs;
  endedAt: EpochMs | null;
  leaseExpiresAt: EpochMs | null;
  error: { message: string; stack?: string; code?: string } | null;
  progress: unknown;
  /** What the attempt holds (while running) or held (after it ended). */
  resources: HeldResource[];
  /**
   * Peak memory while it ran, bytes, as its worker measured it: the RSS of its child process
   * (isolation `process`), the V8 heap of its thread (`thread`), or how much the worker's heap
   * grew while it ran (`inline`: shared with whatever ran beside it, so an estimate). `null` while
   * it runs, and for attempts that ended without a report (lost) or were recorded before peak memory was.
   */
  peakMemoryBytes: number | null;
}

export interface ScheduleStateRecord {
  pipeline: string;
  /** The latest scheduled time for which a decision (run, buffer or skip) was recorded. */
  lastScheduledFor: EpochMs | null;
  skipped: number;
  /** When the pipeline was paused (`sluice pause`); `null` when it is not. */
  pausedAt: EpochMs | null;
  /** Runs of a backfill (`sluice backfill --max-active`) that may run at once; `null`: no backfill cap. */
  backfillMaxActive: number | null;
}

/** An entry of the append-only event log; history and the timeline are read from it. */
export interface EventRecord {
  /** Assigned by the store. */
  id?: number;
  at: EpochMs;
  type: string;
  level: "debug" | "info" | "warn" | "error";
  pipeline: string | null;
  runId: number | null;
  task: string | null;
  attemptId: number | null;
  message: string;
  data: Record<string, unknown>;
}

/** One change, applied with others of its batch in one transaction by a store. */
export type Change =
  | { type: "createRun"; run: RunRecord; tasks: TaskInstanceRecord[] }
  | { type: "updateRun"; id: number; state: RunState; startedAt?: EpochMs | null; endedAt?: EpochMs | null }
  | { type: "updateTask"; runId: number; task: string; state: TaskState; attempts?: number; lostAttempts?: number; readyAt?: EpochMs | null; output?: unknown }
  | { type: "createAttempt"; attempt: AttemptRecord }
  | {
      type: "endAttempt";
      id: number;
      state: Exclude<AttemptState, "running">;
      endedAt: EpochMs;
      error?: AttemptRecord["error"];
      /**
       * The attempt ended (cancelled, timed out) but its function still runs: its resources stay
       * held until a `releaseAttempt` (the worker saw the function settle).
       */
      stillRunning?: boolean;
      /** Its peak memory, as its worker reported it; left as it is when absent. */
      peakMemoryBytes?: number;
    }
  /** `peakMemoryBytes`: measured until its function settled; kept when higher than the one recorded. */
  | { type: "releaseAttempt"; id: number; at: EpochMs; peakMemoryBytes?: number }
  | { type: "recordSchedule"; pipeline: string; lastScheduledFor: EpochMs; skippedDelta: number }
  /** An operator's setting of a pipeline; a field left out is left as it is. */
  | { type: "controlPipeline"; pipeline: string; pausedAt?: EpochMs | null; backfillMaxActive?: number | null }
  | { type: "appendEvent"; event: EventRecord };


/** Everything the scheduler needs to pick up where it left off. */
export interface ActiveState {
  /** Runs in state `queued` or `running`, by id. */
  runs: RunRecord[];
  /** Task instances of those runs. */
  tasks: TaskInstanceRecord[];
  /** Attempts in state `running` (any run). */
  attempts: AttemptRecord[];
  /**
   * Attempts that ended (cancelled, timed out) while their function kept running, not released
   * yet: they still hold their resources. Absent from stores that predate them.
   */
  draining?: AttemptRecord[];
  schedules: ScheduleStateRecord[];
  /** Highest ids handed out so far (0 when none), so new ids keep growing. */
  maxRunId: number;
  maxAttemptId: number;
  maxFencingToken: number;
}

/** Measured by the worker, reported with an attempt's end. */
interface Measured {
  /**
   * Peak memory of the attempt, bytes: the RSS of its child process (`process`), the V8 heap of
   * its thread (`thread`), or how much the worker's heap grew while it ran (`inline`, an estimate).
   */
  peakMemoryBytes?: number;
}

export type CompletionOutcome =
  | ({ state: "success"; output: unknown; overloaded?: boolean } & Measured)
  | ({
      state: "failed" | "timed_out";
      error: NonNullable<AttemptRecord["error"]>;
      /** The task called `ctx.overloaded()`: an adaptive pool it held lowers its limit. */
      overloaded?: boolean;
      /** The function has not settled (it ignored its signal): keep its resources until the worker says it has. */
      stillRunning?: boolean;
    } & Measured);

