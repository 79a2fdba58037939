import type { TaskLogSink } from "../observe/task-logs.js";
import type { CompletionOutcome, StartCommand } from "../core/engine/types.js";
import type { ResolvedConfig, ResolvedTask } from "../define/resolved.js";
import type { ReadableSource, TaskContext, TaskLogger } from "../define/types.js";
import { getHeapStatistics } from "node:v8";
import { setLongTimeout, type LongTimeout } from "./long-timeout.js";
import { IsolatedAttempt, type IsolatedEnd } from "./isolation/isolated-attempt.js";
import { Budgets, memoryTokenStore } from "./budgets.js";
import { Databases } from "./databases.js";
import { AttemptDatabases } from "./task-database.js";
import { heldPools } from "./held-pools.js";

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
   * still ran) has settled: what it held may go to the next task. `peakMemoryBytes`: the attempt's
   * peak memory, measured until then.
   */
  released(attemptId: number, peakMemoryBytes?: number): void;
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
  /**
   * The config module the config was loaded from: a `thread` or `process` attempt imports it again
   * to find its task. Without it such attempts fail with `SLUICE_ISOLATION_UNAVAILABLE`.
   */
  configPath?: string;
  /** How often isolated attempts' memory is read (the RSS watchdog of `process`), ms. @defaultValue 100 */
  memorySampleMs?: number;
  /** The budgets of `ctx.take` and `ctx.throttle`. @defaultValue in this process only */
  budgets?: Budgets;
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
  /** Its thread or child process (isolation `thread`/`process`). */
  isolated?: IsolatedAttempt;
  /** Kills the isolated attempt once the grace after its signal aborted is over. */
  killTimer?: NodeJS.Timeout;
  /** Inline: this process's heap in use when it started, and the highest seen since. */
  heap?: { start: number; peak: number };
  /** Its `ctx.pg` databases, from the first call; ended with the attempt. */
  databases?: AttemptDatabases;
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
 * Runs attempts: as async functions in this process (isolation `inline`), or in a thread or child
 * process each (`thread`, `process`; see {@link IsolatedAttempt}) — with the same slot and lease
 * accounting whatever the isolation. Each attempt gets an AbortSignal that fires on cancel, timeout
 * or shutdown. A task that ignores its signal is dealt with after a grace period: an inline one
 * is failed (its promise keeps running and keeps its slots — it cannot be killed), an isolated one
 * is killed, and its slots go back.
 *
 * The peak memory of every attempt is reported with its end: the RSS of its child process, the
 * heap of its thread, or — inline — how much this process's heap grew while it ran (shared with
 * whatever else ran at the same time, so an estimate).
 */
export class LocalWorker {
  private readonly tasks = new Map<string, ResolvedTask>();
  private readonly running = new Map<number, Running>();
  private readonly graceMs: number;
  private heapTimer: NodeJS.Timeout | undefined;
  /** What `ctx.take` and `ctx.throttle` draw on. */
  readonly budgets: Budgets;
  /** The config's `databases` in this process (`ctx.pg`): pools opened on first use. */
  readonly databases: Databases;

