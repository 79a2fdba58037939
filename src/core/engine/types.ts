import type { Demand, WaitReason } from "../admission/types.js";
import type { Change, CompletionOutcome, RunTrigger } from "../records.js";

/** Ask a worker to run one attempt. */
export interface StartCommand {
  attemptId: number;
  fencingToken: number;
  runId: number;
  pipeline: string;
  task: string;
  /** `pipeline.task` */
  taskKey: string;
  attempt: number;
  scheduledFor: number;
  params: Record<string, unknown>;
  /** Outputs of the task's direct upstream tasks, by task id. */
  upstream: Record<string, unknown>;
  timeoutMs: number | undefined;
  demand: readonly Demand[];
  readyAt: number;
  startedAt: number;
  /** With worker processes: the worker admission placed it on (it has the slot and memory for it). */
  worker?: string;
}

/** Ask a worker to abort an attempt; its resources are already released. */
export interface AbortCommand {
  attemptId: number;
  reason: string;
}

/** What one engine call decided: durable changes to record, attempts to start or abort. */
export interface EngineOutput {
  changes: Change[];
  start: StartCommand[];
  abort: AbortCommand[];
}

export interface TriggerOptions {
  params?: Record<string, unknown>;
  /** Defaults to now. */
  scheduledFor?: number;
  trigger?: RunTrigger;
  /**
   * Record the run as queued even if it could start: no scheduler runs it yet (a trigger made
   * from the CLI with none running); the next scheduler starts it. @defaultValue false
   */
  queued?: boolean;
}

export type FinishResult =
  | { accepted: true }
  | { accepted: false; reason: string };

export type { CompletionOutcome };

/** A task of an active run, as `explain` reports it. */
export interface TaskExplanation {
  runId: number;
  pipeline: string;
  task: string;
  state: string;
  attempts: number;
  readyAt: number | null;
  /** Effective priority now (weight + aging) while waiting for admission. */
  priority: number | undefined;
  weight: number;
  reasons: WaitReason[];
  /** For running tasks: what it holds. */
  holding: readonly Demand[];
  /**
   * For a task with an `sla` that has not succeeded: when it is due, whether it missed it, and
   * whether it will (missed, or not started and its `estimate` no longer fits before it is due).
   */
  sla?: { dueAt: number; missed: boolean; willMiss: boolean };
}
