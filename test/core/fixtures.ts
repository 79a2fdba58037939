/**
 * Hand-built {@link ResolvedConfig}s for core tests: valid defaults, override what the test is
 * about. Deliberately independent of `src/define/validate.ts`, so core tests only break when
 * the core does.
 */
import type { ResolvedConfig, ResolvedPipeline, ResolvedSchedule, ResolvedTask } from "../../src/define/resolved.js";
import type { OverlapPolicy } from "../../src/define/types.js";
import type { Candidate, Demand, ResourceSpec } from "../../src/core/admission/types.js";
import type { Change, EventRecord } from "../../src/core/records.js";
import type { Engine } from "../../src/core/engine/engine.js";
import type { EngineOutput, StartCommand } from "../../src/core/engine/types.js";

/** 2025-01-06T00:00:00Z (a Monday, and a multiple of every interval used here). */
export const T0 = Date.UTC(2025, 0, 6);
export const SECOND = 1_000;
export const MINUTE = 60_000;

export interface TaskOpts {
  deps?: string[];
  /** Priority weight after the weight rule; the fixtures take it as given. @defaultValue 1 */
  weight?: number;
  pools?: Record<string, number>;
  estimateMs?: number;
  retries?: number;
  lostRetries?: number;
  retryDelayMs?: number;
  retryBackoff?: "fixed" | "exponential";
  maxRetryDelayMs?: number;
  memoryMb?: number;
  maxActivePerPipeline?: number;
  maxActivePerRun?: number;
  timeoutMs?: number;
}

export function task(pipeline: string, id: string, o: TaskOpts = {}): ResolvedTask {
  return {
    pipeline,
    id,
    key: `${pipeline}.${id}`,
    description: undefined,
    dependsOn: o.deps ?? [],
    pools: o.pools ?? {},
    priority: o.weight ?? 1,
    weightRule: "absolute",
    weight: o.weight ?? 1,
    queue: "default",
    retries: o.retries ?? 0,
    lostRetries: o.lostRetries ?? 3,
    retryDelayMs: o.retryDelayMs ?? 1_000,
    retryBackoff: o.retryBackoff ?? "fixed",
    maxRetryDelayMs: o.maxRetryDelayMs ?? 60 * MINUTE,
    timeoutMs: o.timeoutMs,
    memoryMb: o.memoryMb,
    maxActivePerPipeline: o.maxActivePerPipeline,
    maxActivePerRun: o.maxActivePerRun,
    estimateMs: o.estimateMs,
    fn: () => undefined,
  };
}

export interface PipelineOpts {
  /** `{ everyMs }` is shorthand for `{ kind: "every", everyMs }`. */
  schedule?: ResolvedSchedule | { everyMs: number };
  overlap?: OverlapPolicy;
  maxActiveRuns?: number;
  maxActiveTasks?: number;
  catchup?: boolean;
  catchupWindowMs?: number;
}

/** A pipeline of `tasks` (given in dependency order), all belonging to pipeline `id`. */
export function pipeline(id: string, tasks: Array<ResolvedTask | [string, TaskOpts?]>, o: PipelineOpts = {}): ResolvedPipeline {
  const schedule: ResolvedSchedule | undefined =
    o.schedule === undefined ? undefined : "kind" in o.schedule ? o.schedule : { kind: "every", everyMs: o.schedule.everyMs };
  return {
    id,
    description: undefined,
    schedule,
    overlap: o.overlap ?? "skip",
    maxActiveRuns: o.maxActiveRuns ?? 1,
    maxActiveTasks: o.maxActiveTasks,
    catchup: o.catchup ?? false,
    catchupWindowMs: o.catchupWindowMs ?? 24 * 60 * MINUTE,
    tasks: tasks.map((t) => (Array.isArray(t) ? task(id, t[0], t[1]) : t)),
  };
}

