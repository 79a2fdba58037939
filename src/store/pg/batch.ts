/**
 * A `Store.apply` batch in a constant number of round trips: the writes are grouped by kind and
 * each group is one statement over arrays (`unnest`), whatever the batch's size. Per-write
 * statements cost a round trip each (~0.1 ms on a local server, more across a network), which
 * made the scheduler, not PostgreSQL, the bottleneck of a busy deployment.
 *
 * Grouping reorders writes, which is safe because the order that matters is kept: rows are created
 * (runs and their tasks, then attempts and their resources, then dispatch) before anything updates
 * them; several updates of one row are merged field by field in batch order (a field a later write
 * leaves out keeps the earlier write's value, as it would row by row); events are inserted in batch
 * order. When a group's statement fails or misses a row, {@link BatchMismatch} is thrown and the
 * caller replays the batch write by write, which names the exact offending write.
 */
import type pg from "pg";
import type { StoreWrite } from "../types.js";
import { toJson } from "../rows.js";

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

/** Applies `batch` on `client` (inside the caller's transaction). @returns whether work was dispatched. */
export async function applyBatched(client: pg.PoolClient, batch: readonly StoreWrite[], workChannel: string): Promise<void> {
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
  for (const w of batch) {
    switch (w.type) {
      case "createRun":
        runs.push(w);
        break;
      case "createAttempt":
        attempts.push(w);
        break;
      case "dispatch":
        dispatch.push(w);
        break;
      case "updateRun":
        mergeInto(runUpdates, w.id, w);
        break;
      case "updateTask":
        mergeInto(taskUpdates, `${w.runId}\u0000${w.task}`, w);
        break;
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
      default: {
        const unknown: never = w;
        throw new BatchMismatch(`unknown write ${JSON.stringify(unknown)}`);
      }
    }
  }
  const expect = (result: pg.QueryResult, n: number, what: string): void => {
    if ((result.rowCount ?? 0) !== n) throw new BatchMismatch(`${what}: ${result.rowCount} of ${n} rows`);
  };

  if (runs.length > 0) {
    const r = runs.map((w) => w.run);
    await client.query(
      q("runs", `INSERT INTO runs (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[])`, [
        r.map((x) => x.id), r.map((x) => x.pipeline), r.map((x) => x.scheduledFor), r.map((x) => x.trigger), r.map((x) => toJson(x.params) ?? "{}"),
        r.map((x) => x.state), r.map((x) => x.createdAt), r.map((x) => x.startedAt), r.map((x) => x.endedAt),
      ]),
    );
    const t = runs.flatMap((w) => w.tasks.map((task) => ({ runId: w.run.id, task })));
    if (t.length > 0) {
      await client.query(
        q("tasks", `INSERT INTO task_instances (run_id, task, state, attempts, lost_attempts, ready_at, output)
          SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::text[])`, [
          t.map((x) => x.runId), t.map((x) => x.task.task), t.map((x) => x.task.state), t.map((x) => x.task.attempts), t.map((x) => x.task.lostAttempts ?? 0),
          t.map((x) => x.task.readyAt), t.map((x) => toJson(x.task.output)),
        ]),
      );
    }
  }
  if (attempts.length > 0) {
    const a = attempts.map((w) => w.attempt);
    await client.query(
      q("attempts", `INSERT INTO attempts (id, run_id, pipeline, task, attempt, state, fencing_token, worker_id, queued_at, started_at, ended_at, lease_expires_at, error, progress)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[])`, [
        a.map((x) => x.id), a.map((x) => x.runId), a.map((x) => x.pipeline), a.map((x) => x.task), a.map((x) => x.attempt), a.map((x) => x.state),
        a.map((x) => x.fencingToken), a.map((x) => x.workerId), a.map((x) => x.queuedAt), a.map((x) => x.startedAt), a.map((x) => x.endedAt),
        a.map((x) => x.leaseExpiresAt), a.map((x) => toJson(x.error)), a.map((x) => toJson(x.progress)),
      ]),
    );
    const res = a.flatMap((x) => x.resources.map((r) => ({ id: x.id, key: r.key, amount: r.amount })));
    if (res.length > 0) {
      await client.query(
        q("resources", "INSERT INTO attempt_resources (attempt_id, key, amount) SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[])", [res.map((r) => r.id), res.map((r) => r.key), res.map((r) => r.amount)]),
      );
    }
  }
  if (dispatch.length > 0) {
    await client.query(
      q("dispatch", `INSERT INTO dispatch (attempt_id, queue, task_key, memory_mb, command, created_at)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])`, [
        dispatch.map((d) => d.attemptId), dispatch.map((d) => d.queue), dispatch.map((d) => d.taskKey), dispatch.map((d) => d.memoryMb ?? null),
        dispatch.map((d) => JSON.stringify(d.command)), dispatch.map((d) => d.at),
      ]),
    );
    await client.query("SELECT pg_notify($1, '')", [workChannel]);
  }
  if (runUpdates.size > 0) {
    const u = [...runUpdates.values()];
    expect(await client.query(
      q("update_runs", `UPDATE runs r SET state = u.state,
          started_at = CASE WHEN u.set_started THEN u.started_at ELSE r.started_at END,
          ended_at = CASE WHEN u.set_ended THEN u.ended_at ELSE r.ended_at END
        FROM unnest($1::bigint[], $2::text[], $3::bool[], $4::bigint[], $5::bool[], $6::bigint[]) AS u (id, state, set_started, started_at, set_ended, ended_at)
        WHERE r.id = u.id`, [
        u.map((x) => x.id), u.map((x) => x.state), u.map((x) => x.startedAt !== undefined), u.map((x) => x.startedAt ?? null), u.map((x) => x.endedAt !== undefined), u.map((x) => x.endedAt ?? null),
      ]),
    ), u.length, "updateRun");
  }
  if (taskUpdates.size > 0) {
    const u = [...taskUpdates.values()];
    expect(await client.query(
      q("update_tasks", `UPDATE task_instances t SET state = u.state,
          attempts = CASE WHEN u.set_attempts THEN u.attempts ELSE t.attempts END,
          lost_attempts = CASE WHEN u.set_lost THEN u.lost ELSE t.lost_attempts END,
          ready_at = CASE WHEN u.set_ready THEN u.ready_at ELSE t.ready_at END,
          output = CASE WHEN u.set_output THEN u.output ELSE t.output END
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[], $5::int[], $6::bool[], $7::int[], $8::bool[], $9::bigint[], $10::bool[], $11::text[])
          AS u (run_id, task, state, set_attempts, attempts, set_lost, lost, set_ready, ready_at, set_output, output)
        WHERE t.run_id = u.run_id AND t.task = u.task`, [
        u.map((x) => x.runId), u.map((x) => x.task), u.map((x) => x.state),
        u.map((x) => x.attempts !== undefined), u.map((x) => x.attempts ?? null),
        u.map((x) => x.lostAttempts !== undefined), u.map((x) => x.lostAttempts ?? null),
        u.map((x) => x.readyAt !== undefined), u.map((x) => x.readyAt ?? null),
        u.map((x) => x.output !== undefined), u.map((x) => toJson(x.output)),
      ]),
    ), u.length, "updateTask");
  }
  if (ends.size > 0) {
    const u = [...ends.values()];
    expect(await client.query(
      // Work nobody claimed goes with its attempt; a draining attempt keeps released_at as it is.
      q("end_attempts", `WITH u AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bool[], $5::text[], $6::bool[]) AS u (id, state, ended_at, set_error, error, still_running)),
          unclaimed AS (DELETE FROM dispatch d USING u WHERE d.attempt_id = u.id AND d.claimed_by IS NULL)
        UPDATE attempts a SET state = u.state, ended_at = u.ended_at,
          error = CASE WHEN u.set_error THEN u.error ELSE a.error END,
          released_at = CASE WHEN u.still_running THEN a.released_at ELSE u.ended_at END
        FROM u WHERE a.id = u.id`, [
        u.map((x) => x.id), u.map((x) => x.state), u.map((x) => x.endedAt), u.map((x) => x.error !== undefined), u.map((x) => toJson(x.error)), u.map((x) => x.stillRunning === true),
      ]),
    ), u.length, "endAttempt");
  }
  if (releases.size > 0) {
    const u = [...releases.values()];
    expect(await client.query(
      q("release_attempts", `UPDATE attempts a SET released_at = u.at FROM unnest($1::bigint[], $2::bigint[]) AS u (id, at) WHERE a.id = u.id AND a.state <> 'running'`, [u.map((x) => x.id), u.map((x) => x.at)]),
    ), u.length, "releaseAttempt");
  }
  if (schedules.size > 0) {
    const u = [...schedules.values()];
    await client.query(
      q("schedules", `INSERT INTO schedule_state (pipeline, last_scheduled_for, skipped) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
        ON CONFLICT (pipeline) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for, skipped = schedule_state.skipped + excluded.skipped`, [
        u.map((x) => x.pipeline), u.map((x) => x.lastScheduledFor), u.map((x) => x.skippedDelta),
      ]),
    );
  }
  if (events.length > 0) {
    const e = events.map((w) => w.event);
    await client.query(
      q("events", `INSERT INTO events (at, type, level, pipeline, run_id, task, attempt_id, message, data)
        SELECT at, type, level, pipeline, run_id, task, attempt_id, message, data
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::text[])
          WITH ORDINALITY AS e (at, type, level, pipeline, run_id, task, attempt_id, message, data, n) ORDER BY n`, [
        e.map((x) => x.at), e.map((x) => x.type), e.map((x) => x.level), e.map((x) => x.pipeline), e.map((x) => x.runId), e.map((x) => x.task),
        e.map((x) => x.attemptId), e.map((x) => x.message), e.map((x) => toJson(x.data) ?? "{}"),
      ]),
    );
  }
  if (resolves.size > 0) {
    const u = [...resolves.values()];
    expect(await client.query(
      q("resolve_requests", `UPDATE requests r SET run_id = u.run_id, error = u.error, resolved_at = u.at
        FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) AS u (id, run_id, error, at) WHERE r.id = u.id`, [
        u.map((x) => x.id), u.map((x) => x.runId), u.map((x) => x.error), u.map((x) => x.at),
      ]),
    ), u.length, "resolveRequest");
  }
}
