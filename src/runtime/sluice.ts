/**
 * The programmatic API: run Sluice inside your own Node service, as `sluice run` does from the
 * command line — a scheduler, a local worker and a store, started from a config object.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ResourceUsage } from "../core/admission/types.js";
import type { TaskExplanation } from "../core/engine/types.js";
import { SluiceError, UnknownPipelineError } from "../core/errors.js";
import type { AttemptRecord, EventRecord, RunRecord, RunState, TaskInstanceRecord } from "../core/records.js";
import { parseDuration } from "../define/duration.js";
import { ConfigError } from "../define/errors.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { Duration, SluiceConfig } from "../define/types.js";
import { resolveConfig } from "../define/validate.js";
import { createLogger, taskLoggerFrom, type Logger } from "../observe/logger.js";
import type { Registry } from "prom-client";
import { Scheduler } from "../scheduler/scheduler.js";
import { StoreCorruptError } from "../store/errors.js";
import { describeLocation, openStore, resolveStoreUrl } from "../store/open.js";
import type { AttemptQuery, EventQuery, RunQuery, Store } from "../store/types.js";
import { LocalWorker } from "../worker/local-worker.js";
import { backfilledRuns, ticksBetween, ticksWithoutRun } from "../scheduler/backfill.js";
import { MAX_BACKFILL_RUNS } from "../core/engine/engine.js";
import { TaskLogSink } from "../observe/task-logs.js";
import { MEMORY_BUDGET_SHARE, defaultMemoryBudgetMb } from "../worker/memory-budget.js";
import { WorkerProcess } from "../worker/remote-worker.js";
import { throttledErrors } from "../observe/throttle.js";
import { attachNotifier, type Notifier } from "../observe/notify.js";
import { isTokenStore, isWorkerStore } from "../store/types.js";
import { Budgets, memoryTokenStore } from "../worker/budgets.js";
import { queuesOf } from "../core/engine/plan.js";
import { definitionsOf, fingerprintOf } from "../define/stored.js";

/** Options of {@link start}. */
export interface StartOptions {
  /** The config, as `defineConfig` returns it. It is validated here: every problem at once, in a {@link ConfigError}. */
  config: SluiceConfig;
  /**
   * Where runs and attempts are recorded: `file:path/to/sluice.db`, a plain path, or `:memory:`.
   * @defaultValue `SLUICE_DATABASE_URL` if set, else `.sluice/sluice.db` under `cwd`
   */
  db?: string;
  /** Folder that a relative `db` (and the default store) is resolved against. @defaultValue `process.cwd()` */
  cwd?: string;
  /** Create runs from the pipelines' schedules. Off: runs start only with {@link Sluice.trigger}. @defaultValue true */
  schedules?: boolean;
  /** Attempts the local worker runs at once. @defaultValue the config's `worker.concurrency` */
  concurrency?: number;
  /**
   * Where Sluice logs (JSON lines, pino): a pino logger of yours, or `false` for none.
   * @defaultValue a pino logger on stdout at `logLevel`
   */
  logger?: Logger | false;
  /** Level of the default logger. @defaultValue `SLUICE_LOG_LEVEL`, else `"info"` */
  logLevel?: LogLevel;
  /** How long {@link Sluice.stop} lets running attempts finish before aborting them. @defaultValue `"30s"` */
  shutdownTimeout?: Duration;
  /**
   * The scheduler lease: how long the store counts this Sluice as the scheduler without hearing
   * from it (renewed every third of it). After a crash or a pause longer than this, another
   * scheduler may take the store over; this one then writes nothing more and stops.
   * @defaultValue `"15s"`
   */
  leaseTtl?: Duration;
  /**
   * After a timeout or cancel aborts a task's signal, how long it may take to stop before the
   * attempt is recorded as ended anyway (an inline task keeps running, and keeps its slots, until
   * it settles) or — isolation `thread`/`process` — its thread or child process is killed.
   * @defaultValue `"5s"`
   */
  timeoutGrace?: Duration;
  /**
   * The file the config was imported from. Needed when a task has `isolation: "thread"` or
   * `"process"`: the thread or child process imports this file again to find the task's function.
   * `sluice run` passes the config it loaded.
   *
   * @example
   * import config from "./sluice.config.js";
   * await start({ config, configFile: new URL("./sluice.config.ts", import.meta.url) });
   */
  configFile?: string | URL;
  /**
   * Run tasks in this process. `false`: only schedule — worker processes (`sluice worker`) run
   * them, which needs a store they share (PostgreSQL). On PostgreSQL the in-process worker is one
   * worker among any others that join, serving every queue of the config.
   * @defaultValue true
   */
  worker?: boolean;
  /**
   * When another scheduler is active on the store, stand by and take over once it is gone
   * (within the lease TTL plus a second), instead of failing with `SchedulerBusyError`.
   * `start()` resolves only once this Sluice is active.
   * @defaultValue false
   */
  standby?: boolean;
}

