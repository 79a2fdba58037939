import type { OverlapPolicy, TaskFn, WeightRule } from "./types.js";

/**
 * A validated configuration: every default applied, every duration in milliseconds, every
 * reference checked, weights computed. This is what the core, the scheduler and `simulate` run.
 */
export interface ResolvedConfig {
  parallelism: number;
  pools: Record<string, ResolvedPool>;
  worker: { concurrency: number; memoryMb: number | undefined };
  aging: { pointsPerMinute: number };
  reservation: { afterMs: number };
  /** Finished runs older than this are deleted; `undefined` keeps them all. */
  retentionMs: number | undefined;
  /** In declaration order. */
  pipelines: ResolvedPipeline[];
}

export interface ResolvedPool {
  name: string;
  slots: number;
  description: string | undefined;
}

export type ResolvedSchedule =
  | { kind: "every"; everyMs: number }
  | { kind: "cron"; cron: string; timezone: string | undefined };

export interface ResolvedPipeline {
  id: string;
  description: string | undefined;
  schedule: ResolvedSchedule | undefined;
  overlap: OverlapPolicy;
  maxActiveRuns: number;
  maxActiveTasks: number | undefined;
  catchup: boolean;
  catchupWindowMs: number;
  /** Topologically sorted (dependencies first; ties in declaration order). */
  tasks: ResolvedTask[];
}

export interface ResolvedTask {
  pipeline: string;
  id: string;
  /** `"pipeline.task"`: unique across the config. */
  key: string;
  description: string | undefined;
  /** Ids of tasks in the same pipeline. */
  dependsOn: string[];
  pools: Record<string, number>;
  priority: number;
  weightRule: WeightRule;
  /** Priority weight after applying `weightRule` over the DAG. */
  weight: number;
  queue: string;
  retries: number;
  /** Retries of attempts lost to a crash or shutdown, apart from `retries`. */
  lostRetries: number;
  retryDelayMs: number;
  retryBackoff: "fixed" | "exponential";
  maxRetryDelayMs: number;
  timeoutMs: number | undefined;
  memoryMb: number | undefined;
  maxActivePerPipeline: number | undefined;
  maxActivePerRun: number | undefined;
  estimateMs: number | undefined;
  fn: TaskFn;
}

/** One thing wrong with a definition, located precisely enough to fix it. */
export interface ConfigProblem {
  /** e.g. `pipelines.daily_sales.tasks.extract.pools.warehouse_db` */
  path: string;
  pipeline?: string;
  task?: string;
  field?: string;
  /** What is wrong and how to fix it, as one sentence or two. */
  message: string;
}
