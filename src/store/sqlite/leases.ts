/**
 * The lease-checked calls a worker makes: `renewLease` and `completeAttempt`. Each is one guarded
 * UPDATE (`state = 'running' AND fencing_token = ?`), so a zombie worker holding a stale token
 * changes nothing, however its call interleaves with the scheduler's writes.
 */
import type { CompletionOutcome, EpochMs } from "../types.js";
import type { SqliteDatabase } from "./connection.js";
import { toJson } from "../rows.js";

/** The lease operations of one connection. */
export interface LeaseOperations {
  renewLease(attemptId: number, fencingToken: number, leaseExpiresAt: EpochMs, progress?: unknown): boolean;
  completeAttempt(attemptId: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): boolean;
}

/** Prepares the lease statements on `db`. */
export function prepareLeases(db: SqliteDatabase): LeaseOperations {
  const renew = db.prepare(`UPDATE attempts SET lease_expires_at = @leaseExpiresAt,
      progress = CASE WHEN @setProgress THEN @progress ELSE progress END
      WHERE id = @id AND fencing_token = @fencingToken AND state = 'running'`);
  const end = db.prepare<[{ id: number; fencingToken: number; state: string; endedAt: number; error: string | null; peak: number | null }], { runId: number; task: string }>(
    `UPDATE attempts SET state = @state, ended_at = @endedAt, error = @error, peak_memory_bytes = @peak
      WHERE id = @id AND fencing_token = @fencingToken AND state = 'running'
      RETURNING run_id AS runId, task`,
  );
  const storeOutput = db.prepare("UPDATE task_instances SET output = @output WHERE run_id = @runId AND task = @task");

  const complete = db.transaction(
    (id: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): boolean => {
      const error = outcome.state === "success" ? null : toJson(outcome.error);
      const ended = end.get({ id, fencingToken, state: outcome.state, endedAt, error, peak: outcome.peakMemoryBytes ?? null });
      if (ended === undefined) return false;
      if (outcome.state === "success") storeOutput.run({ ...ended, output: toJson(outcome.output) });
      return true;
    },
  );

  return {
    renewLease(id, fencingToken, leaseExpiresAt, progress) {
      const params = { id, fencingToken, leaseExpiresAt, setProgress: progress === undefined ? 0 : 1, progress: toJson(progress) };
      return renew.run(params).changes === 1;
    },
    completeAttempt(id, fencingToken, outcome, endedAt) {
      return complete.immediate(id, fencingToken, outcome, endedAt);
    },
  };
}
