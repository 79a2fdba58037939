import type { AdaptiveSpec } from "../core/adaptive.js";
import type { Isolation, NotifyEventType, NotifyHook, OverlapPolicy, TaskFn, WeightRule } from "./types.js";

/**
 * A validated configuration: every default applied, every duration in milliseconds, every
 * reference checked, weights computed. This is what the core, the scheduler and `simulate` run.
 */
export interface ResolvedConfig {
  parallelism: number;
  pools: Record<string, ResolvedPool>;
  worker: { concurrency: number; memoryMb: number | undefined };
  /** Token budgets by name; absent in configs built by hand (none). */
  rateLimits?: Record<string, ResolvedRateLimit>;
  /** Byte budgets by name; absent in configs built by hand (none). */
  bandwidth?: Record<string, ResolvedBandwidth>;
  aging: { pointsPerMinute: number };
  reservation: { afterMs: number };
  /** Finished runs older than this are deleted; `undefined` keeps them all. */
  retentionMs: number | undefined;
  /** In declaration order. */
  pipelines: ResolvedPipeline[];
  /** Webhook targets and hook limits; absent in configs built by hand (no webhooks, default limits). Never stored. */
  notify?: ResolvedNotify;
  /** Databases for `ctx.pg`; absent in configs built by hand (none). Never stored: URLs carry passwords. */
  databases?: Record<string, ResolvedDatabase>;
}

/** An entry of `databases`, defaults applied, durations in ms. */
export interface ResolvedDatabase {
  name: string;
  /** The URL, or the environment variable to read it from where a task uses the database. */
  url: { kind: "url"; url: string } | { kind: "env"; env: string };
  pool: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  checkoutTimeoutMs: number;
  retries: number;
  retryDelayMs: number;
  description: string | undefined;
}

/** The hooks a pipeline or task set (only those). Never stored: they are functions. */
export interface ResolvedHooks {
  onSuccess?: NotifyHook;
  onFailure?: NotifyHook;
  onRetry?: NotifyHook;
  onSkip?: NotifyHook;
  onSlaMiss?: NotifyHook;
}

export interface ResolvedNotify {
  hookTimeoutMs: number;
  hookQueueSize: number;
  webhooks: ResolvedWebhook[];
}

export interface ResolvedWebhook {
  url: string;
  events: NotifyEventType[];
  /** Only these pipelines; `undefined`: all. */
  pipelines: string[] | undefined;
  headers: Record<string, string>;
  timeoutMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  maxAgeMs: number;
  queueSize: number;
}

export interface ResolvedPool {
  name: string;
  /** The slots; for an adaptive pool, the limit it starts at. */
  slots: number;
  description: string | undefined;
  /** An adaptive limit (`slots: { min, max, adapt }`). */
  adaptive?: AdaptiveSpec;
}

/** A rate limit: `limit` tokens per `perMs`, at most `burst` at once. */
export interface ResolvedRateLimit {
  name: string;
  limit: number;
  perMs: number;
  burst: number;
  description: string | undefined;
}

/** A byte budget: `bytesPerSecond`, at most `burst` bytes at once. */
export interface ResolvedBandwidth {
  name: string;
  bytesPerSecond: number;
  burst: number;
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
  /** End within this long of the scheduled time (`deadline`). */
  deadlineMs?: number;
  /** Topologically sorted (dependencies first; ties in declaration order). */
  tasks: ResolvedTask[];
  hooks?: ResolvedHooks;
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
  /** Tokens taken from each rate limit at admission (`rate`); absent: none. */
  rate?: Record<string, number>;
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
  /** `thread` or `process` (the task's, else its pipeline's); absent: `inline`. */
  isolation?: Exclude<Isolation, "inline">;
  maxActivePerPipeline: number | undefined;
  maxActivePerRun: number | undefined;
  estimateMs: number | undefined;
  /** Succeed within this long of the run's scheduled time (`sla`). */
  slaMs?: number;
  fn: TaskFn;
  hooks?: ResolvedHooks;
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