  constructor(private readonly options: LocalWorkerOptions) {
    this.budgets = options.budgets ?? new Budgets(options.config, memoryTokenStore());
    this.databases = new Databases(options.config);
    for (const p of options.config.pipelines) for (const t of p.tasks) this.tasks.set(t.key, t);
    this.graceMs = options.timeoutGraceMs ?? 5000;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Whether the attempt's function runs here (started, not yet settled or drained). */
  isRunning(attemptId: number): boolean {
    return this.running.has(attemptId);
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
    const isolation = def.isolation;
    if (isolation !== undefined && this.options.configPath === undefined) {
      this.settle(entry, { state: "failed", error: { message: `task ${cmd.taskKey} has isolation "${isolation}", but this worker was not given the config file to load it from; start Sluice with start({ config, configFile }) or from the CLI`, code: "SLUICE_ISOLATION_UNAVAILABLE" } });
      return;
    }
    if (cmd.timeoutMs !== undefined) {
      const timeoutMs = cmd.timeoutMs;
      entry.timer = setLongTimeout(() => {
        controller.abort(new TaskTimeoutError(timeoutMs));
        // An isolated attempt is killed after the grace (see runIsolated); an inline one cannot be.
        if (isolation !== undefined) return;
        entry.timer = setLongTimeout(() => {
          // The attempt is over (it may retry), but the function still runs: its slots stay
          // held until it settles (reported through `released`).
          this.settle(entry, { state: "timed_out", stillRunning: true, error: { message: `timed out after ${timeoutMs} ms and did not stop within ${this.graceMs} ms of its signal aborting; its slots stay held until it does`, code: "SLUICE_TASK_TIMEOUT" } }, false);
        }, this.graceMs);
      }, timeoutMs);
    }
    if (isolation !== undefined) {
      this.runIsolated(entry, def, isolation, this.options.configPath ?? "");
      return;
    }
    const ctx = this.context(cmd, controller.signal, entry);
    this.followHeap(entry);
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
        this.settle(entry, controller.signal.aborted ? abortedOutcome(controller.signal.reason, errorOf(err)) : { state: "failed", error: errorOf(err) });
      }
    })();
  }

  /**
   * Runs the attempt in a thread or child process. Its signal reaches the child as a message; if it
   * has not stopped `graceMs` after its signal aborted (timeout, cancel, shutdown), it is killed.
   */
  private runIsolated(entry: Running, def: ResolvedTask, isolation: "thread" | "process", configPath: string): void {
    const { cmd, controller } = entry;
    let log: TaskLogger | undefined;
    let isolated: IsolatedAttempt;
    try {
      isolated = this.isolate(entry, def, isolation, configPath, () => (log ??= this.options.taskLogger(loggerFields(cmd))));
    } catch (err) {
      this.settle(entry, { state: "failed", error: { ...errorOf(err), code: "SLUICE_ISOLATION_CRASHED" } });
      return;
    }
    entry.isolated = isolated;
    controller.signal.addEventListener(
      "abort",
      () => {
        const reason: unknown = controller.signal.reason;
        isolated.abort(reason instanceof Error ? reason.message : String(reason), reason instanceof TaskTimeoutError ? reason.timeoutMs : undefined);
        entry.killTimer = setTimeout(() => isolated.kill(), this.graceMs);
      },
      { once: true },
    );
    entry.done = isolated.done.then((end) => this.settle(entry, this.isolatedOutcome(end, controller.signal, isolation)));
  }

  private isolate(entry: Running, def: ResolvedTask, isolation: "thread" | "process", configPath: string, log: () => TaskLogger): IsolatedAttempt {
    const { cmd } = entry;
    const channel = this.options.channel;
    return new IsolatedAttempt({
      isolation,
      configPath,
      cmd,
      memoryMb: def.memoryMb,
      ...(this.options.memorySampleMs !== undefined ? { sampleMs: this.options.memorySampleMs } : {}),
      hooks: {
        log: (level, msg, fields) => log()[level](msg, fields),
        heartbeat: (withProgress, progress) => (withProgress ? channel.heartbeat(cmd.attemptId, cmd.fencingToken, progress) : channel.heartbeat(cmd.attemptId, cmd.fencingToken)),
        overloaded: () => {
          entry.overloaded = true;
        },
        // ctx.take and ctx.throttle of the child draw on this worker's budgets (the installation's).
        tokens: async (budget, name, min, max) =>
          budget === "rate" ? { taken: min, at: (await this.budgets.take(name, min, entry.controller.signal)).at } : { taken: await this.budgets.takeBytes(name, max, entry.controller.signal), at: Date.now() },
      },
    });
  }

  private isolatedOutcome(end: IsolatedEnd, signal: AbortSignal, isolation: "thread" | "process"): CompletionOutcome {
    const reason: unknown = signal.reason;
    switch (end.kind) {
      case "returned":
        return signal.aborted ? abortedOutcome(reason) : { state: "success", output: end.output };
      case "threw":
        return signal.aborted ? abortedOutcome(reason, end.error) : { state: "failed", error: end.error };
      case "memory":
        return { state: "failed", error: errorOf(end.error) };
      case "crashed":
        return { state: "failed", error: errorOf(end.error) };
      case "killed": {
        const why = `did not stop within ${this.graceMs} ms of its signal aborting, so its ${isolation === "thread" ? "thread was stopped" : "child process was killed"}`;
        if (reason instanceof TaskTimeoutError) return { state: "timed_out", error: { message: `${reason.message} and ${why}`, code: reason.code } };
        return { state: "failed", error: { message: `aborted: ${reason instanceof Error ? reason.message : String(reason)}; it ${why}`, code: "SLUICE_ABORTED" } };
      }
      default: {
        const unknown: never = end;
        throw new Error(`unknown end of an isolated attempt: ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** Inline attempts: sample this process's heap while any runs (every 500 ms, and at start and end). */
  private followHeap(entry: Running): void {
    const now = getHeapStatistics().used_heap_size;
    entry.heap = { start: now, peak: now };
    if (this.heapTimer) return;
    this.heapTimer = setInterval(() => {
      const heap = getHeapStatistics().used_heap_size;
      let inline = 0;
      for (const e of this.running.values()) {
        if (!e.heap) continue;
        inline++;
        if (heap > e.heap.peak) e.heap.peak = heap;
      }
      if (inline === 0) {
        clearInterval(this.heapTimer);
        this.heapTimer = undefined;
      }
    }, 500);
    this.heapTimer.unref();
  }

  /** The attempt's peak memory so far, bytes: its child's RSS, its thread's heap, or (inline) the growth of this process's heap. */
  private peakOf(entry: Running): number | undefined {
    if (entry.isolated) return entry.isolated.peakBytes;
    if (!entry.heap) return undefined;
    const heap = getHeapStatistics().used_heap_size;
    if (heap > entry.heap.peak) entry.heap.peak = heap;
    return Math.max(0, entry.heap.peak - entry.heap.start);
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
    if (!entry.controller.signal.aborted) entry.controller.abort(new Error(reason));
  }

  /** Attempts that ended (cancelled, timed out) whose function still runs. */
  get drainingCount(): number {
    let n = 0;
    for (const e of this.running.values()) if (e.draining) n++;
    return n;
  }

  /** Abort every running attempt (shutdown deadline); they report their end as usual. */
  abortAll(reason: string): void {
    for (const entry of this.running.values()) if (!entry.controller.signal.aborted) entry.controller.abort(new Error(reason));
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
    const peak = this.peakOf(entry);
    if (entry.settled) {
      if (fnSettled && entry.draining) {
        this.cleanup(entry);
        this.options.channel.released(entry.cmd.attemptId, peak);
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
    const reported: CompletionOutcome = { ...outcome, ...(entry.overloaded ? { overloaded: true } : {}), ...(peak !== undefined ? { peakMemoryBytes: peak } : {}) };
    this.options.channel.complete(entry.cmd.attemptId, entry.cmd.fencingToken, reported);
  }

  private cleanup(entry: Running): void {
    void entry.databases?.end();
    entry.timer?.clear();
    clearTimeout(entry.killTimer);
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
        return (log ??= makeLogger(loggerFields(cmd)));
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
      take: (limit: string, tokens = 1) => this.budgets.take(limit, tokens, signal),
      throttle: (stream: ReadableSource, bandwidth: string) => this.budgets.throttle(stream, bandwidth, signal),
      pg: (name?: string) =>
        (entry.databases ??= new AttemptDatabases(this.databases, { pipeline: cmd.pipeline, runId: cmd.runId, task: cmd.task }, heldPools(cmd, this.tasks.get(cmd.taskKey)), signal, () => {
          entry.overloaded = true;
        })).get(name),
    };
  }
}

/** The fields a task's log lines are tagged with. */
function loggerFields(cmd: StartCommand): Record<string, unknown> {
  return { pipeline: cmd.pipeline, run: cmd.runId, task: cmd.task, attempt: cmd.attempt, attemptId: cmd.attemptId };
}

/** The end of an attempt whose signal aborted; `err`: what its function threw, serialized. */
function abortedOutcome(reason: unknown, err?: { message: string; stack?: string; code?: string }): CompletionOutcome {
  if (reason instanceof TaskTimeoutError) return { state: "timed_out", error: { message: reason.message, code: reason.code } };
  const why = reason instanceof Error ? reason.message : String(reason);
  return { state: "failed", error: { ...(err ?? errorOf(reason)), message: `aborted: ${why}`, code: "SLUICE_ABORTED" } };
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
