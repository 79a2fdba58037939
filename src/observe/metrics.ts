/**
 * Prometheus metrics (prom-client), prefix `sluice_`. Each process gets its own {@link Registry}
 * (never prom-client's global one, so two Sluices in one process, or tests, do not mix):
 * {@link attachRuntimeMetrics} for `sluice run` / `sluice scheduler` (and `start()`), and
 * {@link attachWorkerMetrics} for `sluice worker`. Counters and histograms listen to the events
 * of the scheduler and the worker; gauges are read when scraped (`collect`) from the scheduler's
 * live state. Labels are bounded by the config (pipeline, pool, queue, reason kind, outcome):
 * never a run or attempt id. The README's "Metrics and logs" table lists every metric.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Scheduler } from "../scheduler/scheduler.js";
import type { StoreWrite } from "../store/types.js";
import { WorkerProcess } from "../worker/remote-worker.js";
import type { Budgets } from "../worker/budgets.js";
import { CpuSampler, PeakMemory, readHostMemory } from "./sampler.js";

/** Histogram buckets (seconds) of each kind of duration. */
export const METRICS_BUCKETS = {
  /** Task attempts and runs: seconds to hours. */
  task: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
  /** Time waiting for admission. */
  wait: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600],
  /** Scheduler turns and store batches: milliseconds. */
  fast: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  /** Peak memory of an attempt, bytes (16 MiB … 64 GiB). */
  memory: [16, 64, 256, 1024, 4096, 16384, 65536].map((mb) => mb * 1024 * 1024),
} as const satisfies Record<string, readonly number[]>;

/** What {@link attachRuntimeMetrics} needs of a running Sluice: its scheduler, and when it stops. */
export interface MetricsSource {
  readonly scheduler: Scheduler;
  /** The worker in this process, if any: only its attempts' memory is this process's. */
  readonly worker?: unknown;
  once(event: "stopped", listener: () => void): unknown;
}

const MB = 1024 * 1024;

/**
 * Rate limit and bandwidth metrics of the budgets this process draws on: tokens taken (by
 * admission or by `ctx.take`), how long `ctx.take` waited, bytes through `ctx.throttle` and how
 * long streams waited. Labels: the names declared in the config.
 */
function budgetMetrics(registry: Registry, budgets: Budgets | undefined): void {
  if (!budgets || budgets.empty) return;
  const tokens = new Counter({
    name: "sluice_rate_limit_tokens_total",
    help: "Tokens taken from each rate limit by this process, by who took them: admission (a task's `rate`, in the scheduler) or task (`ctx.take`).",
    labelNames: ["limit", "by"] as const,
    registers: [registry],
  });
  const waits = new Histogram({
    name: "sluice_rate_limit_wait_seconds",
    help: "How long each `ctx.take` waited for its tokens, by rate limit.",
    labelNames: ["limit"] as const,
    buckets: [...METRICS_BUCKETS.wait],
    registers: [registry],
  });
  const bytes = new Counter({
    name: "sluice_bandwidth_bytes_total",
    help: "Bytes passed through `ctx.throttle` in this process, by bandwidth budget.",
    labelNames: ["bandwidth"] as const,
    registers: [registry],
  });
  const throttled = new Counter({
    name: "sluice_bandwidth_wait_seconds_total",
    help: "Time throttled streams of this process waited for their budget, summed over streams, by bandwidth budget.",
    labelNames: ["bandwidth"] as const,
    registers: [registry],
  });
  budgets.on("tokens", (e) => tokens.inc({ limit: e.limit, by: e.by }, e.tokens));
  budgets.on("waited", (e) => waits.observe({ limit: e.limit }, e.ms / 1000));
  budgets.on("bytes", (e) => {
    bytes.inc({ bandwidth: e.bandwidth }, e.bytes);
    if (e.waitedMs > 0) throttled.inc({ bandwidth: e.bandwidth }, e.waitedMs / 1000);
  });
}

/** A task key is `pipeline.task`. */
function pipelineOf(taskKey: string): string {
  const dot = taskKey.indexOf(".");
  return dot > 0 ? taskKey.slice(0, dot) : taskKey;
}

