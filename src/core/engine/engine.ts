import type { ResolvedConfig } from "../../define/resolved.js";
import { Admission } from "../admission/admission.js";
import type { Candidate, Demand, ResourceSpec, ResourceUsage, WaitReason } from "../admission/types.js";
import { SluiceError, UnknownPipelineError } from "../errors.js";
import { Heap } from "../heap.js";
import { decideOverlap, mayStartQueued } from "../overlap.js";
import type { ActiveState, AttemptRecord, CompletionOutcome, EventRecord, RunRecord, RunState, RunTrigger, TaskInstanceRecord, TaskState } from "../records.js";
import { retryDelayMs } from "../retry.js";
import { formatDuration as fmtMs } from "../../define/duration.js";
import { isOverloadError, limiterFor, type Limiter } from "../adaptive.js";
import { msUntil, tokensAt, type BucketShape } from "../rate.js";
import { DEFINITION_OPEN, type PipelinePlan, type WorkerMode, planPipelines, queuesOf, resourceKey, resourcesOf } from "./plan.js";
import type { EngineOutput, FinishResult, TaskExplanation, TriggerOptions } from "./types.js";

interface LiveTask {
  id: string;
  state: TaskState;
  attempts: number;
  /** Attempts lost to infrastructure; retried from `lostRetries`, not `retries`. */
  lost: number;
  readyAt: number | null;
  output: unknown;
  /** Upstream tasks not yet succeeded. */
  waitingDeps: number;
  attemptId: number | undefined;
}

interface LiveRun {
  record: RunRecord;
  plan: PipelinePlan;
  tasks: Map<string, LiveTask>;
  /** Tasks not yet in a final state. */
  open: number;
}

interface LiveAttempt {
  id: number;
  token: number;
  run: LiveRun;
  task: LiveTask;
  attempt: number;
  startedAt: number;
  demand: readonly Demand[];
}

export interface EngineOptions {
  /** The engine's notion of "now" when it is created. */
  now: number;
  /** Source of randomness for retry jitter; pass a seeded one for reproducible runs. */
  random?: () => number;
  /** Rebuild from what a store recorded. */
  restore?: ActiveState;
  /**
   * With `restore`: treat attempts recorded as running as lost (their worker is gone) and retry
   * them by their policy. Without it they keep holding their resources (a read-only view, as
   * `sluice explain` builds from another terminal).
   */
  recover?: boolean;
  /** Recorded as the worker of the attempts it starts. */
  workerId?: string;
  /** Who runs the tasks (see {@link WorkerMode}). @defaultValue "local" */
  workers?: WorkerMode;
  /** The local worker's memory budget when the config sets no `worker.memoryMb` (the runtime passes a share of the host's). */
  workerMemoryMb?: number;
  /**
   * Who keeps the rate limits' token budgets. `engine`: the engine, from its own clock (one
   * process: `simulate`, tests). `external`: a budget outside it (the store's, shared with
   * `ctx.take` in workers): before each {@link Engine.advance} the caller takes what
   * {@link Engine.rateWants} asks for and offers it with {@link Engine.offerTokens}, and after it
   * gives back {@link Engine.unusedTokens}. @defaultValue "engine"
   */
  rateBudget?: "engine" | "external";
}

const FINAL: ReadonlySet<TaskState> = new Set(["success", "failed", "upstream_failed", "cancelled"]);
const RUN_FINAL: ReadonlySet<RunState> = new Set(["success", "failed", "cancelled"]);

/**
 * The orchestration brain: schedule ticks → runs (overlap policy) → ready tasks → admission →
 * attempts → retries, and the run states that follow. Pure: it never does I/O and never reads a
 * clock; every call takes `now`. Its decisions come out of {@link Engine.advance} as durable
 * {@link Change}s (for a store) and start/abort commands (for workers). `sluice simulate` drives it
 * with a virtual clock; the scheduler drives it with real time and a store.
 */
export class Engine {
  private readonly plans: Map<string, PipelinePlan>;
  private readonly admission: Admission;
  private readonly runs = new Map<number, LiveRun>();
  private readonly attempts = new Map<number, LiveAttempt>();
  /** Attempts ended (cancelled, timed out) whose function still runs: they keep their resources. */
  private readonly draining = new Map<number, { holderId: string }>();
  private readonly retries = new Heap<{ at: number; run: LiveRun; task: LiveTask }>((a, b) => a.at < b.at);
  /** The limiters of adaptive pools, by resource key. */
  private readonly limiters = new Map<string, { limiter: Limiter; spec: ResourceSpec }>();
  /** SLA (`task: id`) and deadline (`task: null`) checks of live runs, by due time. */
  private readonly slas = new Heap<{ at: number; run: LiveRun; task: string | null }>((a, b) => a.at < b.at);
  /** Rate limits' buckets (`rateBudget: "engine"`): shape and state (GCRA `tat`), by resource key. */
  private readonly buckets = new Map<string, { shape: BucketShape; tat: number }>();
  private readonly rateBudget: "engine" | "external";
  private readonly random: () => number;
  private readonly workerId: string | null;
  private readonly workerMode: WorkerMode;
  private readonly startedAt: number;
  private out: EngineOutput = { changes: [], start: [], abort: [] };
  private runSeq = 0;
  private attemptSeq = 0;
  private tokenSeq = 0;
  private admitting = true;
  private schedulesOn = true;

  constructor(
    readonly config: ResolvedConfig,
    options: EngineOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.workerId = options.workerId ?? null;
    this.startedAt = options.now;
    this.workerMode = options.workers ?? "local";
    // A budget the runtime gives (a share of the host's memory) counts as the config's own.
    const effective = options.workerMemoryMb !== undefined && config.worker.memoryMb === undefined ? { ...config, worker: { ...config.worker, memoryMb: options.workerMemoryMb } } : config;
    this.plans = planPipelines(effective, this.workerMode);
    const specs = resourcesOf(effective, options.workers ?? "local");
    this.admission = new Admission({ agingPointsPerMinute: config.aging.pointsPerMinute, reservationAfterMs: config.reservation.afterMs }, specs);
    for (const spec of specs) {
      const pool = spec.kind === "pool" ? config.pools[spec.name]?.adaptive : undefined;
      if (pool) this.limiters.set(spec.key, { limiter: limiterFor(pool), spec });
    }
    this.rateBudget = options.rateBudget ?? "engine";
    for (const r of Object.values(config.rateLimits ?? {})) {
      this.buckets.set(resourceKey.rate(r.name), { shape: { emissionMs: r.perMs / r.limit, burst: r.burst }, tat: 0 });
    }
    if (options.restore) this.restore(options.restore, options.now, options.recover ?? false);
    for (const plan of this.plans.values()) this.initSchedule(plan, options.now, options.recover ?? true);
  }

  // ── inputs ───────────────────────────────────────────────────────────────────────────────

