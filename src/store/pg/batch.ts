/**
 * A `Store.apply` batch in a constant number of round trips: the writes are grouped by kind and
 * each group is one statement over arrays (`unnest`), whatever the batch's size. Per-write
 * statements cost a round trip each (~0.1 ms on a local server, more across a network), which
 * made the scheduler, not PostgreSQL, the bottleneck of a busy deployment.
 *
 * Grouping reorders writes, which is safe because the order that matters is kept: rows are created
 * (runs and their tasks, then attempts, then dispatch) before anything updates
 * them; several updates of one row are merged field by field in batch order (a field a later write
 * leaves out keeps the earlier write's value, as it would row by row); events are inserted in batch
 * order. When a group misses a row, its statement fails (and with it the batch); the caller then
 * replays the batch write by write, which names the exact offending write.
 */
import type pg from "pg";
import type { RunRecord, TaskInstanceRecord } from "../../core/records.js";
import { assignedHeader, type DispatchWrite, type LeaseFence, type StoreWrite } from "../types.js";
import { resourcesJson, toJson } from "../rows.js";

/** A group did not find every row it updates, or a constraint failed: replay write by write. */
export class BatchMismatch extends Error {
  constructor(what: string) {
    super(`batched apply: ${what}`);
  }
}

type Extract<T extends StoreWrite["type"]> = Extract_<StoreWrite, T>;
type Extract_<U, T> = U extends { type: T } ? U : never;

const q = (name: string, text: string, values: unknown[]): pg.QueryConfig => ({ name: `sluice_batch_${name}`, text, values });


/** Field-wise merge of updates to one row: a later write's given fields win. */
function mergeInto<K, W extends object>(map: Map<K, W>, key: K, write: W): void {
  const prev = map.get(key);
  if (!prev) {
    map.set(key, { ...write });
    return;
  }
  for (const [k, v] of Object.entries(write)) if (v !== undefined) (prev as Record<string, unknown>)[k] = v;
}

/** The statements of one batch, in order; see {@link planBatch}. */
export interface BatchPlan {
  /**
   * The first returns `fenced` (0: the fence's owner does not hold the lease, and nothing was
   * written); every statement fails with division by zero (SQLSTATE 22012) when a group did not
   * find every row it updates, which rolls it back. A plan of one statement needs no transaction
   * around it (PostgreSQL runs a statement atomically): one round trip instead of four.
   */
  statements: pg.QueryConfig[];
}

/**
 * Groups `batch` into statements over arrays. With `fence`, the lease is checked in the first
 * statement (the lease row read `FOR SHARE`), and every write of it is guarded by that read.
 *
 * Usually one statement: updates of rows the batch creates are folded into their creation (a run
 * created and started in one turn is inserted running), and what is left updates rows that were
 * there before, which the creations in the same statement cannot touch. Two or more when the batch
 * ends or releases an attempt it creates, or ends and releases the same attempt, or controls a
 * pipeline (rare): the creations first, then the updates, which see them, in one transaction.
 */
