import type { ResolvedConfig, ResolvedPipeline, ResolvedTask } from "../../define/resolved.js";
import type { Demand, ResourceSpec } from "../admission/types.js";
import { ScheduleClock } from "../schedule.js";

/** Resource keys, in one place so explain, metrics and the store agree. */
export const resourceKey = {
  parallelism: "parallelism",
  pool: (name: string) => `pool:${name}`,
  pipelineTasks: (pipeline: string) => `maxActiveTasks:${pipeline}`,
  taskPerPipeline: (taskKey: string) => `maxActivePerPipeline:${taskKey}`,
  taskPerRun: (runId: number, taskKey: string) => `maxActivePerRun:${runId}:${taskKey}`,
  workerSlots: "queue:worker",
  workerMemory: "memory:worker",
  /** Execution slots of the workers serving a queue (with remote workers). */
  queueSlots: (queue: string) => `queue:${queue}`,
  /** Memory of the workers serving a queue (with remote workers). */
  queueMemory: (queue: string) => `memory:${queue}`,
  /** Live workers of the task's queue that run its current definition (with remote workers). */
  definition: (taskKey: string) => `definition:${taskKey}`,
  /** Tokens of a rate limit. */
  rate: (name: string) => `rate:${name}`,
} as const;

/**
 * Who runs the tasks. `local`: one in-process worker of `config.worker` serves every task.
 * `workers`: worker processes, each serving some queues; a queue's capacity is what its live
 * workers offer (zero until one registers), set with `Engine.setQueueCapacity`.
 */
export type WorkerMode = "local" | "workers";

/** Capacity of an open `definition` resource: never the limit. */
export const DEFINITION_OPEN = Number.MAX_SAFE_INTEGER;

/** The distinct queues the config's tasks run on. */
export function queuesOf(config: ResolvedConfig): string[] {
  let queues = QUEUES.get(config);
  if (!queues) QUEUES.set(config, (queues = [...new Set(config.pipelines.flatMap((p) => p.tasks.map((t) => t.queue)))].sort()));
  return queues;
}
const QUEUES = new WeakMap<ResolvedConfig, string[]>();

export interface TaskPlan {
  def: ResolvedTask;
  dependents: string[];
  /** Demand without the per-run limit (added per run). */
  demand: Demand[];
}

export interface PipelinePlan {
  def: ResolvedPipeline;
  tasks: Map<string, TaskPlan>;
  clock: ScheduleClock | undefined;
  nextDue: number | undefined;
  lastScheduledFor: number | null;
  skipped: number;
  /** Paused by an operator (`sluice pause`) since then: its schedule creates no runs. */
  pausedAt: number | null;
  /** Ticks before this time are missed ones being caught up (after a resume with `catchup`). */
  catchupUntil: number;
  /** Runs for past schedule times (backfill, catchup) that may run at once; `null`: one, as catchup always did. */
  backfillMaxActive: number | null;
  /** Ids of this pipeline's runs that are queued or running, in creation order. */
  runs: Set<number>;
}

