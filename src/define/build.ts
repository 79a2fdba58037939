/** Turns a config that passed every check into a {@link ResolvedConfig}: defaults, ms, weights, order. */
import { topoSort, type Edge } from "../core/dag.js";
import { computeWeights } from "../core/weights.js";
import { buildDatabase } from "./databases.js";
import { DEFAULTS } from "./defaults.js";
import { durationMs } from "./duration.js";
import { buildNotify, hooksOf } from "./notify.js";
import type { ParsedPipeline, ParsedTask } from "./read.js";
import type { AdaptiveSpec } from "../core/adaptive.js";
import type { ResolvedConfig, ResolvedPipeline, ResolvedPool, ResolvedSchedule, ResolvedTask } from "./resolved.js";
import type { ParsedConfig, ParsedPipelineOptions } from "./schema.js";
import type { Duration, Isolation } from "./types.js";

/** Milliseconds of a default duration (they are constants, checked by `satisfies`). */
const ms = (value: Duration): number => (durationMs(value) as { ms: number }).ms;

/** Applies defaults, orders tasks and computes weights; only called once every check has passed. */
export function buildConfig(top: ParsedConfig, pipelines: readonly ParsedPipeline[], edges: readonly Edge<string>[][]): ResolvedConfig {
  return {
    parallelism: top.parallelism ?? DEFAULTS.parallelism,
    pools: Object.fromEntries(
      Object.entries(top.pools ?? {}).map(([name, pool]) => [name, buildPool(name, pool)]),
    ),
    worker: { concurrency: top.worker?.concurrency ?? DEFAULTS.worker.concurrency, memoryMb: top.worker?.memoryMb },
    // Only when declared: configs without them keep the fingerprint they had before these existed.
    ...nonEmpty("rateLimits", Object.fromEntries(
      Object.entries(top.rateLimits ?? {}).map(([name, r]) => [name, { name, limit: r.limit, perMs: r.per, burst: r.burst ?? r.limit, description: r.description }]),
    )),
    ...nonEmpty("bandwidth", Object.fromEntries(
      Object.entries(top.bandwidth ?? {}).map(([name, b]) => [name, { name, bytesPerSecond: b.bytesPerSecond, burst: b.burst ?? defaultBandwidthBurst(b.bytesPerSecond), description: b.description }]),
    )),
    aging: { pointsPerMinute: top.aging?.pointsPerMinute ?? DEFAULTS.aging.pointsPerMinute },
    reservation: { afterMs: top.reservation?.after ?? ms(DEFAULTS.reservation.after) },
    retentionMs: top.retention === false ? undefined : (top.retention ?? ms(DEFAULTS.retention)),
    pipelines: pipelines.map((p, i) => buildPipeline(p, edges[i] ?? [])),
    notify: buildNotify(top.notify),
    // Only when declared, like rateLimits (never stored or fingerprinted anyway: see stored.ts).
    ...nonEmpty("databases", Object.fromEntries(Object.entries(top.databases ?? {}).map(([name, d]) => [name, buildDatabase(name, d)]))),
  };
}

function buildPipeline(p: ParsedPipeline, edges: readonly Edge<string>[]): ResolvedPipeline {
  const o: ParsedPipelineOptions = p.options ?? {};
  // Dependencies by task, once: filtering all edges for every task was quadratic (10,000-task chain: 1.5 s).
  const depsOf = new Map<string, string[]>();
  for (const [from, to] of edges) {
    const list = depsOf.get(to);
    if (list) list.push(from);
    else depsOf.set(to, [from]);
  }
  const tasks = p.tasks.map((t) => buildTask(p.view.id, t, depsOf.get(t.view.id) ?? [], o.isolation));
  const weights = computeWeights(tasks);
  const byId = new Map(tasks.map((t) => [t.id, { ...t, weight: weights.get(t.id) ?? t.priority }]));
  return {
    id: p.view.id,
    description: o.description,
    schedule: buildSchedule(o.schedule),
    overlap: o.overlap ?? DEFAULTS.pipeline.overlap,
    maxActiveRuns: o.maxActiveRuns ?? DEFAULTS.pipeline.maxActiveRuns,
    maxActiveTasks: o.maxActiveTasks,
    catchup: o.catchup ?? DEFAULTS.pipeline.catchup,
    catchupWindowMs: o.catchupWindow ?? ms(DEFAULTS.pipeline.catchupWindow),
    ...(o.deadline !== undefined ? { deadlineMs: o.deadline } : {}),
    tasks: topoSort([...byId.keys()], edges).map((id) => byId.get(id)!),
    ...withHooks(o),
  };
}