/** Log levels, quietest last. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

/** What a running Sluice reports; subscribe with `sluice.on(name, listener)`. */
export interface SluiceEvents {
  /** An entry of the event log (triggers, skips, retries, failures, run ends …), after it is stored. */
  event: [EventRecord];
  /** A run ended (`success`, `failed` or `cancelled`), after it is stored. */
  runEnded: [RunRecord];
  /** A worker report was refused (stale fencing token, attempt no longer running). */
  refused: [{ attemptId: number; reason: string }];
  /**
   * Something went wrong outside a task: a store write failed, the scheduler lease was lost.
   * Codes `SLUICE_LEASE_LOST`, `SLUICE_STORE_UNAVAILABLE` and `SLUICE_STORE_GONE` (the store file
   * was deleted or replaced) stop Sluice (then `stopped` fires).
   */
  error: [Error];
  /** Sluice has stopped (after {@link Sluice.stop}, or on its own after a fatal error). */
  stopped: [];
}

/** Defaults of {@link StartOptions}. */
export const START_DEFAULTS = {
  /** @defaultValue `"30s"` */
  shutdownTimeout: "30s",
  /** @defaultValue `"5s"` */
  timeoutGrace: "5s",
  /** @defaultValue true */
  schedules: true,
  /** @defaultValue `"15s"` */
  leaseTtl: "15s",
} as const satisfies Partial<StartOptions>;

const FINAL: ReadonlySet<RunState> = new Set(["success", "failed", "cancelled"]);
/** Errors after which this Sluice stops on its own: it may no longer (or cannot) write to its store. */
export const FATAL_CODES: ReadonlySet<string> = new Set(["SLUICE_LEASE_LOST", "SLUICE_STORE_UNAVAILABLE", "SLUICE_STORE_GONE"]);
const RUN_END_EVENTS: ReadonlySet<string> = new Set(["run.success", "run.failed", "run.cancelled"]);

/**
 * A running Sluice: a scheduler and a local worker on a store. Make one with {@link start}.
 *
 * @example
 * const sluice = await start({ config, db: "file:.sluice/sluice.db" });
 * sluice.on("event", (e) => console.log(e.message));
 * const run = await sluice.waitForRun(await sluice.trigger("daily_sales"));
 * await sluice.stop();
 */
export class Sluice extends EventEmitter<SluiceEvents> {
  /** The validated config, defaults applied. */
  readonly config: ResolvedConfig;
  /** Resolves once Sluice has stopped, whoever stopped it. */
  readonly stopped: Promise<void>;
  /**
   * Its Prometheus metrics (its own registry, prefix `sluice_`): serve `await sluice.metrics.metrics()`
   * as `text/plain; version=0.0.4` on `/metrics`.
   */
  readonly metrics: Registry;
  private stopping: Promise<void> | undefined;
  private markStopped!: () => void;
  private readonly shutdownMs: number;
  private readonly runWaiters = new Map<number, Array<(run: RunRecord) => void>>();
  /** Hooks and webhooks (`undefined` when the config has none); drained by {@link stop}. @internal */
  notifier: Notifier | undefined;
  /** @internal Where ctx.log lines are kept (flushed on stop). */
  taskLogs: TaskLogSink | undefined;

  /** @internal Use {@link start}. */
  constructor(
    config: ResolvedConfig,
    /** @internal */ readonly store: Store,
    /** @internal */ readonly scheduler: Scheduler,
    /** @internal */ readonly worker: LocalWorker | WorkerProcess | undefined,
    /** The logger Sluice writes to (a silent one when `logger: false`). */
    readonly logger: Logger,
    shutdownMs: number,
    /** Makes its metrics registry (loaded on start: prom-client costs ~130 ms to import). */
    attachMetrics: (sluice: Sluice) => Registry,
  ) {
    super();
    this.config = config;
    this.shutdownMs = shutdownMs;
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
    this.metrics = attachMetrics(this);
    scheduler.on("event", (e) => {
      this.emit("event", e);
      if (e.runId !== null && RUN_END_EVENTS.has(e.type)) void this.settleWaiters(e.runId, true);
    });
    scheduler.on("refused", (r) => this.emit("refused", r));
    scheduler.on("error", (err) => {
      if (this.listenerCount("error") > 0) this.emit("error", err);
      const code = (err as { code?: unknown }).code;
      if (FATAL_CODES.has(String(code))) void this.stop();
    });
  }

