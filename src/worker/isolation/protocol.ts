/**
 * The messages between a worker and the thread or child process running one isolated attempt.
 * Everything that crosses is plain JSON-safe data: a thread gets it by structured clone, a child
 * process over its IPC channel (JSON). Functions, class instances and open handles never cross.
 */
import type { StartCommand } from "../../core/engine/types.js";

/** An error as it crosses the boundary: its class is lost, its message, stack and code are kept. */
export interface SerializedError {
  message: string;
  stack?: string;
  code?: string;
}

/** What the thread (as `workerData`) or child (first message) is given to start. */
export interface ChildStart {
  type: "start";
  /** Absolute path of the config module to import (the one the worker loaded). */
  configPath: string;
  cmd: StartCommand;
  /** How often a thread reports its heap in use, ms. */
  sampleMs: number;
}

/** Worker → thread/child. */
export type ToChild =
  | ChildStart
  /** The attempt's signal aborted: a timeout (`timeoutMs`) or a cancel/shutdown (`message`). */
  | { type: "abort"; message: string; timeoutMs?: number }
  /** Answer to a `heartbeat` request. */
  | { type: "ack"; id: number; ok: boolean }
  /** Answer to a `tokens` request: what was granted (and when, by the budget's clock), or why not. */
  | { type: "tokens"; id: number; ok: true; taken: number; at: number }
  | { type: "tokens"; id: number; ok: false; error: SerializedError };

/** Thread/child → worker. */
export type FromChild =
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  /** `ctx.heartbeat()` (no `progress` key) or `ctx.progress(value)`; answered with an `ack` of the same id. */
  | { type: "heartbeat"; id: number; progress?: unknown; withProgress: boolean }
  | { type: "overloaded" }
  /**
   * `ctx.take` (`budget: "rate"`, `min` = `max` = the tokens) or a piece of `ctx.throttle`
   * (`budget: "bandwidth"`, up to `max` bytes, at least one): the worker takes them from the
   * installation's budget, waiting as long as it takes, and answers with a `tokens` of the same id.
   */
  | { type: "tokens"; id: number; budget: "rate" | "bandwidth"; name: string; min: number; max: number }
  /** A thread's V8 heap in use (a child process is measured from outside, by its RSS). */
  | { type: "memory"; heapBytes: number }
  /** The task's function settled: its JSON output (`null` for `undefined`), or what it threw. */
  | { type: "done"; ok: true; outputJson: string; heapPeakBytes: number }
  | { type: "done"; ok: false; error: SerializedError; heapPeakBytes: number };