  /** Process everything due at `now` (schedule ticks, retries, admission) and return all decisions made since the last call. */
  advance(now: number): EngineOutput {
    for (const plan of this.schedulesOn && this.admitting ? this.plans.values() : []) {
      if (plan.pausedAt !== null) continue;
      while (plan.clock && plan.nextDue !== undefined && plan.nextDue <= now) {
        const t = plan.nextDue;
        plan.nextDue = plan.clock.nextAfter(t);
        this.onTick(plan, t, t < Math.max(this.startedAt, plan.catchupUntil) ? "catchup" : "schedule", now);
      }
    }
    for (let top = this.retries.peek(); top && top.at <= now; top = this.retries.peek()) {
      this.retries.pop();
      if (top.task.state === "retry_wait" && top.task.readyAt === top.at) this.makeReady(top.run, top.task, top.at);
    }
    for (let top = this.slas.peek(); top && top.at <= now; top = this.slas.peek()) {
      this.slas.pop();
      this.checkSla(top.run, top.task, top.at, now);
    }
    if (this.admitting) {
      if (this.rateBudget === "engine") this.refillBuckets(now);
      for (const grant of this.admission.admit(now)) {
        const [runId, taskId] = splitTaskInstanceId(grant.id);
        const run = this.runs.get(runId);
        const task = run?.tasks.get(taskId);
        if (run && task) this.startAttempt(run, task, grant.demand, now, grant.worker);
      }
      if (this.rateBudget === "engine") this.spendBuckets(now);
    }
    return this.drain();
  }

  // ── rate limits ──────────────────────────────────────────────────────────────────────────

  /**
   * `rateBudget: "external"`: the tokens admission could use now, by rate limit — what waiting
   * tasks need in all, capped at the limit's burst. Limits nobody waits for are left out.
   */
  rateWants(): Array<{ name: string; want: number; burst: number }> {
    const wants: Array<{ name: string; want: number; burst: number }> = [];
    for (const r of Object.values(this.config.rateLimits ?? {})) {
      const u = this.admission.usageOf(resourceKey.rate(r.name));
      const waiting = this.admission.waitingAmountOf(resourceKey.rate(r.name));
      if (u && waiting > 0) wants.push({ name: r.name, want: Math.min(waiting, r.burst), burst: r.burst });
    }
    return wants;
  }

  /**
   * `rateBudget: "external"`: the budget of rate limit `name` gave `tokens` for the next
   * {@link advance}; `nextTokenAt` is when it would give one more (for explanations and
   * {@link nextWakeAt}).
   */
  offerTokens(name: string, tokens: number, nextTokenAt: number | undefined): void {
    this.admission.setTokens(resourceKey.rate(name), tokens, nextTokenAt);
  }

  /**
   * `rateBudget: "external"`: tokens offered and not granted by the last {@link advance}, by rate
   * limit; they are withdrawn here, for the caller to give back to the budget.
   */
  unusedTokens(): Array<{ name: string; tokens: number }> {
    const out: Array<{ name: string; tokens: number }> = [];
    for (const r of Object.values(this.config.rateLimits ?? {})) {
      const tokens = this.admission.unusedTokens(resourceKey.rate(r.name));
      if (tokens > 0) out.push({ name: r.name, tokens });
    }
    return out;
  }

  /** `rateBudget: "engine"`: offer every bucket's tokens at `now` to admission. */
  private refillBuckets(now: number): void {
    for (const [key, b] of this.buckets) {
      const tokens = tokensAt(b.tat, now, b.shape);
      this.admission.setTokens(key, tokens, tokens < b.shape.burst ? now + msUntil(b.tat, now, tokens + 1, b.shape) : undefined);
    }
  }

  /** `rateBudget: "engine"`: what admission granted comes out of the buckets. */
  private spendBuckets(now: number): void {
    for (const [key, b] of this.buckets) {
      const spent = this.admission.usageOf(key)?.used ?? 0;
      if (spent === 0) continue;
      b.tat = Math.max(b.tat, now) + spent * b.shape.emissionMs;
      const left = tokensAt(b.tat, now, b.shape);
      this.admission.setTokens(key, left, left < b.shape.burst ? now + msUntil(b.tat, now, left + 1, b.shape) : undefined);
    }
  }

  /** Create a run now (a manual trigger). It starts at once if the pipeline has room, else it is queued. */
  trigger(pipeline: string, now: number, options: TriggerOptions = {}): number {
    const plan = this.plans.get(pipeline);
    if (!plan) throw new UnknownPipelineError(pipeline, [...this.plans.keys()]);
    const trigger = options.trigger ?? "manual";
    const queuedAhead = [...plan.runs].some((id) => this.runs.get(id)?.record.state === "queued");
    const start = !options.queued && !queuedAhead && mayStartQueued(plan.def.overlap, trigger, this.countRuns(plan, "running"), plan.def.maxActiveRuns);
    const run = this.createRun(plan, options.scheduledFor ?? now, trigger, options.params ?? {}, start, now);
    const why = options.queued ? " (queued: it starts when a scheduler runs)" : " (queued behind active runs)";
    this.event(now, "run.triggered", "info", `${pipeline}: run ${run.record.id} triggered${start ? "" : why}`, run, null, null, {
      params: run.record.params,
    });
    return run.record.id;
  }

  /**
   * Pause a pipeline: its schedule creates no runs until {@link Engine.resume}. Runs already
   * queued or running go on; manual triggers and backfills are still accepted. Returns false when
   * it was paused already.
   */
  pause(pipeline: string, now: number): boolean {
    const plan = this.requirePlan(pipeline);
    if (plan.pausedAt !== null) return false;
    plan.pausedAt = now;
    this.out.changes.push({ type: "controlPipeline", pipeline, pausedAt: now });
    this.event(now, "pipeline.paused", "info", `${pipeline}: paused; its schedule creates no runs until \`sluice resume ${pipeline}\``, null, null, null, {}, pipeline);
    return true;
  }

  /**
   * Resume a paused pipeline. The ticks it missed while paused follow `catchup`: with it, they are
   * run (at most `catchupWindow` back, one at a time); without it, they are recorded as missed and
   * the schedule goes on from the next tick. Returns false when it was not paused.
   */
  resume(pipeline: string, now: number): boolean {
    const plan = this.requirePlan(pipeline);
    const since = plan.pausedAt;
    if (since === null) return false;
    plan.pausedAt = null;
    this.out.changes.push({ type: "controlPipeline", pipeline, pausedAt: null });
    const clock = plan.clock;
    let missed = "";
    if (clock) {
      const from = Math.max(since, plan.lastScheduledFor ?? since);
      const first = clock.nextAfter(from);
      if (plan.def.catchup) {
        plan.nextDue = clock.nextAfter(Math.max(from, now - plan.def.catchupWindowMs));
        plan.catchupUntil = now;
        if (first <= now) missed = `; the ticks missed since ${iso(since)} are caught up (catchup is on)`;
      } else {
        plan.nextDue = clock.nextAfter(now);
        if (first <= now) {
          missed = `; the ticks between ${iso(since)} and ${iso(now)} were missed (catchup is off)`;
          this.event(now, "schedule.missed", "info", `${pipeline}: ticks between ${iso(since)} and ${iso(now)} were missed while it was paused (catchup is off)`, null, null, null, { since, reason: "paused" }, pipeline);
        }
      }
    }
    this.event(now, "pipeline.resumed", "info", `${pipeline}: resumed after ${Math.round((now - since) / 1000)} s paused${missed}`, null, null, null, { pausedAt: since }, pipeline);
    return true;
  }