  /** Attempts running now. */
  get running(): number {
    return this.scheduler.running;
  }

  /** True once {@link stop} has begun (or Sluice stopped on its own). */
  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /**
   * Create a run of `pipeline` now; resolves to its id once it is recorded. Manual runs never
   * skip: they wait for the pipeline's `maxActiveRuns`.
   *
   * @throws UnknownPipelineError when the config has no such pipeline.
   */
  trigger(pipeline: string, options: { params?: Record<string, unknown> } = {}): Promise<number> {
    this.assertRunning("trigger");
    return this.scheduler.trigger(pipeline, options.params ?? {});
  }

  /**
   * Cancel a run: waiting tasks leave the queue, running attempts' signals abort. False when the
   * run is not queued or running.
   */
  cancel(runId: number, reason = "cancelled through the API"): Promise<boolean> {
    this.assertRunning("cancel");
    return this.scheduler.cancel(runId, reason);
  }

  /**
   * Pause a pipeline's schedule (`sluice pause`): no scheduled runs until {@link Sluice.resume};
   * triggers and backfills are still accepted. False when it was paused already.
   *
   * @example
   * await sluice.pause("nightly"); // maintenance window
   * await sluice.resume("nightly"); // missed ticks follow the pipeline's catchup
   */
  async pause(pipeline: string): Promise<boolean> {
    this.assertRunning("pause");
    this.assertPipeline(pipeline);
    return (await this.control({ type: "pause", pipeline, runId: null, params: {} })).error === null;
  }

  /** Resume a paused pipeline (`sluice resume`); ticks missed while paused follow `catchup`. False when it was not paused. */
  async resume(pipeline: string): Promise<boolean> {
    this.assertRunning("resume");
    this.assertPipeline(pipeline);
    return (await this.control({ type: "resume", pipeline, runId: null, params: {} })).error === null;
  }

