/**
 * `Store.apply`: every write of a batch in one IMMEDIATE transaction, through statements prepared
 * once per connection. IMMEDIATE takes the write lock up front, so a batch never fails half-way
 * with SQLITE_BUSY because a reader in another process upgraded first.
 */
import type { LeaseFence, StoreWrite } from "../types.js";
import { StoreWriteError } from "../errors.js";
import type { SqliteDatabase } from "./connection.js";
import { toJson } from "../rows.js";
import { translateWriteError } from "./apply-errors.js";
import { describeWrite } from "../writes.js";

/** 1 when an optional field of a write was given (set the column), 0 when left out (keep it). */
const given = (value: unknown): 0 | 1 => (value === undefined ? 0 : 1);

/** Prepares the statements of `apply` on `db` and returns the function that applies a batch. */
export function prepareApply(db: SqliteDatabase, checkFence: (owner: string, now: number) => void): (batch: readonly StoreWrite[], fence?: LeaseFence) => void {
  const insertRun = db.prepare(`INSERT INTO runs
      (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
      VALUES (@id, @pipeline, @scheduledFor, @trigger, @params, @state, @createdAt, @startedAt, @endedAt)`);
  const insertTask = db.prepare(`INSERT INTO task_instances (run_id, task, state, attempts, lost_attempts, ready_at, output)
      VALUES (@runId, @task, @state, @attempts, @lostAttempts, @readyAt, @output)`);
  const updateRun = db.prepare(`UPDATE runs SET state = @state,
      started_at = CASE WHEN @setStartedAt THEN @startedAt ELSE started_at END,
      ended_at = CASE WHEN @setEndedAt THEN @endedAt ELSE ended_at END
      WHERE id = @id`);
  const updateTask = db.prepare(`UPDATE task_instances SET state = @state,
      attempts = CASE WHEN @setAttempts THEN @attempts ELSE attempts END,
      lost_attempts = CASE WHEN @setLost THEN @lostAttempts ELSE lost_attempts END,
      ready_at = CASE WHEN @setReadyAt THEN @readyAt ELSE ready_at END,
      output = CASE WHEN @setOutput THEN @output ELSE output END
      WHERE run_id = @runId AND task = @task`);
  const insertAttempt = db.prepare(`INSERT INTO attempts (id, run_id, pipeline, task, attempt, state,
      fencing_token, worker_id, queued_at, started_at, ended_at, lease_expires_at, error, progress)
      VALUES (@id, @runId, @pipeline, @task, @attempt, @state, @fencingToken, @workerId, @queuedAt,
      @startedAt, @endedAt, @leaseExpiresAt, @error, @progress)`);
  const insertResource = db.prepare(
    "INSERT INTO attempt_resources (attempt_id, key, amount) VALUES (@attemptId, @key, @amount)",
  );
  const endAttempt = db.prepare(`UPDATE attempts SET state = @state, ended_at = @endedAt,
      error = CASE WHEN @setError THEN @error ELSE error END,
      released_at = CASE WHEN @stillRunning THEN NULL ELSE @endedAt END,
      peak_memory_bytes = COALESCE(@peak, peak_memory_bytes)
      WHERE id = @id`);
  // A peak measured until the function settled replaces a lower one recorded at the attempt's end.
  const releaseAttempt = db.prepare(`UPDATE attempts SET released_at = @at,
      peak_memory_bytes = CASE WHEN @peak IS NOT NULL AND (peak_memory_bytes IS NULL OR peak_memory_bytes < @peak) THEN @peak ELSE peak_memory_bytes END
      WHERE id = @id AND state <> 'running'`);
  const recordSchedule = db.prepare(`INSERT INTO schedule_state (pipeline, last_scheduled_for, skipped)
      VALUES (@pipeline, @lastScheduledFor, @skippedDelta)
      ON CONFLICT (pipeline) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for,
        skipped = skipped + excluded.skipped`);
  const controlPipeline = db.prepare(`INSERT INTO schedule_state (pipeline, skipped, paused_at, backfill_max_active)
      VALUES (@pipeline, 0, @pausedAt, @backfillMaxActive)
      ON CONFLICT (pipeline) DO UPDATE SET
        paused_at = CASE WHEN @setPaused THEN excluded.paused_at ELSE paused_at END,
        backfill_max_active = CASE WHEN @setBackfill THEN excluded.backfill_max_active ELSE backfill_max_active END`);
  const insertEvent = db.prepare(`INSERT INTO events
      (at, type, level, pipeline, run_id, task, attempt_id, message, data)
      VALUES (@at, @type, @level, @pipeline, @runId, @task, @attemptId, @message, @data)`);

  const resolveRequest = db.prepare("UPDATE requests SET run_id = @runId, error = @error, resolved_at = @at WHERE id = @id");

  /** Throws when an UPDATE found no row: the batch refers to something that was never created. */
  const mustChange = (changes: number, write: StoreWrite, index: number): void => {
    if (changes === 0) {
      throw new StoreWriteError(index, write.type, `${describeWrite(write)} does not exist; nothing of the batch was applied.`);
    }
  };

  const applyOne = (write: StoreWrite, index: number): void => {
    switch (write.type) {
      case "createRun": {
        const { run } = write;
        insertRun.run({ ...run, params: toJson(run.params) ?? "{}" });
        for (const t of write.tasks) {
          insertTask.run({ runId: run.id, task: t.task, state: t.state, attempts: t.attempts, lostAttempts: t.lostAttempts ?? 0, readyAt: t.readyAt, output: toJson(t.output) });
        }
        return;
      }
      case "updateRun": {
        const { id, state, startedAt, endedAt } = write;
        const params = { id, state, setStartedAt: given(startedAt), startedAt: startedAt ?? null, setEndedAt: given(endedAt), endedAt: endedAt ?? null };
        return mustChange(updateRun.run(params).changes, write, index);
      }
      case "updateTask": {
        const { runId, task, state, attempts, lostAttempts, readyAt, output } = write;
        const params = {
          runId, task, state,
          setAttempts: given(attempts), attempts: attempts ?? null,
          setLost: given(lostAttempts), lostAttempts: lostAttempts ?? null,
          setReadyAt: given(readyAt), readyAt: readyAt ?? null,
          setOutput: given(output), output: toJson(output),
        };
        return mustChange(updateTask.run(params).changes, write, index);
      }
      case "createAttempt": {
        const a = write.attempt;
        insertAttempt.run({ ...a, error: toJson(a.error), progress: toJson(a.progress) }); // `resources` is not a parameter: ignored
        for (const r of a.resources) insertResource.run({ attemptId: a.id, key: r.key, amount: r.amount });
        return;
      }
      case "endAttempt": {
        const { id, state, endedAt, error } = write;
        const params = { id, state, endedAt, setError: given(error), error: toJson(error), stillRunning: write.stillRunning ? 1 : 0, peak: write.peakMemoryBytes ?? null };
        return mustChange(endAttempt.run(params).changes, write, index);
      }
      case "releaseAttempt":
        return mustChange(releaseAttempt.run({ id: write.id, at: write.at, peak: write.peakMemoryBytes ?? null }).changes, write, index);
      case "recordSchedule": {
        const { pipeline, lastScheduledFor, skippedDelta } = write;
        recordSchedule.run({ pipeline, lastScheduledFor, skippedDelta });
        return;
      }
      case "controlPipeline": {
        const { pipeline, pausedAt, backfillMaxActive } = write;
        controlPipeline.run({
          pipeline, pausedAt: pausedAt ?? null, backfillMaxActive: backfillMaxActive ?? null,
          setPaused: pausedAt !== undefined ? 1 : 0, setBackfill: backfillMaxActive !== undefined ? 1 : 0,
        });
        return;
      }
      case "appendEvent": {
        const e = write.event;
        insertEvent.run({
          at: e.at, type: e.type, level: e.level, pipeline: e.pipeline, runId: e.runId, task: e.task,
          attemptId: e.attemptId, message: e.message, data: toJson(e.data) ?? "{}",
        });
        return;
      }
      case "dispatch":
        throw new StoreWriteError(index, write.type, `${describeWrite(write)}: worker processes need a store they can share between machines; use PostgreSQL (--db postgres://…).`);
      case "resolveRequest":
        mustChange(resolveRequest.run({ id: write.id, runId: write.runId, error: write.error, at: write.at }).changes, write, index);
        return;
      default: {
        const unknown: never = write;
        throw new StoreWriteError(index, String((unknown as { type?: unknown }).type), `Unknown store write ${JSON.stringify(unknown)}`);
      }
    }
  };

  const applyAll = db.transaction((batch: readonly StoreWrite[], fence: LeaseFence | undefined) => {
    if (fence) checkFence(fence.owner, fence.now);
    for (let i = 0; i < batch.length; i++) {
      const write = batch[i] as StoreWrite;
      try {
        applyOne(write, i);
      } catch (error) {
        throw translateWriteError(error, write, i);
      }
    }
  });

  return (batch, fence) => {
    if (batch.length > 0) applyAll.immediate(batch, fence);
  };
}