export function planBatch(batch: readonly StoreWrite[], workChannel: string, fence?: LeaseFence): BatchPlan {
  const runs: Extract<"createRun">[] = [];
  const attempts: Extract<"createAttempt">[] = [];
  const dispatch: Extract<"dispatch">[] = [];
  const runUpdates = new Map<number, Extract<"updateRun">>();
  const taskUpdates = new Map<string, Extract<"updateTask">>();
  const ends = new Map<number, Extract<"endAttempt">>();
  const releases = new Map<number, Extract<"releaseAttempt">>();
  const schedules = new Map<string, { pipeline: string; lastScheduledFor: number; skippedDelta: number }>();
  const events: Extract<"appendEvent">[] = [];
  const resolves = new Map<number, Extract<"resolveRequest">>();
  const controls: Extract<"controlPipeline">[] = [];
  // Rows this batch creates, to fold their updates into (copies: the batch is the caller's).
  const createdRuns = new Map<number, RunRecord>();
  const createdTasks = new Map<string, TaskInstanceRecord>();
  const createdAttempts = new Set<number>();
  for (const w of batch) {
    switch (w.type) {
      case "createRun": {
        const run = { ...w.run };
        const tasks = w.tasks.map((t) => ({ ...t }));
        createdRuns.set(run.id, run);
        for (const t of tasks) createdTasks.set(`${run.id}\u0000${t.task}`, t);
        runs.push({ ...w, run, tasks });
        break;
      }
      case "createAttempt":
        attempts.push(w);
        createdAttempts.add(w.attempt.id);
        break;
      case "dispatch":
        dispatch.push(w);
        break;
      case "updateRun": {
        const created = createdRuns.get(w.id);
        if (created) {
          created.state = w.state;
          if (w.startedAt !== undefined) created.startedAt = w.startedAt;
          if (w.endedAt !== undefined) created.endedAt = w.endedAt;
        } else mergeInto(runUpdates, w.id, w);
        break;
      }
      case "updateTask": {
        const key = `${w.runId}\u0000${w.task}`;
        const created = createdTasks.get(key);
        if (created) {
          created.state = w.state;
          if (w.attempts !== undefined) created.attempts = w.attempts;
          if (w.lostAttempts !== undefined) created.lostAttempts = w.lostAttempts;
          if (w.readyAt !== undefined) created.readyAt = w.readyAt;
          if (w.output !== undefined) created.output = w.output;
        } else mergeInto(taskUpdates, key, w);
        break;
      }
      case "endAttempt":
        mergeInto(ends, w.id, w);
        break;
      case "releaseAttempt":
        releases.set(w.id, w);
        break;
      case "recordSchedule": {
        const s = schedules.get(w.pipeline);
        schedules.set(w.pipeline, { pipeline: w.pipeline, lastScheduledFor: w.lastScheduledFor, skippedDelta: (s?.skippedDelta ?? 0) + w.skippedDelta });
        break;
      }
      case "appendEvent":
        events.push(w);
        break;
      case "resolveRequest":
        resolves.set(w.id, w);
        break;
      case "controlPipeline":
        controls.push(w);
        break;
      default: {
        const unknown: never = w;
        throw new BatchMismatch(`unknown write ${JSON.stringify(unknown)}`);
      }
    }
  }
  const single =
    controls.length === 0 &&
    ![...ends.keys(), ...releases.keys()].some((id) => createdAttempts.has(id)) &&
    ![...releases.keys()].some((id) => ends.has(id));

  // One statement's text and values; `param` adds a value and says how the text refers to it.
  let ctes: string[] = [];
  let values: unknown[] = [];
  let counts: Array<{ cte: string; expected: number }> = [];
  const param = (v: unknown, type: string): string => {
    values.push(v);
    return `$${values.length}::${type}`;
  };
  const statements: pg.QueryConfig[] = [];
  let shape: string[] = [];
  /** The statement so far, selecting `fenced` and the check that fails it when a count is off. */
  const finish = (first: boolean): void => {
    const fenced = first && fence ? "(SELECT count(*) FROM fence)" : "1";
    const check = counts.length === 0 ? "" : `, 1 / (${counts.map((c) => `(SELECT count(*) FROM ${c.cte}) = ${param(c.expected, "bigint")}`).join(" AND ")}${first && fence ? " OR NOT EXISTS (SELECT 1 FROM fence)" : ""})::int AS checked`;
    // Workers of the queue wake at commit.
    const notify =
      dispatch.length > 0 && first
        ? `, (SELECT count(pg_notify(${param(workChannel, "text")}, p)) FROM unnest(${param(workNotifications(dispatch), "text[]")}) p WHERE EXISTS (SELECT 1 FROM new_dispatch)) AS notified`
        : "";
    // Named by what it holds (each connection plans a name once): the same name is the same text.
    if (ctes.length > 0) statements.push(q(`${single ? "one" : first ? "first" : "then"}_${shape.join("")}`, `WITH ${ctes.join(",\n")} SELECT ${fenced} AS fenced${check}${notify}`, values));
    ctes = [];
    values = [];
    counts = [];
    shape = [];
  };

  // Creations: runs, their tasks, attempts (with their resources) and dispatch, each an INSERT
  // over arrays in its own CTE. Foreign keys between them are checked at the end of the
  // statement, when all are in. With a fence, every write is guarded by the lease row: a deposed
  // scheduler writes nothing.
  const guard = fence ? " WHERE EXISTS (SELECT 1 FROM fence)" : "";
  const andGuard = fence ? " AND EXISTS (SELECT 1 FROM fence)" : "";
  if (fence) {
    shape.push("f");
    ctes.push(`fence AS (SELECT 1 FROM scheduler_lease WHERE id = 1 AND owner = ${param(fence.owner, "text")} AND expires_at > ${param(fence.now, "bigint")} FOR SHARE)`);
  }
  if (runs.length > 0) {
    const r = runs.map((w) => w.run);
    shape.push("r");
    ctes.push(`new_runs AS (INSERT INTO runs (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
      SELECT * FROM unnest(${param(r.map((x) => x.id), "bigint[]")}, ${param(r.map((x) => x.pipeline), "text[]")}, ${param(r.map((x) => x.scheduledFor), "bigint[]")},
        ${param(r.map((x) => x.trigger), "text[]")}, ${param(r.map((x) => toJson(x.params) ?? "{}"), "text[]")}, ${param(r.map((x) => x.state), "text[]")},
        ${param(r.map((x) => x.createdAt), "bigint[]")}, ${param(r.map((x) => x.startedAt), "bigint[]")}, ${param(r.map((x) => x.endedAt), "bigint[]")})${guard})`);
    const t = runs.flatMap((w) => w.tasks.map((task) => ({ runId: w.run.id, task })));
    if (t.length > 0) {
      shape.push("t");
      ctes.push(`new_tasks AS (INSERT INTO task_instances (run_id, task, state, attempts, lost_attempts, ready_at, output)
        SELECT * FROM unnest(${param(t.map((x) => x.runId), "bigint[]")}, ${param(t.map((x) => x.task.task), "text[]")}, ${param(t.map((x) => x.task.state), "text[]")},
          ${param(t.map((x) => x.task.attempts), "int[]")}, ${param(t.map((x) => x.task.lostAttempts ?? 0), "int[]")}, ${param(t.map((x) => x.task.readyAt), "bigint[]")},
          ${param(t.map((x) => toJson(x.task.output)), "text[]")})${guard})`);
    }
  }
  if (attempts.length > 0) {
    const a = attempts.map((w) => w.attempt);
    shape.push("a");
    ctes.push(`new_attempts AS (INSERT INTO attempts (id, run_id, pipeline, task, attempt, state, fencing_token, worker_id, queued_at, started_at, ended_at, lease_expires_at, error, progress, resources)
      SELECT * FROM unnest(${param(a.map((x) => x.id), "bigint[]")}, ${param(a.map((x) => x.runId), "bigint[]")}, ${param(a.map((x) => x.pipeline), "text[]")},
        ${param(a.map((x) => x.task), "text[]")}, ${param(a.map((x) => x.attempt), "int[]")}, ${param(a.map((x) => x.state), "text[]")},
        ${param(a.map((x) => x.fencingToken), "bigint[]")}, ${param(a.map((x) => x.workerId), "text[]")}, ${param(a.map((x) => x.queuedAt), "bigint[]")},
        ${param(a.map((x) => x.startedAt), "bigint[]")}, ${param(a.map((x) => x.endedAt), "bigint[]")}, ${param(a.map((x) => x.leaseExpiresAt), "bigint[]")},
        ${param(a.map((x) => toJson(x.error)), "text[]")}, ${param(a.map((x) => toJson(x.progress)), "text[]")}, ${param(a.map((x) => resourcesJson(x.resources)), "text[]")})${guard})`);
  }
  // Every attempt created is active until released: a row in dispatch (migration 11), with its work
  // for worker processes when the batch dispatches it.
  const active = new Map<number, { attemptId: number; at: number; worker: string | null; work?: Extract<"dispatch"> }>();
  for (const w of attempts) active.set(w.attempt.id, { attemptId: w.attempt.id, at: w.attempt.queuedAt, worker: w.attempt.workerId });
  for (const d of dispatch) active.set(d.attemptId, { attemptId: d.attemptId, at: d.at, worker: d.worker?.name ?? null, work: d });
  if (active.size > 0) {
    const rows = [...active.values()];
    // Work for an attempt an earlier batch created fills in its row; rows of attempts created here
    // are plain inserts (an upsert costs a WAL record more per row).
    const upsert = rows.some((r) => !createdAttempts.has(r.attemptId));
    shape.push(upsert ? "D" : "d");
    ctes.push(`new_dispatch AS (INSERT INTO dispatch (attempt_id, queue, task_key, memory_mb, command, created_at, worker, worker_started_at)
      SELECT * FROM unnest(${param(rows.map((r) => r.attemptId), "bigint[]")}, ${param(rows.map((r) => r.work?.queue ?? null), "text[]")}, ${param(rows.map((r) => r.work?.taskKey ?? null), "text[]")},
        ${param(rows.map((r) => r.work?.memoryMb ?? null), "int[]")}, ${param(rows.map((r) => (r.work ? JSON.stringify(r.work.command) : null)), "text[]")}, ${param(rows.map((r) => r.at), "bigint[]")},
        ${param(rows.map((r) => r.worker), "text[]")}, ${param(rows.map((r) => r.work?.worker?.startedAt ?? null), "bigint[]")})${guard}
      ${
        upsert
          ? `ON CONFLICT (attempt_id) DO UPDATE SET queue = excluded.queue, task_key = excluded.task_key, memory_mb = excluded.memory_mb, command = excluded.command,
        worker = excluded.worker, worker_started_at = excluded.worker_started_at`
          : ""
      }
      RETURNING 1)`);
  }
  if (!single) {
    // The updates below may touch rows created above: they go in a statement of their own, which
    // sees them (in the same transaction, whose first statement took the fence).
    finish(true);
  }
  // In a statement after the fence's, its guard is the transaction's lock on the lease row.
  const ug = single ? andGuard : "";
  const uw = single ? guard : "";

  // Updates and appends: runs, task instances, attempts ended (with their unclaimed work),
  // schedules, events and answered requests, each in its own CTE over arrays; the counts say
  // whether every row was found.
  if (runUpdates.size > 0) {
    const u = [...runUpdates.values()];
    shape.push("R");
    ctes.push(`upd_runs AS (UPDATE runs r SET state = u.state,
        started_at = CASE WHEN u.set_started THEN u.started_at ELSE r.started_at END,
        ended_at = CASE WHEN u.set_ended THEN u.ended_at ELSE r.ended_at END
      FROM unnest(${param(u.map((x) => x.id), "bigint[]")}, ${param(u.map((x) => x.state), "text[]")}, ${param(u.map((x) => x.startedAt !== undefined), "bool[]")},
        ${param(u.map((x) => x.startedAt ?? null), "bigint[]")}, ${param(u.map((x) => x.endedAt !== undefined), "bool[]")}, ${param(u.map((x) => x.endedAt ?? null), "bigint[]")})
        AS u (id, state, set_started, started_at, set_ended, ended_at)
      WHERE r.id = u.id${ug} RETURNING 1)`);
    counts.push({ cte: "upd_runs", expected: u.length });
  }
  if (taskUpdates.size > 0) {
    const u = [...taskUpdates.values()];
    shape.push("T");
    ctes.push(`upd_tasks AS (UPDATE task_instances t SET state = u.state,
        attempts = CASE WHEN u.set_attempts THEN u.attempts ELSE t.attempts END,
        lost_attempts = CASE WHEN u.set_lost THEN u.lost ELSE t.lost_attempts END,
        ready_at = CASE WHEN u.set_ready THEN u.ready_at ELSE t.ready_at END,
        output = CASE WHEN u.set_output THEN u.output ELSE t.output END
      FROM unnest(${param(u.map((x) => x.runId), "bigint[]")}, ${param(u.map((x) => x.task), "text[]")}, ${param(u.map((x) => x.state), "text[]")},
        ${param(u.map((x) => x.attempts !== undefined), "bool[]")}, ${param(u.map((x) => x.attempts ?? null), "int[]")},
        ${param(u.map((x) => x.lostAttempts !== undefined), "bool[]")}, ${param(u.map((x) => x.lostAttempts ?? null), "int[]")},
        ${param(u.map((x) => x.readyAt !== undefined), "bool[]")}, ${param(u.map((x) => x.readyAt ?? null), "bigint[]")},
        ${param(u.map((x) => x.output !== undefined), "bool[]")}, ${param(u.map((x) => toJson(x.output)), "text[]")})
        AS u (run_id, task, state, set_attempts, attempts, set_lost, lost, set_ready, ready_at, set_output, output)
      WHERE t.run_id = u.run_id AND t.task = u.task${ug} RETURNING 1)`);
    counts.push({ cte: "upd_tasks", expected: u.length });
  }
  if (ends.size > 0) {
    const u = [...ends.values()];
    shape.push("E");
    ctes.push(`ends AS (SELECT * FROM unnest(${param(u.map((x) => x.id), "bigint[]")}, ${param(u.map((x) => x.state), "text[]")}, ${param(u.map((x) => x.endedAt), "bigint[]")},
        ${param(u.map((x) => x.error !== undefined), "bool[]")}, ${param(u.map((x) => toJson(x.error)), "text[]")}, ${param(u.map((x) => x.stillRunning === true), "bool[]")},
        ${param(u.map((x) => x.peakMemoryBytes ?? null), "bigint[]")})
        AS u (id, state, ended_at, set_error, error, still_running, peak)${uw})`);
    // An ended attempt is no longer active (its work, claimed or not, goes with it), unless its
    // function still runs; a draining attempt keeps released_at as it is.
    ctes.push(`inactive AS (DELETE FROM dispatch d USING ends WHERE d.attempt_id = ends.id AND NOT ends.still_running)`);
    // An attempt its worker already recorded as ended this way (the usual case on worker
    // processes) is left as the worker wrote it, times included: rewriting it would add a row
    // version, and an entry in each of its indexes, per task for nothing.
    ctes.push(`upd_ends AS (UPDATE attempts a SET state = ends.state, ended_at = ends.ended_at,
        error = CASE WHEN ends.set_error THEN ends.error ELSE a.error END,
        released_at = CASE WHEN ends.still_running THEN a.released_at ELSE ends.ended_at END,
        peak_memory_bytes = COALESCE(ends.peak, a.peak_memory_bytes)
      FROM ends WHERE a.id = ends.id
        AND NOT (a.state = ends.state AND a.ended_at IS NOT NULL AND (NOT ends.set_error OR a.error IS NOT DISTINCT FROM ends.error)
          AND (ends.still_running OR a.released_at IS NOT NULL) AND (ends.peak IS NULL OR a.peak_memory_bytes IS NOT DISTINCT FROM ends.peak)))`);
    ctes.push(`found_ends AS (SELECT 1 FROM attempts a JOIN ends ON a.id = ends.id)`);
    counts.push({ cte: "found_ends", expected: u.length });
  }
  if (schedules.size > 0) {
    const u = [...schedules.values()];
    shape.push("S");
    ctes.push(`upd_schedules AS (INSERT INTO schedule_state (pipeline, last_scheduled_for, skipped)
      SELECT * FROM unnest(${param(u.map((x) => x.pipeline), "text[]")}, ${param(u.map((x) => x.lastScheduledFor), "bigint[]")}, ${param(u.map((x) => x.skippedDelta), "bigint[]")})${uw}
      ON CONFLICT (pipeline) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for, skipped = schedule_state.skipped + excluded.skipped)`);
  }
  if (events.length > 0) {
    const e = events.map((w) => w.event);
    shape.push("V");
    ctes.push(`new_events AS (INSERT INTO events (at, type, level, pipeline, run_id, task, attempt_id, message, data)
      SELECT at, type, level, pipeline, run_id, task, attempt_id, message, data
      FROM unnest(${param(e.map((x) => x.at), "bigint[]")}, ${param(e.map((x) => x.type), "text[]")}, ${param(e.map((x) => x.level), "text[]")}, ${param(e.map((x) => x.pipeline), "text[]")},
        ${param(e.map((x) => x.runId), "bigint[]")}, ${param(e.map((x) => x.task), "text[]")}, ${param(e.map((x) => x.attemptId), "bigint[]")}, ${param(e.map((x) => x.message), "text[]")},
        ${param(e.map((x) => toJson(x.data) ?? "{}"), "text[]")})
        WITH ORDINALITY AS e (at, type, level, pipeline, run_id, task, attempt_id, message, data, n)${uw} ORDER BY n)`);
  }
  if (resolves.size > 0) {
    const u = [...resolves.values()];
    shape.push("Q");
    ctes.push(`upd_requests AS (UPDATE requests r SET run_id = u.run_id, error = u.error, resolved_at = u.at
      FROM unnest(${param(u.map((x) => x.id), "bigint[]")}, ${param(u.map((x) => x.runId), "bigint[]")}, ${param(u.map((x) => x.error), "text[]")}, ${param(u.map((x) => x.at), "bigint[]")})
        AS u (id, run_id, error, at) WHERE r.id = u.id${ug} RETURNING 1)`);
    counts.push({ cte: "upd_requests", expected: u.length });
  }
  // Releases of attempts nothing above touches (in a statement, a row is changed once).
  const release = (): void => {
    const u = [...releases.values()];
    shape.push("L");
    ctes.push(`released AS (UPDATE attempts a SET released_at = u.at, peak_memory_bytes = GREATEST(a.peak_memory_bytes, u.peak)
        FROM unnest(${param(u.map((x) => x.id), "bigint[]")}, ${param(u.map((x) => x.at), "bigint[]")}, ${param(u.map((x) => x.peakMemoryBytes ?? null), "bigint[]")}) AS u (id, at, peak)
        WHERE a.id = u.id AND a.state <> 'running'${ug} RETURNING a.id)`);
    ctes.push(`released_inactive AS (DELETE FROM dispatch d USING released WHERE d.attempt_id = released.id)`);
    counts.push({ cte: "released", expected: u.length });
  };
  if (single) {
    if (releases.size > 0) release();
    finish(true);
  } else {
    finish(false);
    // Releases may update an attempt ended above: a statement of their own, after.
    if (releases.size > 0) {
      release();
      finish(false);
    }
    // An operator's pause, resume or backfill cap: rare, one statement each, after the schedule
    // state above (which may have touched the same row).
    for (const w of controls) statements.push(q("control_pipeline", CONTROL_PIPELINE_SQL, controlPipelineParams(w)));
  }
  return { statements };
}

