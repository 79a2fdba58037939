/**
 * Table rows as the drivers return them (SQLite and PostgreSQL alike), and their mapping to the records of `./types.ts`.
 * Columns are selected under their record names (`scheduled_for AS "scheduledFor"`), so mapping is
 * only JSON parsing and the string-to-union narrowing the CHECK constraints guarantee.
 */
import type {
  AttemptRecord,
  AttemptState,
  EventRecord,
  HeldResource,
  RunRecord,
  RunState,
  RunTrigger,
  TaskInstanceRecord,
  TaskState,
  ControlRequest,
} from "./types.js";

/** JSON for a TEXT column; `undefined` (and values JSON cannot hold) become NULL. */
export function toJson(value: unknown): string | null {
  if (value === undefined) return null;
  return JSON.stringify(value) ?? null;
}

/** The value of a JSON TEXT column; NULL reads as `null`. */
export function fromJson(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

/** Columns of `runs` under the names of {@link RunRecord}. */
export const RUN_COLUMNS = `id, pipeline, scheduled_for AS "scheduledFor", trigger, params, state,
  created_at AS "createdAt", started_at AS "startedAt", ended_at AS "endedAt"`;

/** A `runs` row selected with {@link RUN_COLUMNS}. */
export interface RunRow {
  id: number;
  pipeline: string;
  scheduledFor: number;
  trigger: string;
  params: string;
  state: string;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

/** Parses `params` and narrows the enums. */
export function toRunRecord(row: RunRow): RunRecord {
  return {
    ...row,
    trigger: row.trigger as RunTrigger,
    state: row.state as RunState,
    params: JSON.parse(row.params) as Record<string, unknown>,
  };
}

/** Columns of `task_instances` under the names of {@link TaskInstanceRecord}. */
export const TASK_COLUMNS = `run_id AS "runId", task, state, attempts, lost_attempts AS "lostAttempts", ready_at AS "readyAt", output`;

/** A `task_instances` row selected with {@link TASK_COLUMNS}. */
export interface TaskRow {
  runId: number;
  task: string;
  state: string;
  attempts: number;
  lostAttempts: number;
  readyAt: number | null;
  output: string | null;
}

/** Parses `output` and narrows the state. */
export function toTaskRecord(row: TaskRow): TaskInstanceRecord {
  return { ...row, state: row.state as TaskState, output: fromJson(row.output) };
}

/** Columns of `attempts` under the names of {@link AttemptRecord}. */
export const ATTEMPT_COLUMNS = `id, run_id AS "runId", pipeline, task, attempt, state,
  fencing_token AS "fencingToken", worker_id AS "workerId", queued_at AS "queuedAt",
  started_at AS "startedAt", ended_at AS "endedAt", lease_expires_at AS "leaseExpiresAt", error, progress,
  peak_memory_bytes AS "peakMemoryBytes"`;

/** An `attempts` row selected with {@link ATTEMPT_COLUMNS}; resources come from their own table. */
export interface AttemptRow {
  id: number;
  runId: number;
  pipeline: string;
  task: string;
  attempt: number;
  state: string;
  fencingToken: number;
  workerId: string | null;
  queuedAt: number;
  startedAt: number;
  endedAt: number | null;
  leaseExpiresAt: number | null;
  error: string | null;
  progress: string | null;
  /** A number from SQLite; from PostgreSQL (BIGINT) whatever the pool's type parser makes of it. */
  peakMemoryBytes: number | string | null;
}

/** An `attempt_resources` row. */
export interface ResourceRow {
  attemptId: number;
  key: string;
  amount: number;
}

/** Byte order of UTF-8 (SQLite's and PostgreSQL's `COLLATE "C"`), so both stores list resources alike. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * An attempt's resources as the PostgreSQL store keeps them, in a column of the attempt: JSON
 * `[[key, amount], …]` in byte order of the keys; `null` when it holds none.
 */
export function resourcesJson(resources: readonly HeldResource[]): string | null {
  if (resources.length === 0) return null;
  return JSON.stringify([...resources].sort((x, y) => byteOrder(x.key, y.key)).map((r) => [r.key, r.amount]));
}

/** The rows of {@link toAttemptRecords} from attempts that carry their resources as {@link resourcesJson}. */
export function resourceRowsOf(rows: ReadonlyArray<{ id: number; resources: string | null }>): ResourceRow[] {
  const out: ResourceRow[] = [];
  for (const row of rows) {
    if (row.resources === null) continue;
    for (const [key, amount] of JSON.parse(row.resources) as Array<[string, number]>) out.push({ attemptId: row.id, key, amount });
  }
  return out;
}

/** Joins attempts with their resources (rows for other attempts are ignored). */
export function toAttemptRecords(rows: readonly AttemptRow[], resources: readonly ResourceRow[]): AttemptRecord[] {
  const held = new Map<number, HeldResource[]>();
  for (const r of resources) {
    let list = held.get(r.attemptId);
    if (list === undefined) held.set(r.attemptId, (list = []));
    list.push({ key: r.key, amount: r.amount });
  }
  return rows.map((row) => ({
    ...row,
    state: row.state as AttemptState,
    error: fromJson(row.error) as AttemptRecord["error"],
    progress: fromJson(row.progress),
    resources: held.get(row.id) ?? [],
    peakMemoryBytes: row.peakMemoryBytes === null ? null : Number(row.peakMemoryBytes),
  }));
}

/** Columns of `events` under the names of {@link EventRecord}. */
export const EVENT_COLUMNS = `id, at, type, level, pipeline, run_id AS "runId", task,
  attempt_id AS "attemptId", message, data`;

/** An `events` row selected with {@link EVENT_COLUMNS}. */
export interface EventRow {
  id: number;
  at: number;
  type: string;
  level: string;
  pipeline: string | null;
  runId: number | null;
  task: string | null;
  attemptId: number | null;
  message: string;
  data: string;
}

/** Parses `data` and narrows the level. */
export function toEventRecord(row: EventRow): EventRecord {
  return { ...row, level: row.level as EventRecord["level"], data: JSON.parse(row.data) as Record<string, unknown> };
}

/** A `requests` row (`SELECT *`). */
export interface RequestRow {
  id: number;
  type: "trigger" | "cancel";
  pipeline: string | null;
  run_id: number | null;
  params: string;
  created_at: number;
  taken_at: number | null;
  taken_by: string | null;
  resolved_at: number | null;
  error: string | null;
}

/** Parses `params`. */
export function toRequest(row: RequestRow): ControlRequest {
  return {
    id: row.id,
    type: row.type,
    pipeline: row.pipeline,
    runId: row.run_id,
    params: JSON.parse(row.params) as Record<string, unknown>,
    createdAt: row.created_at,
    takenAt: row.taken_at,
    takenBy: row.taken_by,
    resolvedAt: row.resolved_at,
    error: row.error,
  };
}
