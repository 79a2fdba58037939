/** `Store.loadActiveState`: what the scheduler rebuilds its picture from after a restart. */
import type { ActiveState } from "../types.js";
import type { SqliteDatabase } from "./connection.js";
import {
  ATTEMPT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS,
  toAttemptRecords, toRunRecord, toTaskRecord,
  type AttemptRow, type ResourceRow, type RunRow, type TaskRow,
} from "../rows.js";

// The predicates repeat the partial indexes' WHERE clauses word for word (runs_active,
// attempts_running), so the cost follows the number of active rows, not the length of history.
const ACTIVE_RUN = "state IN ('queued', 'running')";

/** Prepares the statements and returns a function reading one consistent snapshot. */
export function prepareActiveState(db: SqliteDatabase): () => ActiveState {
  const runs = db.prepare<[], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE ${ACTIVE_RUN} ORDER BY id`);
  const tasks = db.prepare<[], TaskRow>(`SELECT ${TASK_COLUMNS} FROM task_instances
      WHERE run_id IN (SELECT id FROM runs WHERE ${ACTIVE_RUN}) ORDER BY run_id, task`);
  const attempts = db.prepare<[], AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE state = 'running' ORDER BY id`);
  // Ended, but their function still runs (attempts_draining): they still hold their resources.
  const draining = db.prepare<[], AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE released_at IS NULL AND state <> 'running' ORDER BY id`);
  const drainingResources = db.prepare<[], ResourceRow>(`SELECT attempt_id AS attemptId, key, amount FROM attempt_resources
      WHERE attempt_id IN (SELECT id FROM attempts WHERE released_at IS NULL AND state <> 'running') ORDER BY attempt_id, key`);
  const resources = db.prepare<[], ResourceRow>(`SELECT attempt_id AS attemptId, key, amount FROM attempt_resources
      WHERE attempt_id IN (SELECT id FROM attempts WHERE state = 'running') ORDER BY attempt_id, key`);
  const schedules = db.prepare<[], ActiveState["schedules"][number]>(`SELECT pipeline,
      last_scheduled_for AS lastScheduledFor, skipped, paused_at AS pausedAt, backfill_max_active AS backfillMaxActive FROM schedule_state ORDER BY pipeline`);
  // The floors keep the maxima of pruned rows: an id is never handed out twice.
  const maxIds = db.prepare<[], Pick<ActiveState, "maxRunId" | "maxAttemptId" | "maxFencingToken">>(`SELECT
      max((SELECT coalesce(max(id), 0) FROM runs), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'run')) AS maxRunId,
      max((SELECT coalesce(max(id), 0) FROM attempts), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'attempt')) AS maxAttemptId,
      max((SELECT coalesce(max(fencing_token), 0) FROM attempts), (SELECT coalesce(max(value), 0) FROM id_floor WHERE name = 'fencing_token')) AS maxFencingToken`);

  // One read transaction: in WAL mode it sees a single snapshot, so a scheduler writing in another
  // process cannot make the tasks disagree with the runs.
  const snapshot = db.transaction((): ActiveState => {
    const max = maxIds.get() ?? { maxRunId: 0, maxAttemptId: 0, maxFencingToken: 0 };
    return {
      runs: runs.all().map(toRunRecord),
      tasks: tasks.all().map(toTaskRecord),
      attempts: toAttemptRecords(attempts.all(), resources.all()),
      draining: toAttemptRecords(draining.all(), drainingResources.all()),
      schedules: schedules.all(),
      ...max,
    };
  });
  return () => snapshot.deferred();
}
