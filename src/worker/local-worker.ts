import type { TaskLogSink } from "../observe/task-logs.js";
import type { CompletionOutcome, StartCommand } from "../core/engine/types.js";
import type { ResolvedConfig, ResolvedTask } from "../define/resolved.js";
import type { TaskContext, TaskLogger } from "../define/types.js";
import { setLongTimeout, type LongTimeout } from "./long-timeout.js";

/**
 * How a worker reaches the scheduler. In `sluice run` the scheduler serves it in-process; a
 * distributed worker will serve the same calls from the store, with the same fencing checks.
 */
export interface WorkerChannel {
  /** Report an attempt's end. The scheduler refuses it if the fencing token is stale. */
  complete(attemptId: number, fencingToken: number, outcome: CompletionOutcome): void;
  /** Renew the attempt's lease (and record progress). False when the attempt is no longer this worker's. */
  heartbeat(attemptId: number, fencingToken: number, progress?: unknown): Promise<boolean>;
  /**
   * The function of an attempt that already ended (cancelled, or reported timed out while it
   * still ran) has settled: what it held may go to the next task.
   */
  released(attemptId: number): void;
}

export interface LocalWorkerOptions {
  config: ResolvedConfig;
  channel: WorkerChannel;
  /** Logger factory for task contexts. */
  taskLogger: (fields: Record<string, unknown>) => TaskLogger;
  /** After a timeout aborts the signal, how long a task may take to stop before the attempt fails anyway. @defaultValue 5000 */
  timeoutGraceMs?: number;
  /** Where `ctx.log` lines are kept: told when an attempt's function settles. */
  taskLogs?: TaskLogSink;
}

interface Running {
  cmd: StartCommand;
  controller: AbortController;
  done: Promise<void>;
  settled: boolean;
  /** Its end was reported (or it was cancelled) while the function still ran: report the release when it settles. */
  draining: boolean;
  timer: LongTimeout | undefined;
  /** The task called `ctx.overloaded()`. */
  overloaded?: boolean;
}

/** Raised into a task's signal when its `timeout` passes. */
export class TaskTimeoutError extends Error {
  readonly code = "SLUICE_TASK_TIMEOUT";
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = "TaskTimeoutError";
  }
}

/**
 * Runs attempts in this process as async functions (isolation `inline`). Each attempt gets an
 * AbortSignal that fires on cancel, timeout or shutdown; a task that ignores its signal after a
 * timeout is failed after a grace period (its promise keeps running — inline isolation cannot kill it).
 */
export class LocalWorker {
  private readonly tasks = new Map<string, ResolvedTask>();
  private readonly running = new Map<number, Running>();
  private readonly graceMs: number;

  constructor(private readonly options: LocalWorkerOptions) {
    for (const p of options.config.pipelines) for (const t of p.tasks) this.tasks.set(t.key, t);
    this.graceMs = options.timeoutGraceMs ?? 5000;
  }

  get runningCount(): number {
    return this.running.size;
  }

  runningIds(): number[] {
    return [...this.running.keys()];
  }

  /** Start an attempt; its end is reported through the channel. */
  run(cmd: StartCommand): void {
    const def = this.tasks.get(cmd.taskKey);
    const controller = new AbortController();
    const entry: Running = { cmd, controller, done: Promise.resolve(), settled: false, draining: false, timer: undefined };
    this.running.set(cmd.attemptId, entry);
    if (!def) {
      this.settle(entry, { state: "failed", error: { message: `task ${cmd.taskKey} is not in the loaded config`, code: "SLUICE_UNKNOWN_TASK" } });
      return;
    }
    const ctx = this.context(cmd, controller.signal, entry);
    if (cmd.timeoutMs !== undefined) {
      const timeoutMs = cmd.timeoutMs;
      entry.timer = setLongTimeout(() => {
        controller.abort(new TaskTimeoutError(timeoutMs));
        entry.timer = setLongTimeout(() => {
          // The attempt is over (it may retry), but the function still runs: its slots stay
          // held until it settles (reported through `released`).
          this.settle(entry, { state: "timed_out", stillRunning: true, error: { message: `timed out after ${timeoutMs} ms and did not stop within ${this.graceMs} ms of its signal aborting; its slots stay held until it does`, code: "SLUICE_TASK_TIMEOUT" } }, false);
        }, this.graceMs);
      }, timeoutMs);
    }
    entry.done = (async () => {
      try {
        const value: unknown = await def.fn(ctx);
        if (controller.signal.aborted) {
          this.settle(entry, abortedOutcome(controller.signal.reason));
          return;
        }
        const output = toJson(value);
        this.settle(entry, output.ok ? { state: "success", output: output.value } : { state: "failed", error: { message: output.message, code: "SLUICE_OUTPUT_NOT_JSON" } });
      } catch (err) {
        this.settle(entry, controller.signal.aborted ? abortedOutcome(controller.signal.reason, err) : { state: "failed", error: errorOf(err) });
      }
    })();
  }