function buildSchedule(s: ParsedPipelineOptions["schedule"]): ResolvedSchedule | undefined {
  if (s === undefined) return undefined;
  if (s.every !== undefined) return { kind: "every", everyMs: s.every };
  return { kind: "cron", cron: s.cron ?? "", timezone: s.timezone };
}

function buildTask(pipeline: string, t: ParsedTask, dependsOn: string[], pipelineIsolation: Isolation | undefined): ResolvedTask {
  const o = t.options ?? {};
  const id = t.view.id;
  const isolation = o.isolation ?? pipelineIsolation ?? DEFAULTS.task.isolation;
  return {
    pipeline,
    id,
    key: `${pipeline}.${id}`,
    description: o.description,
    // The checked edges, not the raw list: TaskRefs become ids, repeats are dropped.
    dependsOn,
    pools: { ...o.pools },
    ...(o.rate !== undefined && Object.keys(o.rate).length > 0 ? { rate: { ...o.rate } } : {}),
    priority: o.priority ?? DEFAULTS.task.priority,
    weightRule: o.weightRule ?? DEFAULTS.task.weightRule,
    weight: 0,
    queue: o.queue ?? DEFAULTS.task.queue,
    retries: o.retries ?? DEFAULTS.task.retries,
    lostRetries: o.lostRetries ?? DEFAULTS.task.lostRetries,
    retryDelayMs: o.retryDelay ?? ms(DEFAULTS.task.retryDelay),
    retryBackoff: o.retryBackoff ?? DEFAULTS.task.retryBackoff,
    maxRetryDelayMs: o.maxRetryDelay ?? ms(DEFAULTS.task.maxRetryDelay),
    timeoutMs: o.timeout,
    memoryMb: o.memoryMb,
    // Absent when inline, so the definitions (and their fingerprint) of configs without isolation stay as they were.
    ...(isolation !== "inline" ? { isolation } : {}),
    maxActivePerPipeline: o.maxActivePerPipeline,
    maxActivePerRun: o.maxActivePerRun,
    estimateMs: o.estimate,
    ...(o.sla !== undefined ? { slaMs: o.sla } : {}),
    fn: t.fn,
    ...withHooks(o),
  };
}

/** `{ hooks }` when any hook is set, else nothing (so configs without hooks look as before). */
function withHooks(o: Parameters<typeof hooksOf>[0]): { hooks?: ReturnType<typeof hooksOf> & object } {
  const hooks = hooksOf(o);
  return hooks ? { hooks } : {};
}

function buildPool(name: string, pool: NonNullable<ParsedConfig["pools"]>[string]): ResolvedPool {
  if (typeof pool.slots === "number") return { name, slots: pool.slots, description: pool.description };
  const a = pool.slots;
  const adaptive: AdaptiveSpec = { min: a.min, max: a.max, algorithm: a.adapt, ...(a.initial !== undefined ? { initial: a.initial } : {}), ...(a.latencyThreshold !== undefined ? { latencyThresholdMs: a.latencyThreshold } : {}) };
  return { name, slots: a.initial ?? a.min, description: pool.description, adaptive };
}


/** A tenth of a second's budget (at least 1 byte): bursts stay small next to the rate. */
export function defaultBandwidthBurst(bytesPerSecond: number): number {
  return Math.max(1, Math.floor(bytesPerSecond / 10));
}

function nonEmpty<K extends string, V>(key: K, record: Record<string, V>): { [P in K]?: Record<string, V> } {
  return (Object.keys(record).length > 0 ? { [key]: record } : {}) as { [P in K]?: Record<string, V> };
}