export interface ConfigOpts {
  /** Pool name → slots. */
  pools?: Record<string, number>;
  pipelines: ResolvedPipeline[];
  /** @defaultValue 32 */
  parallelism?: number;
  /** @defaultValue { pointsPerMinute: 1 } */
  aging?: { pointsPerMinute: number };
  /** @defaultValue { afterMs: 5 minutes } */
  reservation?: { afterMs: number };
  /** @defaultValue { concurrency: 32, memoryMb: undefined } */
  worker?: { concurrency?: number; memoryMb?: number };
}

export function config(o: ConfigOpts): ResolvedConfig {
  const pools: ResolvedConfig["pools"] = {};
  for (const [name, slots] of Object.entries(o.pools ?? {})) pools[name] = { name, slots, description: undefined };
  return {
    parallelism: o.parallelism ?? 32,
    pools,
    worker: { concurrency: o.worker?.concurrency ?? 32, memoryMb: o.worker?.memoryMb },
    aging: o.aging ?? { pointsPerMinute: 1 },
    reservation: o.reservation ?? { afterMs: 5 * MINUTE },
    retentionMs: undefined,
    pipelines: o.pipelines,
  };
}

// ── admission helpers ────────────────────────────────────────────────────────────────────────

export function poolSpec(name: string, capacity: number): ResourceSpec {
  return { key: `pool:${name}`, kind: "pool", name, capacity };
}

/** Demand on pools by name: `{ a: 1, b: 2 }` → `pool:a`×1, `pool:b`×2. */
export function onPools(pools: Record<string, number>): Demand[] {
  return Object.entries(pools).map(([name, amount]) => ({ key: `pool:${name}`, amount }));
}

/** A candidate whose group is its own id unless given. */
export function candidate(id: string, o: { group?: string; weight?: number; readyAt?: number; demand: Demand[]; run?: number }): Candidate {
  return {
    id,
    pipeline: "p",
    run: o.run ?? 1,
    task: id,
    group: o.group ?? id,
    weight: o.weight ?? 1,
    readyAt: o.readyAt ?? 0,
    demand: o.demand,
  };
}

// ── engine helpers ───────────────────────────────────────────────────────────────────────────

/** Collects what an engine decided, so tests can look at starts, aborts and events by name. */
export class Recorder {
  readonly starts: StartCommand[] = [];
  readonly aborts: EngineOutput["abort"] = [];
  readonly changes: Change[] = [];

  take(out: EngineOutput): EngineOutput {
    this.starts.push(...out.start);
    this.aborts.push(...out.abort);
    this.changes.push(...out.changes);
    return out;
  }

  events(type?: string): EventRecord[] {
    const all = this.changes.flatMap((c) => (c.type === "appendEvent" ? [c.event] : []));
    return type === undefined ? all : all.filter((e) => e.type === type);
  }

  /** `task` ids in the order they were started. */
  startedTasks(): string[] {
    return this.starts.map((s) => s.task);
  }

  /** The latest start command for `runId/task`. */
  start(runId: number, taskId: string): StartCommand {
    const s = this.starts.filter((x) => x.runId === runId && x.task === taskId).at(-1);
    if (!s) throw new Error(`no start for ${runId}/${taskId}; started: ${this.starts.map((x) => `${x.runId}/${x.task}`).join(", ")}`);
    return s;
  }
}

/** Finish a started attempt successfully and record the engine's follow-up decisions. */
export function succeed(engine: Engine, rec: Recorder, s: StartCommand, now: number, output: unknown = null): void {
  const r = engine.finish(s.attemptId, s.fencingToken, { state: "success", output }, now);
  if (!r.accepted) throw new Error(`finish refused: ${r.reason}`);
  rec.take(engine.advance(now));
}

export function fail(engine: Engine, rec: Recorder, s: StartCommand, now: number, message = "boom"): void {
  const r = engine.finish(s.attemptId, s.fencingToken, { state: "failed", error: { message } }, now);
  if (!r.accepted) throw new Error(`finish refused: ${r.reason}`);
  rec.take(engine.advance(now));
}