  /**
   * Abort an attempt the scheduler ended (cancel): its result is not reported; once its function
   * settles, `released` says so (at once if it already has), and its resources go back.
   */
  abort(attemptId: number, reason: string): void {
    const entry = this.running.get(attemptId);
    if (!entry) {
      this.options.channel.released(attemptId);
      return;
    }
    entry.settled = true;
    entry.draining = true;
    entry.timer?.clear();
    entry.controller.abort(new Error(reason));
  }

  /** Attempts that ended (cancelled, timed out) whose function still runs. */
  get drainingCount(): number {
    let n = 0;
    for (const e of this.running.values()) if (e.draining) n++;
    return n;
  }

  /** Abort every running attempt (shutdown deadline); they report their end as usual. */
  abortAll(reason: string): void {
    for (const entry of this.running.values()) entry.controller.abort(new Error(reason));
  }

  /** Resolves when nothing runs, or at `deadline` (ms since epoch), whichever comes first. */
  async idle(deadline: number): Promise<boolean> {
    while (this.running.size > 0 && Date.now() < deadline) {
      const pending = [...this.running.values()].map((r) => r.done);
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, Math.max(1, Math.min(250, deadline - Date.now()))))]);
    }
    return this.running.size === 0;
  }

  /** `fnSettled`: the task's function has returned or thrown (false: reported while it still runs). */
  private settle(entry: Running, outcome: CompletionOutcome, fnSettled = true): void {
    if (entry.settled) {
      if (fnSettled && entry.draining) {
        this.cleanup(entry);
        this.options.channel.released(entry.cmd.attemptId);
      }
      return;
    }
    entry.settled = true;
    if (fnSettled) {
      this.cleanup(entry);
    } else {
      entry.draining = true;
      entry.timer?.clear();
    }
    this.options.channel.complete(entry.cmd.attemptId, entry.cmd.fencingToken, entry.overloaded ? { ...outcome, overloaded: true } : outcome);
  }

  private cleanup(entry: Running): void {
    entry.timer?.clear();
    this.running.delete(entry.cmd.attemptId);
    this.options.taskLogs?.ended(entry.cmd.attemptId);
  }

  private context(cmd: StartCommand, signal: AbortSignal, entry: Running): TaskContext {
    const channel = this.options.channel;
    const makeLogger = this.options.taskLogger;
    // A task logger (a pino child) is made on first use: most no-op or quiet tasks never log,
    // and making one per attempt was a fifth of what an attempt allocates.
    let log: TaskLogger | undefined;
    return {
      signal,
      get log(): TaskLogger {
        return (log ??= makeLogger({ pipeline: cmd.pipeline, run: cmd.runId, task: cmd.task, attempt: cmd.attempt, attemptId: cmd.attemptId }));
      },
      pipeline: cmd.pipeline,
      task: cmd.task,
      runId: cmd.runId,
      attempt: cmd.attempt,
      key: `${cmd.pipeline}:${cmd.runId}:${cmd.task}`,
      scheduledFor: new Date(cmd.scheduledFor),
      params: cmd.params,
      upstream: cmd.upstream,
      heartbeat: async () => {
        await channel.heartbeat(cmd.attemptId, cmd.fencingToken);
      },
      progress: async (value: unknown) => {
        await channel.heartbeat(cmd.attemptId, cmd.fencingToken, value);
      },
      overloaded: () => {
        entry.overloaded = true;
      },
    };
  }
}

function abortedOutcome(reason: unknown, err?: unknown): CompletionOutcome {
  if (reason instanceof TaskTimeoutError) return { state: "timed_out", error: { message: reason.message, code: reason.code } };
  const why = reason instanceof Error ? reason.message : String(reason);
  return { state: "failed", error: { ...errorOf(err ?? reason), message: `aborted: ${why}`, code: "SLUICE_ABORTED" } };
}

/** Error message, stack and code of anything thrown. */
export function errorOf(err: unknown): { message: string; stack?: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message || err.name, ...(err.stack ? { stack: err.stack } : {}), ...(typeof code === "string" ? { code } : {}) };
  }
  return { message: typeof err === "string" ? err : JSON.stringify(err) ?? String(err) };
}

function toJson(value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  if (value === undefined) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(JSON.stringify(value)) as unknown };
  } catch (err) {
    return { ok: false, message: `the task returned a value that cannot be stored as JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}