/** What fits a notification's payload (8000 bytes), with room to spare. */
const NOTIFY_MAX = 7_900;

/**
 * The "work" notifications of a batch's dispatch: one per worker given work (its header, and the
 * start commands when they fit), and an empty one when some work is given to nobody (every worker
 * of its queue looks).
 */
export function workNotifications(dispatch: readonly DispatchWrite[]): string[] {
  const given = new Map<string, unknown[]>();
  let open = false;
  for (const d of dispatch) {
    if (!d.worker) {
      open = true;
      continue;
    }
    const header = assignedHeader(d.worker.name, d.worker.startedAt);
    const list = given.get(header);
    if (list) list.push(d.command);
    else given.set(header, [d.command]);
  }
  const out: string[] = [];
  for (const [header, commands] of given) {
    // Built until it no longer fits: a turn that starts hundreds says "read what you were given".
    let body = "";
    let size = Buffer.byteLength(header) + 3;
    for (const c of commands) {
      const json = JSON.stringify(c);
      size += Buffer.byteLength(json) + 1;
      if (size > NOTIFY_MAX) break;
      body += body === "" ? json : `,${json}`;
    }
    out.push(size <= NOTIFY_MAX ? `${header}\n[${body}]` : header);
  }
  if (open) out.push("");
  return out;
}

/** Sets the fields of a `controlPipeline` write that it gives, leaves the others. */
export const CONTROL_PIPELINE_SQL = `INSERT INTO schedule_state (pipeline, skipped, paused_at, backfill_max_active) VALUES ($1, 0, $2, $3)
  ON CONFLICT (pipeline) DO UPDATE SET
    paused_at = CASE WHEN $4 THEN excluded.paused_at ELSE schedule_state.paused_at END,
    backfill_max_active = CASE WHEN $5 THEN excluded.backfill_max_active ELSE schedule_state.backfill_max_active END`;

export function controlPipelineParams(w: Extract<"controlPipeline">): unknown[] {
  return [w.pipeline, w.pausedAt ?? null, w.backfillMaxActive ?? null, w.pausedAt !== undefined, w.backfillMaxActive !== undefined];
}