/** Host CPU and memory from /proc, read at each scrape; the same in every Sluice process. */
function hostMetrics(registry: Registry): void {
  const cpu = new CpuSampler();
  new Gauge({
    name: "sluice_host_cpu_ratio",
    help: "Share of the host's CPU time since the previous scrape (0-1), by mode: busy (not idle, not iowait) and iowait (idle while waiting for I/O). From /proc/stat.",
    labelNames: ["mode"] as const,
    registers: [registry],
    collect() {
      const s = cpu.sample();
      if (!s) return;
      this.set({ mode: "busy" }, s.busy);
      this.set({ mode: "iowait" }, s.iowait);
    },
  });
  new Gauge({
    name: "sluice_host_memory_bytes",
    help: "The host's memory from /proc/meminfo: total, and available (MemAvailable).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const m = readHostMemory();
      if (!m) return;
      this.set({ state: "total" }, m.totalBytes);
      this.set({ state: "available" }, m.availableBytes);
    },
  });
  // Node's own metrics are collected once per process (they start an event-loop monitor each
  // time) and shared by every registry of the process.
  processMetrics ??= (() => {
    const shared = new Registry();
    collectDefaultMetrics({ register: shared, prefix: "sluice_" });
    return shared;
  })();
  for (const { name } of processMetrics.getMetricsAsArray()) {
    const metric = processMetrics.getSingleMetric(name);
    if (metric) registry.registerMetric(metric);
  }
}

let processMetrics: Registry | undefined;

/**
 * Metrics of the scheduler (and its in-process worker) of a running Sluice, in a new registry.
 * `start()` calls it and keeps the registry as `sluice.metrics`; serve `registry.metrics()` as
 * `text/plain; version=0.0.4` on `/metrics`.
 *
 * @example
 * const sluice = await start({ config });
 * const text = await sluice.metrics.metrics(); // Prometheus text format
 */