/** The resources every config implies (per-run limits are added as runs appear). */
export function resourcesOf(config: ResolvedConfig, mode: WorkerMode = "local"): ResourceSpec[] {
  const specs: ResourceSpec[] = [{ key: resourceKey.parallelism, kind: "parallelism", name: "parallelism", capacity: config.parallelism }];
  if (mode === "workers") {
    for (const queue of queuesOf(config)) {
      specs.push({ key: resourceKey.queueSlots(queue), kind: "queue", name: queue, capacity: 0 });
      specs.push({ key: resourceKey.queueMemory(queue), kind: "memory", name: queue, capacity: 0 });
    }
    // Open until the workers of a task's queue all turn out to run a different definition of it.
    for (const p of config.pipelines) for (const t of p.tasks) specs.push({ key: resourceKey.definition(t.key), kind: "definition", name: t.key, capacity: DEFINITION_OPEN });
  } else {
    specs.push({ key: resourceKey.workerSlots, kind: "queue", name: "worker", capacity: config.worker.concurrency });
    if (config.worker.memoryMb !== undefined) {
      specs.push({ key: resourceKey.workerMemory, kind: "memory", name: "worker", capacity: config.worker.memoryMb });
    }
  }
  for (const pool of Object.values(config.pools)) {
    const adaptive = pool.adaptive ? { adaptive: { min: pool.adaptive.min, max: pool.adaptive.max, algorithm: pool.adaptive.algorithm } } : {};
    specs.push({ key: resourceKey.pool(pool.name), kind: "pool", name: pool.name, capacity: pool.slots, ...adaptive });
  }
  for (const r of Object.values(config.rateLimits ?? {})) {
    // Capacity is what the budget holds, set before each admission pass (see Engine).
    specs.push({ key: resourceKey.rate(r.name), kind: "rate", name: r.name, capacity: 0, rate: { limit: r.limit, perMs: r.perMs, burst: r.burst } });
  }
  for (const p of config.pipelines) {
    if (p.maxActiveTasks !== undefined) {
      specs.push({ key: resourceKey.pipelineTasks(p.id), kind: "maxActiveTasks", name: p.id, capacity: p.maxActiveTasks });
    }
    for (const t of p.tasks) {
      if (t.maxActivePerPipeline !== undefined) {
        specs.push({ key: resourceKey.taskPerPipeline(t.key), kind: "maxActivePerPipeline", name: t.key, capacity: t.maxActivePerPipeline });
      }
    }
  }
  return specs;
}

function demandOf(config: ResolvedConfig, p: ResolvedPipeline, t: ResolvedTask, mode: WorkerMode): Demand[] {
  const demand: Demand[] = [{ key: resourceKey.parallelism, amount: 1 }];
  if (mode === "workers") {
    demand.push({ key: resourceKey.queueSlots(t.queue), amount: 1 });
    demand.push({ key: resourceKey.definition(t.key), amount: 1 });
    if (t.memoryMb !== undefined) demand.push({ key: resourceKey.queueMemory(t.queue), amount: t.memoryMb });
  } else {
    demand.push({ key: resourceKey.workerSlots, amount: 1 });
    if (config.worker.memoryMb !== undefined && t.memoryMb !== undefined) {
      demand.push({ key: resourceKey.workerMemory, amount: t.memoryMb });
    }
  }
  if (p.maxActiveTasks !== undefined) demand.push({ key: resourceKey.pipelineTasks(p.id), amount: 1 });
  if (t.maxActivePerPipeline !== undefined) demand.push({ key: resourceKey.taskPerPipeline(t.key), amount: 1 });
  for (const [pool, slots] of Object.entries(t.pools)) demand.push({ key: resourceKey.pool(pool), amount: slots });
  for (const [limit, tokens] of Object.entries(t.rate ?? {})) demand.push({ key: resourceKey.rate(limit), amount: tokens });
  return demand;
}

export function planPipelines(config: ResolvedConfig, mode: WorkerMode = "local"): Map<string, PipelinePlan> {
  const plans = new Map<string, PipelinePlan>();
  for (const p of config.pipelines) {
    const tasks = new Map<string, TaskPlan>();
    for (const t of p.tasks) tasks.set(t.id, { def: t, dependents: [], demand: demandOf(config, p, t, mode) });
    for (const t of p.tasks) for (const dep of t.dependsOn) tasks.get(dep)?.dependents.push(t.id);
    plans.set(p.id, {
      def: p,
      tasks,
      clock: p.schedule ? new ScheduleClock(p.schedule) : undefined,
      nextDue: undefined,
      lastScheduledFor: null,
      skipped: 0,
      pausedAt: null,
      catchupUntil: 0,
      backfillMaxActive: null,
      runs: new Set(),
    });
  }
  return plans;
}
