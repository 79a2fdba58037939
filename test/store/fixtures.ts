/** Record builders for store tests: valid defaults, override what the test is about. */
import type { AttemptRecord, EventRecord, RunRecord, StoreWrite, TaskInstanceRecord } from "../../src/store/types.js";

/** 2025-01-01T00:00:00Z: every time in the store tests is an offset from it. */
export const T0 = Date.UTC(2025, 0, 1);
export const MINUTE = 60_000;

export function runRecord(id: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    pipeline: "etl",
    scheduledFor: T0 + id * MINUTE,
    trigger: "schedule",
    params: {},
    state: "queued",
    createdAt: T0 + id * MINUTE,
    startedAt: null,
    endedAt: null,
    ...over,
  };
}

export function taskRecord(runId: number, task: string, over: Partial<TaskInstanceRecord> = {}): TaskInstanceRecord {
  return { runId, task, state: "pending", attempts: 0, lostAttempts: 0, readyAt: null, output: null, ...over };
}

/** A `createRun` write with one pending task instance per name. */
export function createRun(id: number, tasks: readonly string[] = ["extract"], over: Partial<RunRecord> = {}): StoreWrite {
  return { type: "createRun", run: runRecord(id, over), tasks: tasks.map((t) => taskRecord(id, t)) };
}

export function attemptRecord(id: number, runId: number, task: string, over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    id,
    runId,
    pipeline: "etl",
    task,
    attempt: 1,
    state: "running",
    fencingToken: id,
    workerId: "w1",
    queuedAt: T0 + id,
    startedAt: T0 + id + 1,
    endedAt: null,
    leaseExpiresAt: T0 + id + 30_000,
    error: null,
    progress: null,
    resources: [],
    peakMemoryBytes: null,
    ...over,
  };
}

/** A `createAttempt` write. */
export function createAttempt(id: number, runId: number, task: string, over: Partial<AttemptRecord> = {}): StoreWrite {
  return { type: "createAttempt", attempt: attemptRecord(id, runId, task, over) };
}

export function eventRecord(over: Partial<EventRecord> = {}): EventRecord {
  return {
    at: T0,
    type: "task.started",
    level: "info",
    pipeline: "etl",
    runId: null,
    task: null,
    attemptId: null,
    message: "",
    data: {},
    ...over,
  };
}

/** An `appendEvent` write. */
export function appendEvent(over: Partial<EventRecord> = {}): StoreWrite {
  return { type: "appendEvent", event: eventRecord(over) };
}