export function attachRuntimeMetrics(sluice: MetricsSource): Registry {
  const registry = new Registry();
  const scheduler = sluice.scheduler;
  const engine = () => scheduler.engineView;
  hostMetrics(registry);

  new Gauge({
    name: "sluice_pool_slots",
    help: "Slots of each pool by state: capacity (the current limit of an adaptive pool), used (held by running attempts), reserved (held back for a task that waited past the reservation threshold).",
    labelNames: ["pool", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of engine()?.usage() ?? []) {
        if (u.kind !== "pool") continue;
        this.set({ pool: u.name, state: "capacity" }, u.capacity);
        this.set({ pool: u.name, state: "used" }, u.used);
        this.set({ pool: u.name, state: "reserved" }, u.reserved);
      }
    },
  });
  new Gauge({
    name: "sluice_rate_limit_tokens",
    help: "Each rate limit's tokens as admission last saw them: available (in the budget, not yet granted), waiting (what tasks waiting for admission need in all), burst.",
    labelNames: ["limit", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of engine()?.usage() ?? []) {
        if (u.kind !== "rate") continue;
        this.set({ limit: u.name, state: "available" }, u.rate?.available ?? Math.max(0, u.capacity - u.used));
        this.set({ limit: u.name, state: "waiting" }, u.waitingAmount);
        this.set({ limit: u.name, state: "burst" }, u.rate?.burst ?? 0);
      }
    },
  });
  budgetMetrics(registry, scheduler.budgets);
  new Gauge({
    name: "sluice_tasks_waiting",
    help: "Tasks ready but waiting for admission that need each pool.",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of engine()?.usage() ?? []) if (u.kind === "pool") this.set({ pool: u.name }, u.waiting);
    },
  });
  new Gauge({
    name: "sluice_tasks_waiting_by_reason",
    help: "Tasks ready but waiting for admission, by the first reason explain gives (pool, queue, memory, parallelism, maxActiveTasks, reserved, behind, …).",
    labelNames: ["reason"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const reasons of engine()?.waitingReasons().values() ?? []) {
        const kind = reasons[0]?.kind ?? "pending";
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
      }
      for (const [reason, n] of counts) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: "sluice_queue_slots",
    help: "Worker slots of each queue by state: capacity (in-process worker's concurrency, or the sum of live workers' slots) and used.",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of engine()?.usage() ?? []) {
        if (u.kind !== "queue") continue;
        this.set({ queue: u.name, state: "capacity" }, u.capacity);
        this.set({ queue: u.name, state: "used" }, u.used);
      }
    },
  });
  new Gauge({
    name: "sluice_queue_memory_bytes",
    help: "Declared task memory of each queue by state: budget (the workers' memory budgets) and used (held by running attempts).",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of engine()?.usage() ?? []) {
        if (u.kind !== "memory" || u.capacity >= Number.MAX_SAFE_INTEGER) continue;
        this.set({ queue: u.name, state: "budget" }, u.capacity * MB);
        this.set({ queue: u.name, state: "used" }, u.used * MB);
      }
    },
  });
  new Gauge({
    name: "sluice_attempts_running",
    help: "Attempts running now.",
    registers: [registry],
    collect() {
      this.set(scheduler.running);
    },
  });
  new Gauge({
    name: "sluice_runs_active",
    help: "Runs queued or running now, per pipeline.",
    labelNames: ["pipeline", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { pipeline: string; state: string; n: number }>();
      for (const r of engine()?.activeRuns() ?? []) {
        const k = `${r.pipeline}\u0000${r.state}`;
        const c = counts.get(k) ?? { pipeline: r.pipeline, state: r.state, n: 0 };
        c.n++;
        counts.set(k, c);
      }
      for (const c of counts.values()) this.set({ pipeline: c.pipeline, state: c.state }, c.n);
    },
  });

  const attempts = new Counter({
    name: "sluice_attempts_total",
    help: "Attempts that ended, by pipeline and outcome (success, failed, timed_out, lost, cancelled).",
    labelNames: ["pipeline", "outcome"] as const,
    registers: [registry],
  });
  const taskDuration = new Histogram({
    name: "sluice_task_duration_seconds",
    help: "How long attempts ran (start to end), by pipeline and outcome.",
    labelNames: ["pipeline", "outcome"] as const,
    buckets: [...METRICS_BUCKETS.task],
    registers: [registry],
  });
  const waitTime = new Histogram({
    name: "sluice_task_wait_seconds",
    help: "How long tasks waited for admission (ready to started), by the reason they waited for longest (none: started at once).",
    labelNames: ["reason"] as const,
    buckets: [...METRICS_BUCKETS.wait],
    registers: [registry],
  });
  const peakMemory = new Histogram({
    name: "sluice_attempt_peak_memory_bytes",
    help: "Peak memory of each attempt run in this process, by pipeline, as recorded on the attempt: the RSS of its child process (isolation process), the heap of its thread (thread), or the growth of this process's heap while it ran (inline: shared by attempts running at once). Absent for attempts of other worker processes (see their own metrics).",
    labelNames: ["pipeline"] as const,
    buckets: [...METRICS_BUCKETS.memory],
    registers: [registry],
  });
  const runDuration = new Histogram({
    name: "sluice_run_duration_seconds",
    help: "How long runs took (started to ended), by pipeline and final state.",
    labelNames: ["pipeline", "state"] as const,
    buckets: [...METRICS_BUCKETS.task],
    registers: [registry],
  });
  const runs = new Counter({
    name: "sluice_runs_total",
    help: "Runs that ended, by pipeline and final state (success, failed, cancelled).",
    labelNames: ["pipeline", "state"] as const,
    registers: [registry],
  });
  const skipped = new Counter({
    name: "sluice_skipped_runs_total",
    help: "Scheduled runs skipped because an earlier run of the pipeline was still active (overlap: skip).",
    labelNames: ["pipeline"] as const,
    registers: [registry],
  });
  const buffered = new Counter({
    name: "sluice_buffered_runs_total",
    help: "Runs created queued behind active runs of their pipeline (overlap: buffer, maxActiveRuns, catch-up, queued backfills).",
    labelNames: ["pipeline"] as const,
    registers: [registry],
  });
  const overran = new Counter({
    name: "sluice_overran_runs_total",
    help: "Runs that took longer than their schedule's interval.",
    labelNames: ["pipeline"] as const,
    registers: [registry],
  });
  const slaMissed = new Counter({
    name: "sluice_sla_misses_total",
    help: "SLA misses, once per late task (kind task: a task's `sla`) or late run (kind run: a pipeline's `deadline`), by pipeline and task (empty for a run).",
    labelNames: ["pipeline", "task", "kind"] as const,
    registers: [registry],
  });
  const leaseExpired = new Counter({
    name: "sluice_lease_expirations_total",
    help: "Remote attempts whose lease ran out (worker gone or silent, or never taken): recorded lost.",
    registers: [registry],
  });
  const refused = new Counter({
    name: "sluice_refused_reports_total",
    help: "Worker reports refused by the scheduler (stale fencing token, attempt no longer running).",
    registers: [registry],
  });
  const turnDuration = new Histogram({
    name: "sluice_scheduler_turn_duration_seconds",
    help: "Duration of a scheduler turn: engine decisions, the store batch, dispatch.",
    buckets: [...METRICS_BUCKETS.fast],
    registers: [registry],
  });
  const batchDuration = new Histogram({
    name: "sluice_store_batch_duration_seconds",
    help: "Latency of the store's batch writes (one transaction per scheduler turn with changes).",
    buckets: [...METRICS_BUCKETS.fast],
    registers: [registry],
  });
  const batchWrites = new Counter({
    name: "sluice_store_writes_total",
    help: "Changes written to the store in batches.",
    registers: [registry],
  });

  // Attempts and runs seen starting, until they end: what their ends are labelled and timed with.
  const liveAttempts = new Map<number, { pipeline: string; startedAt: number }>();
  const liveRuns = new Map<number, { pipeline: string; startedAt: number | null }>();
  // Per waiting task (`runId/task`): milliseconds spent per first reason, sampled at most every second.
  const waited = new Map<string, Map<string, number>>();
  let sampledAt = 0;
  const peaks = new PeakMemory();
  // Attempts run here by a local worker (SQLite: every attempt) are followed from the batches; an
  // in-process worker of a shared store runs only the attempts it takes, followed from its events;
  // with no worker here (`sluice scheduler`), this process's memory says nothing of attempts.
  const shared = sluice.worker instanceof WorkerProcess ? sluice.worker : undefined;
  const inline = sluice.worker !== undefined && !shared;
  if (shared) {
    shared.on("started", ({ attemptId }) => peaks.begin(attemptId));
    shared.on("finished", ({ attemptId, taskKey, peakMemoryBytes }) => {
      const sampled = peaks.end(attemptId);
      const peak = peakMemoryBytes ?? sampled;
      if (peak !== undefined) peakMemory.observe({ pipeline: pipelineOf(taskKey) }, peak);
    });
  }

  const sampleWaiting = (now: number): void => {
    const e = engine();
    const reasons = e?.sampledWaitingReasons(now, e.sampleEveryMs());
    if (!reasons) return;
    const step = sampledAt === 0 ? 0 : now - sampledAt;
    sampledAt = now;
    for (const [id, rs] of reasons) {
      const kind = rs[0]?.kind ?? "pending";
      const m = waited.get(id) ?? new Map<string, number>();
      m.set(kind, (m.get(kind) ?? 0) + step);
      waited.set(id, m);
    }
    for (const id of waited.keys()) if (!reasons.has(id)) waited.delete(id);
  };

  const onWrite = (w: StoreWrite): void => {
    switch (w.type) {
      case "createAttempt": {
        const a = w.attempt;
        liveAttempts.set(a.id, { pipeline: a.pipeline, startedAt: a.startedAt });
        if (inline) peaks.begin(a.id);
        const id = `${a.runId}/${a.task}`;
        const m = waited.get(id);
        waited.delete(id);
        let reason = "none";
        let most = -1;
        for (const [kind, ms] of m ?? []) if (ms > most) [reason, most] = [kind, ms];
        waitTime.observe({ reason }, Math.max(0, a.startedAt - a.queuedAt) / 1000);
        break;
      }
      case "endAttempt": {
        const a = liveAttempts.get(w.id);
        liveAttempts.delete(w.id);
        const pipeline = a?.pipeline ?? "unknown";
        attempts.inc({ pipeline, outcome: w.state });
        if (a) taskDuration.observe({ pipeline, outcome: w.state }, Math.max(0, w.endedAt - a.startedAt) / 1000);
        // What the worker measured and the attempt records; the sampled heap for a report without one.
        const sampled = inline ? peaks.end(w.id) : undefined;
        const peak = w.peakMemoryBytes ?? sampled;
        if (peak !== undefined) peakMemory.observe({ pipeline }, peak);
        break;
      }
      case "createRun":
        liveRuns.set(w.run.id, { pipeline: w.run.pipeline, startedAt: w.run.startedAt });
        if (w.run.state === "queued") buffered.inc({ pipeline: w.run.pipeline });
        break;
      case "updateRun": {
        const r = liveRuns.get(w.id);
        if (r && w.startedAt != null) r.startedAt = w.startedAt;
        if (w.state === "success" || w.state === "failed" || w.state === "cancelled") {
          liveRuns.delete(w.id);
          if (!r) break;
          runs.inc({ pipeline: r.pipeline, state: w.state });
          if (r.startedAt !== null && w.endedAt != null) runDuration.observe({ pipeline: r.pipeline, state: w.state }, Math.max(0, w.endedAt - r.startedAt) / 1000);
        }
        break;
      }
      case "recordSchedule":
        if (w.skippedDelta > 0) skipped.inc({ pipeline: w.pipeline }, w.skippedDelta);
        break;
      case "appendEvent":
        if (w.event.type === "run.overran" && w.event.pipeline !== null) overran.inc({ pipeline: w.event.pipeline });
        else if (w.event.type === "task.sla_missed") slaMissed.inc({ pipeline: w.event.pipeline ?? "", task: w.event.task ?? "", kind: "task" });
        else if (w.event.type === "run.deadline_missed") slaMissed.inc({ pipeline: w.event.pipeline ?? "", task: "", kind: "run" });
        break;
      default:
        break;
    }
  };

  scheduler.on("batch", ({ writes, durationMs }) => {
    batchDuration.observe(durationMs / 1000);
    batchWrites.inc(writes.length);
    for (const w of writes) onWrite(w);
  });
  scheduler.on("turn", ({ at, durationMs }) => {
    turnDuration.observe(durationMs / 1000);
    if (at - sampledAt >= (engine()?.sampleEveryMs() ?? 1000)) sampleWaiting(at);
  });
  scheduler.on("leaseExpired", () => leaseExpired.inc());
  scheduler.on("refused", () => refused.inc());
  sluice.once("stopped", () => peaks.stop());
  return registry;
}