  /**
   * Create runs for past schedule times (`sluice backfill`), queued, oldest first: they start as
   * the pipeline's limits allow, at most `maxActive` at once (and never more than `maxActiveRuns`).
   * The caller leaves out times a run exists for (the store refuses a second run for a tick).
   * Returns the ids of the runs created.
   */
  backfill(pipeline: string, times: readonly number[], maxActive: number, now: number, options: { queued?: boolean } = {}): number[] {
    const plan = this.requirePlan(pipeline);
    if (!Number.isInteger(maxActive) || maxActive < 1) throw new RangeError(`backfill: maxActive must be a whole number ≥ 1 (got ${maxActive})`);
    plan.backfillMaxActive = maxActive;
    this.out.changes.push({ type: "controlPipeline", pipeline, backfillMaxActive: maxActive });
    const sorted = [...times].sort((a, b) => a - b);
    const ids = sorted.map((t) => this.createRun(plan, t, "catchup", {}, false, now).record.id);
    if (ids.length > 0) {
      const first = sorted[0] as number;
      const last = sorted[sorted.length - 1] as number;
      this.event(now, "backfill.created", "info", `${pipeline}: backfill of ${ids.length} run(s) for ${iso(first)} … ${iso(last)}, at most ${Math.min(maxActive, plan.def.maxActiveRuns)} at once`, null, null, null, { runs: ids, maxActive }, pipeline);
    }
    // Queued: recorded by a process that runs nothing (no scheduler is running); they start with one.
    if (!options.queued) this.promote(plan, now);
    return ids;
  }