  /**
   * Create runs for the given past schedule times of a pipeline (`sluice backfill`), oldest first,
   * at most `maxActive` running at once (and never more than `maxActiveRuns`); times that have a
   * scheduled or backfilled run already are skipped. Resolves with the ids of the runs created.
   *
   * @example
   * const ids = await sluice.backfill("daily", { from: new Date("2026-10-01"), to: new Date("2026-10-31T23:59:59Z"), maxActive: 3 });
   */
  async backfill(pipeline: string, options: { from: Date | number; to: Date | number; maxActive?: number }): Promise<number[]> {
    this.assertRunning("backfill");
    const def = this.assertPipeline(pipeline);
    if (!def.schedule) throw new SluiceError("SLUICE_BAD_OPTION", `pipeline "${pipeline}" has no schedule, so it has no past schedule times to backfill`);
    const from = +options.from;
    const to = +options.to;
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) throw new SluiceError("SLUICE_BAD_OPTION", `backfill: from and to must be times with from ≤ to (got ${String(options.from)} … ${String(options.to)})`);
    const ticks = ticksBetween(def.schedule, from, to, MAX_BACKFILL_RUNS);
    if (!ticks) throw new SluiceError("SLUICE_BAD_OPTION", `the range holds more than ${MAX_BACKFILL_RUNS} schedule times; backfill a shorter range at a time`);
    const times = await ticksWithoutRun(this.store, pipeline, ticks);
    if (times.length === 0) return [];
    const answer = await this.control({ type: "backfill", pipeline, runId: null, params: { times, maxActive: options.maxActive ?? 1 } });
    if (answer.error !== null) throw new SluiceError("SLUICE_REFUSED", answer.error);
    return backfilledRuns(this.store, pipeline, answer.runId, times);
  }

  /**
   * Run tasks of a finished run again (`sluice retry`): the named ones, else those that failed,
   * were cancelled or never ran; and what depends on them (everything downstream with `downstream`).
   *
   * @throws SluiceError `SLUICE_REFUSED` when the run is active or unknown, or a task is unknown.
   */
  async retry(runId: number, options: { tasks?: string[]; downstream?: boolean } = {}): Promise<void> {
    this.assertRunning("retry");
    const answer = await this.control({ type: "retry", pipeline: null, runId, params: { tasks: options.tasks ?? [], downstream: options.downstream === true } });
    if (answer.error !== null) throw new SluiceError("SLUICE_REFUSED", answer.error);
  }

  /** Set a task of a finished run to `success` or `failed` by hand (`sluice mark`); the run's state follows. */
  async mark(runId: number, task: string, state: "success" | "failed"): Promise<void> {
    this.assertRunning("mark");
    const answer = await this.control({ type: "mark", pipeline: null, runId, params: { task, state } });
    if (answer.error !== null) throw new SluiceError("SLUICE_REFUSED", answer.error);
  }

  private assertPipeline(pipeline: string): ResolvedConfig["pipelines"][number] {
    const def = this.config.pipelines.find((p) => p.id === pipeline);
    if (!def) throw new UnknownPipelineError(pipeline, this.config.pipelines.map((p) => p.id));
    return def;
  }

  private async control(req: Parameters<Scheduler["control"]>[0]): Promise<{ runId: number | null; error: string | null }> {
    try {
      return await this.scheduler.control(req);
    } catch (err) {
      // A refusal the engine throws (unknown pipeline or task, an active run) is an answer, not a failure.
      if (err instanceof SluiceError) return { runId: null, error: err.message };
      throw err;
    }
  }

  /**
   * Resolves with the run once it has ended (`success`, `failed` or `cancelled`).
   *
   * @throws SluiceError `SLUICE_UNKNOWN_RUN` when there is no such run.
   */
  async waitForRun(runId: number, options: { signal?: AbortSignal } = {}): Promise<RunRecord> {
    const now = await this.store.getRun(runId);
    if (!now) throw new SluiceError("SLUICE_UNKNOWN_RUN", `run ${runId} does not exist`);
    if (FINAL.has(now.state)) return now;
    return new Promise<RunRecord>((resolve, reject) => {
      const waiters = this.runWaiters.get(runId) ?? [];
      const onAbort = () => {
        const list = this.runWaiters.get(runId);
        list?.splice(list.indexOf(done), 1);
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error("aborted"));
      };
      const done = (run: RunRecord) => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve(run);
      };
      waiters.push(done);
      this.runWaiters.set(runId, waiters);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      // It may have ended between the read above and the registration.
      void this.settleWaiters(runId);
    });
  }

  /** One run, as recorded. */
  getRun(runId: number): Promise<RunRecord | undefined> {
    return this.store.getRun(runId);
  }

  /** Runs, newest first. */
  listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    return this.store.listRuns(query);
  }

  /** The task instances of a run. */
  listTasks(runId: number): Promise<TaskInstanceRecord[]> {
    return this.store.listTasks(runId);
  }

  /** Attempts, newest first: queued/started/ended, state, worker, resources held, error. */
  listAttempts(query: AttemptQuery = {}): Promise<AttemptRecord[]> {
    return this.store.listAttempts(query);
  }

  /** The event log, oldest first. */
  listEvents(query: EventQuery = {}): Promise<EventRecord[]> {
    return this.store.listEvents(query);
  }

  /** Why the tasks of an active run wait (dependencies, pools with holders, limits, reservations). */
  explain(runId: number, task?: string): TaskExplanation[] {
    return this.scheduler.engineView?.explain(runId, task, Date.now()) ?? [];
  }

  /** Every limit (pools, parallelism, worker slots and memory, per-pipeline limits) with capacity, used, reserved, waiting and holders. */
  usage(): ResourceUsage[] {
    return this.scheduler.engineView?.usage() ?? [];
  }

  /**
   * Stop gracefully: admit nothing new, let running attempts finish until `timeout`, then abort
   * them (they are recorded lost and retried on the next start), close the store. Idempotent:
   * later calls return the same promise.
   */
  stop(options: { timeout?: Duration } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const ms = options.timeout !== undefined ? parseDuration(options.timeout, "timeout") : this.shutdownMs;
      try {
        const deadline = Date.now() + ms;
        // An in-process worker of a shared store drains first, while the scheduler still takes
        // its completions; what it cannot finish it hands back (retried at once).
        if (this.worker instanceof WorkerProcess) await this.worker.stop(deadline);
        await this.scheduler.stop(deadline);
        // Notifications of the last turns: delivered while time is left, at most 5 s (a webhook
        // that is down must not hold a shutdown for long), at least 1 s.
        await this.notifier?.close(Math.min(Math.max(deadline, Date.now() + 1000), Date.now() + 5000));
      } finally {
        // `ctx.pg` pools (a WorkerProcess closes its own in its stop).
        if (this.worker instanceof LocalWorker) await this.worker.databases.close();
        await this.taskLogs?.flush();
        this.logger.flush();
        await this.store.close();
        this.markStopped();
        this.emit("stopped");
      }
    })();
    return this.stopping;
  }

  private assertRunning(what: string): void {
    if (this.stopping) throw new SluiceError("SLUICE_STOPPED", `cannot ${what}: Sluice is stopping or stopped`);
  }

  private async settleWaiters(runId: number, ended = false): Promise<void> {
    const run = await this.store.getRun(runId).catch(() => undefined);
    if (!run || !FINAL.has(run.state)) return;
    const waiters = this.runWaiters.get(runId);
    this.runWaiters.delete(runId);
    for (const w of waiters ?? []) w(run);
    if (ended) this.emit("runEnded", run);
  }
}