/**
 * Metrics of a worker process (`sluice worker`), in a new registry: its slots and memory budget
 * and what its running attempts hold, attempts it ran by outcome and their durations, refused
 * reports, the store's reachability, and host CPU and memory.
 *
 * @example
 * const worker = new WorkerProcess(options);
 * const registry = attachWorkerMetrics(worker);
 * await worker.start();
 * console.log(await registry.metrics());
 */
export function attachWorkerMetrics(worker: WorkerProcess): Registry {
  const registry = new Registry();
  hostMetrics(registry);
  new Gauge({
    name: "sluice_worker_slots",
    help: "This worker's execution slots by state: capacity and used (attempts running).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const l = worker.load;
      this.set({ state: "capacity" }, l.slots);
      this.set({ state: "used" }, l.running);
    },
  });
  new Gauge({
    name: "sluice_worker_memory_bytes",
    help: "This worker's memory budget for tasks' declared memory (absent without one), and what its running attempts declare.",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const l = worker.load;
      if (l.memoryMb !== null) this.set({ state: "budget" }, l.memoryMb * MB);
      this.set({ state: "used" }, l.memoryUsedMb * MB);
    },
  });
  const attempts = new Counter({
    name: "sluice_worker_attempts_total",
    help: "Attempts this worker ran to their end, by pipeline and outcome as it saw it (success, failed, timed_out).",
    labelNames: ["pipeline", "outcome"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "sluice_worker_task_duration_seconds",
    help: "How long attempts ran on this worker, by pipeline and outcome.",
    labelNames: ["pipeline", "outcome"] as const,
    buckets: [...METRICS_BUCKETS.task],
    registers: [registry],
  });
  const peakMemory = new Histogram({
    name: "sluice_attempt_peak_memory_bytes",
    help: "Peak memory of each attempt while it ran on this worker, by pipeline, as recorded on the attempt: the RSS of its child process (isolation process), the heap of its thread (thread), or the growth of this process's heap while it ran (inline: shared by attempts running at once).",
    labelNames: ["pipeline"] as const,
    buckets: [...METRICS_BUCKETS.memory],
    registers: [registry],
  });
  const refused = new Counter({
    name: "sluice_refused_reports_total",
    help: "This worker's reports (completions, heartbeats) the store refused: the attempt was no longer its.",
    registers: [registry],
  });
  const disconnects = new Counter({
    name: "sluice_worker_disconnects_total",
    help: "Times this worker lost the store past its lease (its running attempts were aborted).",
    registers: [registry],
  });
  const started = new Map<number, number>();
  const peaks = new PeakMemory();
  worker.on("started", ({ attemptId }) => {
    started.set(attemptId, Date.now());
    peaks.begin(attemptId);
  });
  worker.on("finished", ({ attemptId, taskKey, state, peakMemoryBytes }) => {
    const pipeline = pipelineOf(taskKey);
    attempts.inc({ pipeline, outcome: state });
    const at = started.get(attemptId);
    started.delete(attemptId);
    if (at !== undefined) duration.observe({ pipeline, outcome: state }, (Date.now() - at) / 1000);
    const sampled = peaks.end(attemptId);
    const peak = peakMemoryBytes ?? sampled;
    if (peak !== undefined) peakMemory.observe({ pipeline }, peak);
  });
  worker.on("refused", () => refused.inc());
  worker.on("disconnected", () => disconnects.inc());
  budgetMetrics(registry, worker.budgets);
  return registry;
}