  /**
   * Re-run tasks of a finished run (`sluice retry`): the named tasks, else every task that failed,
   * was cancelled or never ran because an upstream one failed; then what depends on them — every
   * dependent with `downstream`, else only those that did not succeed. Tasks that succeeded keep
   * their output (their dependents read it). The run becomes active again (queued when the
   * pipeline has no room) and its retried tasks get new attempts, numbered on from the last; their
   * automatic retries were spent, so each gets one attempt. Returns the tasks reset.
   * @throws RetryRefusedError when the run is active, the pipeline or a task is unknown, or nothing would be retried.
   */
  retry(record: RunRecord, tasks: readonly TaskInstanceRecord[], options: { tasks?: readonly string[]; downstream?: boolean }, now: number): string[] {
    const plan = this.plans.get(record.pipeline);
    if (!plan) throw new RetryRefusedError(`run ${record.id}: its pipeline "${record.pipeline}" is not in this config`);
    if (this.runs.has(record.id) || !RUN_FINAL.has(record.state)) throw new RetryRefusedError(`run ${record.id} is still ${record.state}; retry a run once it has ended (or cancel it first)`);
    const byId = new Map(tasks.map((t) => [t.task, t]));
    for (const name of options.tasks ?? []) {
      if (!plan.tasks.has(name)) throw new RetryRefusedError(`run ${record.id}: pipeline ${plan.def.id} has no task "${name}"; its tasks: ${[...plan.tasks.keys()].join(", ")}`);
    }
    const targets = options.tasks?.length ? [...options.tasks] : [...plan.tasks.keys()].filter((id) => RETRYABLE.has(byId.get(id)?.state ?? "pending"));
    if (targets.length === 0) throw new RetryRefusedError(`run ${record.id}: every task succeeded; name the ones to run again with --task`);
    const reset = new Set<string>();
    const stack = [...targets];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (reset.has(id)) continue;
      reset.add(id);
      for (const dep of plan.tasks.get(id)?.dependents ?? []) {
        if (options.downstream || byId.get(dep)?.state !== "success") stack.push(dep);
      }
    }
    const run: LiveRun = { record: { ...record, state: "queued", endedAt: null }, plan, tasks: new Map(), open: 0 };
    for (const tp of plan.tasks.values()) {
      const tr = byId.get(tp.def.id);
      const again = reset.has(tp.def.id) || !tr;
      run.tasks.set(tp.def.id, {
        id: tp.def.id,
        state: again ? "pending" : tr.state,
        attempts: tr?.attempts ?? 0,
        lost: tr?.lostAttempts ?? 0,
        readyAt: again ? null : tr.readyAt,
        output: again ? undefined : tr.output,
        waitingDeps: 0,
        attemptId: undefined,
      });
    }
    for (const task of run.tasks.values()) {
      task.waitingDeps = (plan.tasks.get(task.id)?.def.dependsOn ?? []).filter((d) => run.tasks.get(d)?.state !== "success").length;
      if (!FINAL.has(task.state)) run.open++;
    }
    this.runs.set(record.id, run);
    plan.runs.add(record.id);
    this.watchSlas(run);
    this.out.changes.push({ type: "updateRun", id: record.id, state: "queued", endedAt: null });
    for (const id of reset) this.out.changes.push({ type: "updateTask", runId: record.id, task: id, state: "pending", readyAt: null });
    const names = [...reset].sort();
    this.event(now, "run.retried", "info", `${plan.def.id}: run ${record.id} retried: ${names.join(", ")} run again`, run, null, null, { tasks: names, downstream: options.downstream === true });
    this.promote(plan, now);
    return names;
  }

  /**
   * Set a task of a finished run to `success` or `failed` by hand (`sluice mark`), for the operator
   * who fixed the data; the run's state follows from its tasks' (success when all succeeded).
   * @throws RetryRefusedError when the run is active or the task unknown.
   */
  mark(record: RunRecord, tasks: readonly TaskInstanceRecord[], task: string, state: "success" | "failed", now: number): RunState {
    const plan = this.plans.get(record.pipeline);
    if (!plan) throw new RetryRefusedError(`run ${record.id}: its pipeline "${record.pipeline}" is not in this config`);
    if (this.runs.has(record.id) || !RUN_FINAL.has(record.state)) throw new RetryRefusedError(`run ${record.id} is still ${record.state}; mark tasks of a run once it has ended (or cancel it first)`);
    if (!plan.tasks.has(task)) throw new RetryRefusedError(`run ${record.id}: pipeline ${plan.def.id} has no task "${task}"; its tasks: ${[...plan.tasks.keys()].join(", ")}`);
    const states = new Map(tasks.map((t) => [t.task, t.state]));
    const before = states.get(task) ?? "pending";
    states.set(task, state);
    this.out.changes.push({ type: "updateTask", runId: record.id, task, state });
    const all = [...plan.tasks.keys()].map((id) => states.get(id));
    const runState: RunState = all.every((s) => s === "success") ? "success" : all.includes("cancelled") && record.state === "cancelled" ? "cancelled" : "failed";
    if (runState !== record.state) this.out.changes.push({ type: "updateRun", id: record.id, state: runState, endedAt: record.endedAt ?? now });
    this.out.changes.push({
      type: "appendEvent",
      event: { at: now, type: "task.marked", level: "warn", pipeline: plan.def.id, runId: record.id, task, attemptId: null, message: `${plan.def.id}.${task}: marked ${state} by hand in run ${record.id} (was ${before}); the run is ${runState}`, data: { from: before, to: state, runState } },
    });
    return runState;
  }

  private requirePlan(pipeline: string): PipelinePlan {
    const plan = this.plans.get(pipeline);
    if (!plan) throw new UnknownPipelineError(pipeline, [...this.plans.keys()]);
    return plan;
  }

  /**
   * A worker reports an attempt's end. Refused (nothing changes) when the attempt is no longer
   * running — cancelled, lost, already finished — or the fencing token is not the attempt's.
   * What follows from it comes out of the next {@link Engine.advance}, like every decision.
   */
  finish(attemptId: number, fencingToken: number, outcome: CompletionOutcome, now: number): FinishResult {
    const a = this.attempts.get(attemptId);
    if (!a) return { accepted: false, reason: `attempt ${attemptId} is not running` };
    if (a.token !== fencingToken) {
      return { accepted: false, reason: `attempt ${attemptId}: stale fencing token ${fencingToken} (current ${a.token})` };
    }
    this.adapt(a, outcome, now);
    this.endAttempt(a, now, outcome.state, outcome.state === "success" ? null : outcome.error, outcome.state !== "success" && outcome.stillRunning ? "timed out" : undefined, outcome.peakMemoryBytes);
    const { run, task } = a;
    if (outcome.state === "success") {
      task.output = outcome.output;
      this.setTask(run, task, "success", now, { output: outcome.output });
      for (const depId of run.plan.tasks.get(task.id)?.dependents ?? []) {
        const dep = run.tasks.get(depId);
        if (dep && dep.state === "pending" && --dep.waitingDeps === 0) this.makeReady(run, dep, now);
      }
    } else {
      this.failTask(run, task, now, outcome.error.message);
    }
    this.settleRun(run, now);
    return { accepted: true };
  }

  /** The attempt's worker is gone (lease expired, scheduler restarted): release and retry by policy. */
  markLost(attemptId: number, now: number, why: string): boolean {
    const a = this.attempts.get(attemptId);
    if (!a) return false;
    const { run, task } = a;
    const def = run.plan.tasks.get(task.id)?.def;
    task.lost++;
    const budget = def?.lostRetries ?? 0;
    const retried = task.lost <= budget;
    const note = retried ? `retried from the lost-attempt budget (${task.lost} of ${budget}), not from retries` : `the lost-attempt budget (${budget}) is spent`;
    this.endAttempt(a, now, "lost", { message: `lost: ${why}; ${note}`, code: "SLUICE_ATTEMPT_LOST" });
    if (retried && def) {
      // Not the task's fault: again at once, without its retry delay, and its retries untouched.
      this.setTask(run, task, "retry_wait", now, { readyAt: now, lostAttempts: task.lost });
      this.retries.push({ at: now, run, task });
      this.event(now, "task.retry", "warn", `${def.key}: attempt ${task.attempts} of run ${run.record.id} was lost (${why}); ${note}`, run, task.id, null, { retryAt: now, lost: true });
    } else {
      this.setTask(run, task, task.state, now, { lostAttempts: task.lost });
      this.failTask(run, task, now, `lost: ${why}; ${note}`, true);
    }
    this.settleRun(run, now);
    return true;
  }

  /** Cancel a run: waiting tasks leave the queue, running attempts are aborted and their resources released at once. */
  cancelRun(runId: number, now: number, reason = "cancelled by request"): boolean {
    const run = this.runs.get(runId);
    if (!run || (run.record.state !== "running" && run.record.state !== "queued")) return false;
    for (const task of run.tasks.values()) {
      if (FINAL.has(task.state)) continue;
      if (task.state === "running" && task.attemptId !== undefined) {
        const a = this.attempts.get(task.attemptId);
        if (a) {
          // Its function may not stop at once (an inline task can ignore its signal): what it holds
          // stays held until the worker says the function settled (releaseAttempt).
          this.endAttempt(a, now, "cancelled", { message: reason, code: "SLUICE_CANCELLED" }, "cancelled");
          this.out.abort.push({ attemptId: a.id, reason });
        }
      }
      if (task.state === "ready") this.admission.remove(instanceId(run, task));
      this.setTask(run, task, "cancelled", now);
    }
    this.event(now, "run.cancelled", "warn", `${run.plan.def.id}: run ${run.record.id} cancelled: ${reason}`, run, null, null, {});
    this.settleRun(run, now);
    return true;
  }

  /** Stop admitting new attempts and creating scheduled runs (graceful shutdown); running ones may still finish. */
  stopAdmitting(): void {
    this.admitting = false;
  }

  /** Create no runs from schedules (a one-shot `trigger --wait` process). */
  disableSchedules(): void {
    this.schedulesOn = false;
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────

  /** The earliest time `advance` has something to do without a new input, if any. */
  nextWakeAt(): number | undefined {
    let t = Number.POSITIVE_INFINITY;
    for (const plan of this.plans.values()) if (plan.nextDue !== undefined) t = Math.min(t, plan.nextDue);
    for (let top = this.retries.peek(); top; top = this.retries.peek()) {
      if (top.task.state === "retry_wait" && top.task.readyAt === top.at) {
        t = Math.min(t, top.at);
        break;
      }
      this.retries.pop();
    }
    for (let top = this.slas.peek(); top; top = this.slas.peek()) {
      if (this.runs.get(top.run.record.id) === top.run) {
        t = Math.min(t, top.at);
        break;
      }
      this.slas.pop(); // its run ended: nothing to check
    }
    const r = this.admission.nextWakeAt();
    if (r !== undefined) t = Math.min(t, r);
    return Number.isFinite(t) ? t : undefined;
  }

  get runningAttempts(): number {
    return this.attempts.size;
  }

  get waitingTasks(): number {
    return this.admission.waitingCount;
  }

  /** Runs still queued or running. */
  activeRuns(): RunRecord[] {
    return [...this.runs.values()].map((r) => ({ ...r.record }));
  }

  /** Ids of task instances waiting for admission (`runId/task`). */
  readyTaskIds(): string[] {
    const ids: string[] = [];
    for (const run of this.runs.values()) for (const t of run.tasks.values()) if (t.state === "ready") ids.push(instanceId(run, t));
    return ids;
  }

  /**
   * Why each task waiting for admission (`runId/task`) still waits: what {@link explain} says of
   * every ready task, in one pass (see `Admission.explainAll`).
   */
  waitingReasons(): Map<string, WaitReason[]> {
    return this.admission.explainAll();
  }

  /**
   * {@link waitingReasons} for samplers, which several parts of a process take about once a
   * second (metrics, the dashboard's history): the one taken at most `maxAgeMs` before `now` is
   * handed out again instead of explaining every waiting task once more. Treat it as read-only.
   * See {@link sampleEveryMs} for how often a sampler should ask.
   */
  sampledWaitingReasons(now: number, maxAgeMs = 1_000): Map<string, WaitReason[]> {
    const last = this.lastSampled;
    if (last && now >= last.at && now - last.at < maxAgeMs) return last.reasons;
    const reasons = this.admission.explainAll();
    this.lastSampled = { at: now, reasons };
    return reasons;
  }
  private lastSampled: { at: number; reasons: Map<string, WaitReason[]> } | undefined;

  /**
   * How often a sampler of the waiting tasks' reasons should sample: every second, and less often
   * the more tasks wait (a second per 4,000: explaining 20,000 tasks costs ~100 ms, which a
   * sample a second made a tenth of the scheduler's CPU).
   */
  sampleEveryMs(): number {
    return Math.max(1_000, this.admission.waitingCount / 4);
  }

  /**
   * With remote workers: what the live workers serving `queue` offer (execution slots, and memory
   * in MB). Tasks of a queue with no capacity wait ("no worker serves queue …"); a drop below what
   * is in use only stops new starts. False for a queue no task of the config uses.
   */
  setQueueCapacity(queue: string, slots: number, memoryMb: number): boolean {
    const key = resourceKey.queueSlots(queue);
    if (!this.admission.hasResource(key)) return false;
    this.admission.defineResource({ key, kind: "queue", name: queue, capacity: slots });
    this.admission.defineResource({ key: resourceKey.queueMemory(queue), kind: "memory", name: queue, capacity: memoryMb });
    return true;
  }

  /**
   * With remote workers: the live workers that may be given work (not those stopping). From the
   * first call on, a task is admitted only when one of them has a slot and its declared memory
   * free for it, and its attempt is that worker's (`StartCommand.worker`). Call with the same
   * workers as {@link setQueueCapacity}'s sums, whenever they change.
   */
  setWorkers(workers: ReadonlyArray<{ name: string; queues: readonly string[]; slots: number; prefetch: number; memoryMb: number | null; avoid: readonly string[] }>): void {
    const queues = queuesOf(this.config).map((q) => ({ slots: resourceKey.queueSlots(q), memory: resourceKey.queueMemory(q) })).filter((q) => this.admission.hasResource(q.slots) && this.admission.hasResource(q.memory));
    this.admission.setWorkers(
      queues,
      workers.map((w) => ({ id: w.name, queues: w.queues.map((q) => resourceKey.queueSlots(q)), slots: w.slots, prefetch: w.prefetch, memoryMb: w.memoryMb, avoid: w.avoid })),
    );
  }

  /** Each live worker's slots and declared memory in use by this engine's count (after {@link setWorkers}). */
  workerUsage(): Array<{ id: string; used: number; capacity: number; usedMb: number; memoryMb: number | null }> {
    return this.admission.workerUsage();
  }

  /**
   * With remote workers: whether some live worker of the task's queue runs the task's current
   * definition. Closed, the task waits ("no live worker of its queue runs this definition").
   */
  setDefinitionAccepted(taskKey: string, accepted: boolean, tooBig?: { queue: string; needMb: number; largestMb: number }): boolean {
    const key = resourceKey.definition(taskKey);
    if (!this.admission.hasResource(key)) return false;
    this.admission.defineResource({ key, kind: "definition", name: taskKey, capacity: accepted && !tooBig ? DEFINITION_OPEN : 0, ...(accepted && tooBig ? { tooBig } : {}) });
    return true;
  }

  /** The task (`pipeline.task`) and fencing token of a running attempt. */
  attemptOf(attemptId: number): { taskKey: string; fencingToken: number } | undefined {
    const a = this.attempts.get(attemptId);
    const def = a?.run.plan.tasks.get(a.task.id)?.def;
    return a && def ? { taskKey: def.key, fencingToken: a.token } : undefined;
  }

  /** One attempt of {@link liveAttempts}, or `undefined` when its resources are no longer held. */
  liveAttempt(id: number): { id: number; fencingToken: number; draining: boolean } | undefined {
    const a = this.attempts.get(id);
    if (a) return { id, fencingToken: a.token, draining: false };
    return this.draining.has(id) ? { id, fencingToken: 0, draining: true } : undefined;
  }

  /** Attempts whose resources are held: running, and ended but still draining (their function runs). */
  liveAttempts(): Array<{ id: number; fencingToken: number; draining: boolean }> {
    const out: Array<{ id: number; fencingToken: number; draining: boolean }> = [];
    for (const a of this.attempts.values()) out.push({ id: a.id, fencingToken: a.token, draining: false });
    for (const id of this.draining.keys()) out.push({ id, fencingToken: 0, draining: true });
    return out;
  }

  /** Why each task of an active run is where it is. Empty for runs that are not active. */
  explain(runId: number, taskId?: string, now?: number): TaskExplanation[] {
    const run = this.runs.get(runId);
    if (!run) return [];
    const result: TaskExplanation[] = [];
    for (const task of run.tasks.values()) {
      if (taskId !== undefined && task.id !== taskId) continue;
      const def = run.plan.tasks.get(task.id)?.def;
      const id = instanceId(run, task);
      const a = task.attemptId !== undefined ? this.attempts.get(task.attemptId) : undefined;
      result.push({
        runId,
        pipeline: run.plan.def.id,
        task: task.id,
        state: run.record.state === "queued" ? "run_queued" : task.state,
        attempts: task.attempts,
        readyAt: task.readyAt,
        priority: now !== undefined ? this.admission.effectivePriority(id, now) : undefined,
        weight: def?.weight ?? 0,
        reasons: this.reasonsFor(run, task),
        holding: task.state === "running" && a ? a.demand : [],
        ...(def?.slaMs !== undefined && task.state !== "success" ? { sla: this.slaOutlook(run, def.slaMs, def.estimateMs, task, now) } : {}),
      });
    }
    return result;
  }

  /** Every resource with its capacity, use, reservations, waiters and holders. */
  usage(): ResourceUsage[] {
    return this.admission.usage();
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────

  /** The worker a restored attempt holds room on, with worker processes (it is recorded on its attempt). */
  private placedOn(workerId: string | null): string | undefined {
    return this.workerMode === "workers" && workerId !== null ? workerId : undefined;
  }

  private drain(): EngineOutput {
    const out = this.out;
    this.out = { changes: [], start: [], abort: [] };
    return out;
  }

  /**
   * An attempt that held adaptive pools ended: each pool's limiter learns from its latency and any
   * overload signal, and the pool's capacity follows the limiter (its floor, never below `min`).
   */
  private adapt(a: LiveAttempt, outcome: CompletionOutcome, now: number): void {
    if (this.limiters.size === 0) return;
    const overloaded = outcome.overloaded === true || (outcome.state !== "success" && isOverloadError(outcome.error));
    for (const d of a.demand) {
      const l = this.limiters.get(d.key);
      if (!l) continue;
      const usage = this.admission.usageOf(d.key);
      const before = Math.floor(l.limiter.limit);
      const after = Math.floor(l.limiter.sample({ latencyMs: now - a.startedAt, inflight: usage?.used ?? 1, overloaded }));
      if (after !== before) this.admission.defineResource({ ...l.spec, capacity: after });
    }
  }

  /** Watch a live run's SLAs and deadline (at creation, restore, retry). */
  private watchSlas(run: LiveRun): void {
    // A catch-up or backfill run is for a time long past: its SLA was missed before it existed.
    if (run.record.trigger === "catchup") return;
    const at = run.record.scheduledFor;
    if (run.plan.def.deadlineMs !== undefined) this.slas.push({ at: at + run.plan.def.deadlineMs, run, task: null });
    for (const tp of run.plan.tasks.values()) {
      if (tp.def.slaMs !== undefined && run.tasks.get(tp.def.id)?.state !== "success") this.slas.push({ at: at + tp.def.slaMs, run, task: tp.def.id });
    }
  }

  private checkSla(run: LiveRun, taskId: string | null, dueAt: number, now: number): void {
    if (this.runs.get(run.record.id) !== run) return; // the run ended before its SLA: nothing missed here
    const scheduled = iso(run.record.scheduledFor);
    if (taskId === null) {
      const deadlineMs = run.plan.def.deadlineMs ?? 0;
      this.event(now, "run.deadline_missed", "warn", `${run.plan.def.id}: run ${run.record.id} (scheduled for ${scheduled}) is still ${run.record.state} past its deadline of ${fmtMs(deadlineMs)} (${iso(dueAt)})`, run, null, null, { deadlineMs, dueAt, state: run.record.state });
      return;
    }
    const task = run.tasks.get(taskId);
    const def = run.plan.tasks.get(taskId)?.def;
    if (!task || !def || task.state === "success") return;
    const slaMs = def.slaMs ?? 0;
    this.event(now, "task.sla_missed", "warn", `${def.key}: missed its SLA of ${fmtMs(slaMs)} in run ${run.record.id} (scheduled for ${scheduled}, due ${iso(dueAt)}); it is ${run.record.state === "queued" ? "waiting for its run to start" : task.state}`, run, taskId, null, { slaMs, dueAt, state: task.state });
  }

  /** When a not-yet-successful task is due, and whether it missed or (by its estimate) will miss it. */
  private slaOutlook(run: LiveRun, slaMs: number, estimateMs: number | undefined, task: LiveTask, now: number | undefined): { dueAt: number; missed: boolean; willMiss: boolean } {
    const dueAt = run.record.scheduledFor + slaMs;
    const t = now ?? dueAt;
    const missed = t > dueAt;
    // Not started yet: it needs at least its estimate from now; running: its estimate from its start is a guess we do not make.
    const willMiss = missed || (task.state !== "running" && estimateMs !== undefined && t + estimateMs > dueAt);
    return { dueAt, missed, willMiss };
  }

  private reasonsFor(run: LiveRun, task: LiveTask): WaitReason[] {
    if (run.record.state === "queued") {
      const active = [...run.plan.runs].filter((id) => id !== run.record.id && this.runs.get(id)?.record.state === "running");
      return [{ kind: "runQueued", message: `the run waits for ${run.plan.def.id} to have room (maxActiveRuns ${run.plan.def.maxActiveRuns}, overlap ${run.plan.def.overlap}); active: ${active.join(", ") || "none"}` }];
    }
    switch (task.state) {
      case "pending": {
        const waitingFor = (run.plan.tasks.get(task.id)?.def.dependsOn ?? []).filter((d) => run.tasks.get(d)?.state !== "success");
        return [{ kind: "dependency", waitingFor }];
      }
      case "ready":
        return this.admission.explain(instanceId(run, task)) ?? [];
      case "retry_wait":
        return [{ kind: "retryDelay", until: task.readyAt ?? 0 }];
      case "running":
      case "success":
      case "failed":
      case "upstream_failed":
      case "cancelled":
        return [];
      default: {
        const never: never = task.state;
        throw new Error(`unknown task state ${String(never)}`);
      }
    }
  }

  private countRuns(plan: PipelinePlan, state: "running" | "queued"): number {
    let n = 0;
    for (const id of plan.runs) if (this.runs.get(id)?.record.state === state) n++;
    return n;
  }

  private initSchedule(plan: PipelinePlan, now: number, announce: boolean): void {
    const clock = plan.clock;
    // A paused pipeline's schedule is set up again when it is resumed.
    if (!clock || plan.pausedAt !== null) return;
    const last = plan.lastScheduledFor;
    if (plan.def.catchup && last !== null) {
      plan.nextDue = clock.nextAfter(Math.max(last, now - plan.def.catchupWindowMs));
      return;
    }
    plan.nextDue = clock.nextAfter(Math.max(now, last ?? now));
    if (announce && last !== null && clock.nextAfter(last) < now) {
      this.event(now, "schedule.missed", "info", `${plan.def.id}: ticks between ${iso(last)} and ${iso(now)} were missed while Sluice was not running (catchup is off)`, null, null, null, { since: last }, plan.def.id);
    }
  }

  private onTick(plan: PipelinePlan, t: number, trigger: "schedule" | "catchup", now: number): void {
    const running = this.countRuns(plan, "running");
    const queued = this.countRuns(plan, "queued");
    const decision =
      trigger === "catchup"
        ? running + queued === 0
          ? { action: "start" as const }
          : { action: "buffer" as const }
        : decideOverlap({ policy: plan.def.overlap, running, queued, maxActiveRuns: plan.def.maxActiveRuns });
    plan.lastScheduledFor = t;
    let skipped = 0;
    switch (decision.action) {
      case "start":
        this.createRun(plan, t, trigger, {}, true, now);
        break;
      case "buffer":
        this.createRun(plan, t, trigger, {}, false, now);
        break;
      case "cancelAndStart":
        for (const id of [...plan.runs]) this.cancelRun(id, now, `overlap cancelRunning: superseded by the run for ${iso(t)}`);
        this.createRun(plan, t, trigger, {}, true, now);
        break;
      case "skip": {
        skipped = 1;
        plan.skipped++;
        const blocking = [...plan.runs].map((id) => this.runs.get(id)).find((r) => r !== undefined);
        const since = blocking?.record.startedAt ?? blocking?.record.createdAt;
        this.event(
          now,
          "run.skipped",
          "warn",
          `${plan.def.id}: skipped the run for ${iso(t)} because run ${blocking?.record.id ?? "?"}` +
            `${since !== undefined ? ` (started ${iso(since)})` : ""} is still active (overlap: ${plan.def.overlap}); ${plan.skipped} skipped so far`,
          null,
          null,
          null,
          { pipeline: plan.def.id, scheduledFor: t, activeRun: blocking?.record.id ?? null, skippedTotal: plan.skipped },
          plan.def.id,
        );
        break;
      }
      default: {
        const never: never = decision;
        throw new Error(`unknown overlap decision ${JSON.stringify(never)}`);
      }
    }
    this.out.changes.push({ type: "recordSchedule", pipeline: plan.def.id, lastScheduledFor: t, skippedDelta: skipped });
  }

  private createRun(plan: PipelinePlan, scheduledFor: number, trigger: RunTrigger, params: Record<string, unknown>, start: boolean, now: number): LiveRun {
    const record: RunRecord = {
      id: ++this.runSeq,
      pipeline: plan.def.id,
      scheduledFor,
      trigger,
      params,
      state: start ? "running" : "queued",
      createdAt: now,
      startedAt: start ? now : null,
      endedAt: null,
    };
    const run: LiveRun = { record, plan, tasks: new Map(), open: plan.tasks.size };
    for (const tp of plan.tasks.values()) {
      const deps = tp.def.dependsOn.length;
      run.tasks.set(tp.def.id, { id: tp.def.id, state: start && deps === 0 ? "ready" : "pending", attempts: 0, lost: 0, readyAt: start && deps === 0 ? now : null, output: undefined, waitingDeps: deps, attemptId: undefined });
    }
    this.runs.set(record.id, run);
    plan.runs.add(record.id);
    this.watchSlas(run);
    this.out.changes.push({
      type: "createRun",
      run: { ...record },
      tasks: [...run.tasks.values()].map((t) => ({ runId: record.id, task: t.id, state: t.state, attempts: 0, lostAttempts: 0, readyAt: t.readyAt, output: null })),
    });
    if (start) for (const task of run.tasks.values()) if (task.state === "ready") this.enqueue(run, task, now);
    if (run.open === 0) this.settleRun(run, now);
    return run;
  }

  private startRun(run: LiveRun, now: number): void {
    run.record.state = "running";
    run.record.startedAt = now;
    this.out.changes.push({ type: "updateRun", id: run.record.id, state: "running", startedAt: now });
    for (const task of run.tasks.values()) if (task.state === "pending" && task.waitingDeps === 0) this.makeReady(run, task, now);
  }

  private makeReady(run: LiveRun, task: LiveTask, at: number): void {
    this.setTask(run, task, "ready", at, { readyAt: at });
    this.enqueue(run, task, at);
  }

  private enqueue(run: LiveRun, task: LiveTask, readyAt: number): void {
    const tp = run.plan.tasks.get(task.id);
    if (!tp) return;
    let demand: Demand[] = tp.demand;
    let group = tp.def.key;
    if (tp.def.maxActivePerRun !== undefined) {
      const key = resourceKey.taskPerRun(run.record.id, tp.def.key);
      if (!this.admission.hasResource(key)) {
        this.admission.defineResource({ key, kind: "maxActivePerRun", name: tp.def.key, capacity: tp.def.maxActivePerRun });
      }
      demand = [...demand, { key, amount: 1 }];
      group = `${group}@${run.record.id}`;
    }
    const candidate: Candidate = { id: instanceId(run, task), pipeline: run.plan.def.id, run: run.record.id, task: task.id, group, weight: tp.def.weight, readyAt, demand };
    this.admission.enqueue(candidate);
  }

  private startAttempt(run: LiveRun, task: LiveTask, demand: readonly Demand[], now: number, worker: string | undefined): void {
    const tp = run.plan.tasks.get(task.id);
    if (!tp) return;
    task.attempts++;
    const a: LiveAttempt = { id: ++this.attemptSeq, token: ++this.tokenSeq, run, task, attempt: task.attempts, startedAt: now, demand };
    this.attempts.set(a.id, a);
    task.attemptId = a.id;
    const readyAt = task.readyAt ?? now;
    this.setTask(run, task, "running", now, { attempts: task.attempts });
    const record: AttemptRecord = {
      id: a.id,
      runId: run.record.id,
      pipeline: run.plan.def.id,
      task: task.id,
      attempt: a.attempt,
      state: "running",
      fencingToken: a.token,
      workerId: worker ?? this.workerId,
      queuedAt: readyAt,
      startedAt: now,
      endedAt: null,
      leaseExpiresAt: null,
      error: null,
      progress: null,
      resources: demand.map((d) => ({ key: d.key, amount: d.amount })),
      peakMemoryBytes: null,
    };
    this.out.changes.push({ type: "createAttempt", attempt: record });
    const upstream: Record<string, unknown> = {};
    for (const dep of tp.def.dependsOn) upstream[dep] = run.tasks.get(dep)?.output;
    this.out.start.push({
      attemptId: a.id,
      fencingToken: a.token,
      runId: run.record.id,
      pipeline: run.plan.def.id,
      task: task.id,
      taskKey: tp.def.key,
      attempt: a.attempt,
      scheduledFor: run.record.scheduledFor,
      params: run.record.params,
      upstream,
      timeoutMs: tp.def.timeoutMs,
      demand,
      readyAt,
      startedAt: now,
      ...(worker !== undefined ? { worker } : {}),
    });
  }

  private endAttempt(a: LiveAttempt, now: number, state: Exclude<AttemptRecord["state"], "running">, error: AttemptRecord["error"], stillRunning?: "cancelled" | "timed out", peakMemoryBytes?: number): void {
    this.attempts.delete(a.id);
    a.task.attemptId = undefined;
    if (stillRunning) {
      // The attempt is over for the task (it may retry), but its function still runs and uses
      // what it was given: keep that held, under the attempt's own id, until it settles.
      const holderId = attemptHolderId(a.id);
      this.admission.rekey(instanceId(a.run, a.task), { id: holderId, pipeline: a.run.plan.def.id, run: a.run.record.id, task: a.task.id, draining: { attemptId: a.id, why: stillRunning, since: now } });
      this.draining.set(a.id, { holderId });
    } else {
      this.admission.release(instanceId(a.run, a.task));
    }
    this.out.changes.push({ type: "endAttempt", id: a.id, state, endedAt: now, ...(error ? { error } : {}), ...(stillRunning ? { stillRunning: true } : {}), ...(peakMemoryBytes !== undefined ? { peakMemoryBytes } : {}) });
  }

  /**
   * The function of an attempt that already ended (cancelled, timed out) has settled: its
   * resources go back. False when the attempt holds nothing (it was never draining).
   */
  releaseAttempt(attemptId: number, now: number, peakMemoryBytes?: number): boolean {
    const d = this.draining.get(attemptId);
    if (!d) return false;
    this.draining.delete(attemptId);
    this.admission.release(d.holderId);
    this.out.changes.push({ type: "releaseAttempt", id: attemptId, at: now, ...(peakMemoryBytes !== undefined ? { peakMemoryBytes } : {}) });
    return true;
  }

  /** Attempts that ended but whose function still runs, holding their resources. */
  get drainingAttempts(): number {
    return this.draining.size;
  }

  private failTask(run: LiveRun, task: LiveTask, now: number, message: string, final = false): void {
    const def = run.plan.tasks.get(task.id)?.def;
    // Lost attempts have their own budget: they do not use up `retries`.
    if (def && !final && task.attempts - task.lost <= def.retries) {
      const at = now + retryDelayMs(def, task.attempts, this.random);
      this.setTask(run, task, "retry_wait", now, { readyAt: at });
      this.retries.push({ at, run, task });
      this.event(now, "task.retry", "warn", `${def.key}: attempt ${task.attempts} of run ${run.record.id} failed (${message}); retry ${task.attempts - task.lost} of ${def.retries} at ${iso(at)}`, run, task.id, null, { retryAt: at });
      return;
    }
    this.setTask(run, task, "failed", now);
    this.event(now, "task.failed", "error", `${run.plan.def.id}.${task.id}: failed in run ${run.record.id} after ${task.attempts} attempt(s): ${message}`, run, task.id, null, {});
    // Everything downstream can never run now.
    const stack = [...(run.plan.tasks.get(task.id)?.dependents ?? [])];
    while (stack.length > 0) {
      const t = run.tasks.get(stack.pop() as string);
      if (!t || t.state !== "pending") continue;
      this.setTask(run, t, "upstream_failed", now);
      stack.push(...(run.plan.tasks.get(t.id)?.dependents ?? []));
    }
  }

  private setTask(run: LiveRun, task: LiveTask, state: TaskState, _now: number, extra: { attempts?: number; lostAttempts?: number; readyAt?: number | null; output?: unknown } = {}): void {
    if (!FINAL.has(task.state) && FINAL.has(state)) run.open--;
    task.state = state;
    if (extra.readyAt !== undefined) task.readyAt = extra.readyAt;
    this.out.changes.push({ type: "updateTask", runId: run.record.id, task: task.id, state, ...extra });
  }

  /** When every task of a run is final, the run ends; queued runs of the pipeline may start. */
  private settleRun(run: LiveRun, now: number): void {
    if (run.open > 0 || (run.record.state !== "running" && run.record.state !== "queued")) return;
    const states = [...run.tasks.values()].map((t) => t.state);
    const state = states.includes("cancelled") ? "cancelled" : states.every((s) => s === "success") ? "success" : "failed";
    run.record.state = state;
    run.record.endedAt = now;
    this.out.changes.push({ type: "updateRun", id: run.record.id, state, endedAt: now });
    const plan = run.plan;
    plan.runs.delete(run.record.id);
    this.runs.delete(run.record.id);
    for (const tp of plan.tasks.values()) {
      if (tp.def.maxActivePerRun !== undefined) this.admission.dropResource(resourceKey.taskPerRun(run.record.id, tp.def.key));
    }
    const took = now - (run.record.startedAt ?? now);
    // A cancelled run was logged by cancelRun, with its reason.
    if (state !== "cancelled") this.event(now, `run.${state}`, state === "success" ? "info" : "warn", `${plan.def.id}: run ${run.record.id} ${state} in ${took} ms`, run, null, null, { durationMs: took });
    // Under overlap "allow" a run longer than its interval is what was asked for: no warning.
    if (plan.clock && plan.def.overlap !== "allow" && run.record.trigger !== "manual" && run.record.startedAt !== null) {
      const interval = plan.clock.intervalAt(run.record.scheduledFor);
      if (took > interval) {
        this.event(now, "run.overran", "warn", `${plan.def.id}: run ${run.record.id} took ${took} ms, longer than its ${interval} ms interval; later ticks were subject to overlap "${plan.def.overlap}"`, run, null, null, { durationMs: took, intervalMs: interval });
      }
    }
    this.promote(plan, now);
    // The backfill's cap lasts as long as its runs: later catchup runs go one at a time again.
    if (plan.backfillMaxActive !== null && ![...plan.runs].some((id) => this.runs.get(id)?.record.trigger === "catchup")) {
      plan.backfillMaxActive = null;
      this.out.changes.push({ type: "controlPipeline", pipeline: plan.def.id, backfillMaxActive: null });
    }
  }

  private promote(plan: PipelinePlan, now: number): void {
    for (const id of plan.runs) {
      const run = this.runs.get(id);
      if (!run || run.record.state !== "queued") continue;
      const running = this.countRuns(plan, "running");
      // Runs for past times (catchup, backfill) may run side by side up to the backfill's cap.
      const mayStart =
        run.record.trigger === "catchup" && plan.backfillMaxActive !== null
          ? running < Math.min(plan.backfillMaxActive, plan.def.maxActiveRuns)
          : mayStartQueued(plan.def.overlap, run.record.trigger, running, plan.def.maxActiveRuns);
      if (!mayStart) break;
      this.startRun(run, now);
    }
  }

  private event(at: number, type: string, level: EventRecord["level"], message: string, run: LiveRun | null, task: string | null, attemptId: number | null, data: Record<string, unknown>, pipeline?: string): void {
    this.out.changes.push({
      type: "appendEvent",
      event: { at, type, level, pipeline: run?.plan.def.id ?? pipeline ?? null, runId: run?.record.id ?? null, task, attemptId, message, data },
    });
  }

  private restore(state: ActiveState, now: number, recover: boolean): void {
    this.runSeq = state.maxRunId;
    this.attemptSeq = state.maxAttemptId;
    this.tokenSeq = state.maxFencingToken;
    for (const s of state.schedules) {
      const plan = this.plans.get(s.pipeline);
      if (plan) {
        plan.lastScheduledFor = s.lastScheduledFor;
        plan.skipped = s.skipped;
        plan.pausedAt = s.pausedAt ?? null;
        plan.backfillMaxActive = s.backfillMaxActive ?? null;
      }
    }
    const byRun = new Map<number, typeof state.tasks>();
    for (const t of state.tasks) {
      const list = byRun.get(t.runId) ?? [];
      list.push(t);
      byRun.set(t.runId, list);
    }
    for (const record of [...state.runs].sort((a, b) => a.id - b.id)) {
      const plan = this.plans.get(record.pipeline);
      if (!plan) continue; // a pipeline removed from the config: its runs stay as recorded
      const run: LiveRun = { record: { ...record }, plan, tasks: new Map(), open: 0 };
      for (const tr of byRun.get(record.id) ?? []) {
        if (!plan.tasks.has(tr.task)) continue;
        run.tasks.set(tr.task, { id: tr.task, state: tr.state, attempts: tr.attempts, lost: tr.lostAttempts ?? 0, readyAt: tr.readyAt, output: tr.output, waitingDeps: 0, attemptId: undefined });
        if (!FINAL.has(tr.state)) run.open++;
      }
      for (const tp of plan.tasks.values()) {
        const t = run.tasks.get(tp.def.id);
        // A dependency the run has no instance of (added to the pipeline after the run was
        // created) would never succeed: the run keeps the shape it was created with.
        if (t) t.waitingDeps = tp.def.dependsOn.filter((d) => run.tasks.has(d) && run.tasks.get(d)?.state !== "success").length;
      }
      this.runs.set(record.id, run);
      plan.runs.add(record.id);
      // Checks due while no scheduler ran are made at once: a miss may be recorded twice across a restart, never lost.
      this.watchSlas(run);
    }
    const lost: LiveAttempt[] = [];
    for (const ar of state.attempts) {
      const run = this.runs.get(ar.runId);
      const task = run?.tasks.get(ar.task);
      if (!run || !task) continue;
      // Tokens a running attempt took were spent when it started: nothing to hold.
      const demand = ar.resources.filter((r) => (this.admission.hasResource(r.key) && !r.key.startsWith("rate:")) || r.key.startsWith("maxActivePerRun:"));
      for (const d of demand) {
        if (!this.admission.hasResource(d.key)) {
          this.admission.defineResource({ key: d.key, kind: "maxActivePerRun", name: `${run.plan.def.id}.${task.id}`, capacity: run.plan.tasks.get(task.id)?.def.maxActivePerRun ?? 1 });
        }
      }
      const a: LiveAttempt = { id: ar.id, token: ar.fencingToken, run, task, attempt: ar.attempt, startedAt: ar.startedAt, demand };
      this.attempts.set(a.id, a);
      task.attemptId = a.id;
      this.admission.hold({ id: instanceId(run, task), pipeline: run.plan.def.id, run: run.record.id, task: task.id }, demand, this.placedOn(ar.workerId));
      lost.push(a);
    }
    for (const run of this.runs.values()) {
      for (const task of run.tasks.values()) {
        if (run.record.state !== "running") continue;
        if (task.state === "ready") this.enqueue(run, task, task.readyAt ?? now);
        else if (task.state === "retry_wait") this.retries.push({ at: task.readyAt ?? now, run, task });
        else if (task.state === "pending" && task.waitingDeps === 0) this.makeReady(run, task, now);
      }
    }
    // With worker processes, attempts recorded running (or draining) are still run by their
    // workers, whoever schedules: their leases, not this restart, tell when they are lost.
    const remote = this.workerMode === "workers";
    for (const ar of state.draining ?? []) {
      const why = ar.state === "cancelled" ? "cancelled" : "timed out";
      if (recover && !remote) {
        // The process that ran it is gone (this scheduler is starting over): nothing runs it now.
        this.out.changes.push({ type: "releaseAttempt", id: ar.id, at: now });
        continue;
      }
      const demand = ar.resources.filter((r) => this.admission.hasResource(r.key) && !r.key.startsWith("rate:"));
      const holderId = attemptHolderId(ar.id);
      this.admission.hold({ id: holderId, pipeline: ar.pipeline, run: ar.runId, task: ar.task, draining: { attemptId: ar.id, why, since: ar.endedAt ?? now } }, demand, this.placedOn(ar.workerId));
      this.draining.set(ar.id, { holderId });
    }
    if (!recover) return;
    for (const a of remote ? [] : lost) {
      this.event(now, "attempt.lost", "warn", `${a.run.plan.def.id}.${a.task.id}: attempt ${a.attempt} of run ${a.run.record.id} was running when Sluice stopped; marked lost`, a.run, a.task.id, a.id, {});
      this.markLost(a.id, now, "the process running it stopped before it finished");
    }
    for (const run of [...this.runs.values()]) this.settleRun(run, now);
    for (const plan of this.plans.values()) this.promote(plan, now);
  }
}

function attemptHolderId(attemptId: number): string {
  return `attempt:${attemptId}`;
}

function instanceId(run: LiveRun, task: LiveTask): string {
  return `${run.record.id}/${task.id}`;
}

function splitTaskInstanceId(id: string): [number, string] {
  const slash = id.indexOf("/");
  return [Number(id.slice(0, slash)), id.slice(slash + 1)];
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

/** A backfill of more schedule times than this is refused: it is more likely a wrong date than a wish. */
export const MAX_BACKFILL_RUNS = 10_000;

/** Tasks `sluice retry` runs again when none are named. */
const RETRYABLE: ReadonlySet<TaskState> = new Set(["failed", "cancelled", "upstream_failed"]);

/** `sluice retry` / `sluice mark` cannot be done: the message says why and what to do. */
export class RetryRefusedError extends SluiceError {
  constructor(message: string) {
    super("SLUICE_RETRY_REFUSED", message);
    this.name = "RetryRefusedError";
  }
}