/**
 * Start Sluice in this process: open (and migrate) the store, take the scheduler lease, rebuild
 * what was running (attempts interrupted by a crash are marked lost and retried), then schedule,
 * admit and run tasks until {@link Sluice.stop}.
 *
 * @throws ConfigError when the config is invalid (every problem listed).
 * @throws SchedulerBusyError when another scheduler runs on the same store.
 *
 * @example
 * import { start } from "sluice";
 * import config from "./sluice.config.js";
 *
 * const sluice = await start({ config, db: "file:.sluice/sluice.db", logLevel: "warn" });
 * process.once("SIGTERM", () => void sluice.stop({ timeout: "30s" }));
 */
export async function start(options: StartOptions): Promise<Sluice> {
  const result = resolveConfig(options.config);
  if (!result.ok) throw new ConfigError(result.problems);
  return startResolved(result.config, options);
}

/** {@link start} with a config that is already validated (the CLI's path). @internal */
export async function startResolved(config: ResolvedConfig, options: Omit<StartOptions, "config">): Promise<Sluice> {
  if (options.concurrency !== undefined) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new SluiceError("SLUICE_BAD_OPTION", `concurrency must be a whole number ≥ 1 (got ${options.concurrency})`);
    config = { ...config, worker: { ...config.worker, concurrency: options.concurrency } };
  }
  const shutdownMs = parseDuration(options.shutdownTimeout ?? START_DEFAULTS.shutdownTimeout, "shutdownTimeout");
  const graceMs = parseDuration(options.timeoutGrace ?? START_DEFAULTS.timeoutGrace, "timeoutGrace");
  const logger = options.logger === false ? createLogger({ level: "silent" }) : (options.logger ?? createLogger({ ...(options.logLevel ? { level: options.logLevel } : {}) }));
  const store = await openStore(options.db, options.cwd !== undefined ? { cwd: options.cwd } : {});
  try {
    // A damaged file would fail later in confusing ways (or silently lose runs): say so now.
    const problems = (await store.checkIntegrity?.()) ?? [];
    if (problems.length > 0) throw new StoreCorruptError(describeLocation(resolveStoreUrl(options.db, options.cwd !== undefined ? { cwd: options.cwd } : {})), problems);
    // One owner per Sluice, not per process: two in one process must not share the lease.
    const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const leaseTtlMs = parseDuration(options.leaseTtl ?? START_DEFAULTS.leaseTtl, "leaseTtl");
    const logError = throttledErrors(logger);
    const shared = isWorkerStore(store) ? store : undefined;
    if (options.worker === false && !shared) {
      throw new SluiceError("SLUICE_BAD_OPTION", `scheduling without a worker needs a store worker processes can share; the ${store.kind} store is not one: use PostgreSQL (--db postgres://…)`);
    }
    // Tasks' declared memory is held to a budget even when the config names none: a share of this host's.
    const memoryBudgetMb = config.worker.memoryMb ?? defaultMemoryBudgetMb();
    const tooBig = config.pipelines.flatMap((p) => p.tasks).filter((t) => t.memoryMb !== undefined && t.memoryMb > memoryBudgetMb);
    if (tooBig.length > 0 && config.worker.memoryMb === undefined) {
      logger.warn({ memoryBudgetMb, tasks: tooBig.map((t) => t.key) }, `tasks declare more memory than this host's default budget of ${memoryBudgetMb} MB (${Math.round(MEMORY_BUDGET_SHARE * 100)}% of its memory): ${tooBig.map((t) => `${t.key} (${t.memoryMb} MB)`).join(", ")}; they wait until a worker with room runs them (set worker.memoryMb, or run them on a bigger worker)`);
    }
    const configPath = options.configFile === undefined ? undefined : options.configFile instanceof URL ? fileURLToPath(options.configFile) : resolve(options.cwd ?? process.cwd(), options.configFile);
    const isolated = config.pipelines.flatMap((p) => p.tasks).filter((t) => t.isolation !== undefined);
    if (isolated.length > 0 && configPath === undefined && options.worker !== false) {
      throw new SluiceError("SLUICE_BAD_OPTION", `tasks ${isolated.map((t) => `${t.key} (${t.isolation})`).join(", ")} run isolated, which loads the config again in a thread or child process: give start() the config's file as well, start({ config, configFile: "path/to/sluice.config.ts" })`);
    }
    // ctx.log lines, kept with their attempts for `sluice logs`.
    const taskLogs = new TaskLogSink(store, (err) => logError(new Error(`could not store ctx.log lines: ${err instanceof Error ? err.message : String(err)}`)));
    // One token budget for the installation: the store's on PostgreSQL (shared with every worker
    // process), this process's on the embedded store (it runs every task).
    const budgets = new Budgets(config, isTokenStore(store) ? store : memoryTokenStore());
    const scheduler = new Scheduler({
      config,
      store,
      owner,
      budgets,
      ...(shared ? {} : { workerMemoryMb: memoryBudgetMb }),
      leaseTtlMs,
      schedules: options.schedules ?? START_DEFAULTS.schedules,
      ...(shared ? { remote: { store: shared, leaseTtlMs } } : {}),
      ...(options.standby ? { standby: true } : {}),
    });
    scheduler.on("standby", ({ holder }) => logger.info({ holder }, `standing by: another scheduler is active (${holder}); taking over when it is gone`));
    scheduler.on("active", ({ waitedMs }) => logger.info({ waitedMs }, `took over as the active scheduler after standing by ${waitedMs} ms`));
    let worker: LocalWorker | WorkerProcess | undefined;
    if (!shared) {
      worker = new LocalWorker({ config, channel: scheduler.channel, taskLogger: taskLoggerFrom(logger, taskLogs), taskLogs, timeoutGraceMs: graceMs, budgets, ...(configPath !== undefined ? { configPath } : {}) });
    } else if (options.worker !== false) {
      const definitions = definitionsOf(config);
      worker = new WorkerProcess({
        config,
        store: shared,
        name: `${hostname()}:${process.pid}`,
        host: hostname(),
        queues: queuesOf(config),
        slots: config.worker.concurrency,
        memoryMb: memoryBudgetMb,
        fingerprint: fingerprintOf(definitions),
        leaseTtlMs,
        taskLogger: taskLoggerFrom(logger, taskLogs),
        taskLogs,
        timeoutGraceMs: graceMs,
        budgets,
        ...(configPath !== undefined ? { configPath } : {}),
      });
      worker.on("refused", (r) => logger.warn(r, r.reason));
      worker.on("error", logError);
    }
    scheduler.on("event", (e) => logger[e.level]({ event: e.type, pipeline: e.pipeline, run: e.runId, task: e.task, ...e.data }, e.message));
    scheduler.on("refused", (r) => logger.warn(r, `refused a worker report: ${r.reason}`));
    scheduler.on("pruned", (p) => logger.info({ event: "retention.pruned", ...p }, `retention: deleted ${p.runs} run(s), ${p.attempts} attempt(s), ${p.events} event(s) that ended before ${new Date(p.before).toISOString()}`));
    scheduler.on("error", logError);
    const { attachRuntimeMetrics } = await import("../observe/metrics.js");
    const sluice = new Sluice(config, store, scheduler, worker, logger, shutdownMs, attachRuntimeMetrics);
    // Hooks and webhooks run here, in the scheduler's process (never in workers), off its path.
    sluice.notifier = attachNotifier(scheduler, { config, logger, lookup: store });
    sluice.taskLogs = taskLogs;
    if (worker instanceof WorkerProcess) {
      await scheduler.start();
      await worker.start();
    } else {
      await scheduler.start(worker);
    }
    return sluice;
  } catch (err) {
    await store.close();
    throw err;
  }
}
