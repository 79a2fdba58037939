/**
 * `Store.prune`: delete finished runs that ended before a cutoff, with their task instances,
 * attempts, resources and events, plus answered requests and run-less events older than it. One
 * short transaction per call (at most `limit` runs), so a scheduler writing beside it waits
 * milliseconds, not the length of history.
 */
import type { EpochMs, PruneResult } from "../types.js";
import type { SqliteDatabase } from "./connection.js";

export function preparePrune(db: SqliteDatabase): (before: EpochMs, limit: number) => PruneResult {
  const pick = db.prepare<[number, number], { id: number }>(`SELECT id FROM runs
      WHERE state IN ('success', 'failed', 'cancelled') AND ended_at < ? ORDER BY ended_at, id LIMIT ?`);
  const floors = db.prepare(`INSERT INTO id_floor (name, value)
      SELECT 'run', coalesce(max(id), 0) FROM runs
      UNION ALL SELECT 'attempt', coalesce(max(id), 0) FROM attempts
      UNION ALL SELECT 'fencing_token', coalesce(max(fencing_token), 0) FROM attempts
      WHERE true
      ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`);
  const countAttempts = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM attempts WHERE run_id IN (SELECT value FROM json_each(?))");
  const deleteEvents = db.prepare("DELETE FROM events WHERE run_id IN (SELECT value FROM json_each(?))");
  const deleteRuns = db.prepare("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))");
  const deleteLooseEvents = db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE run_id IS NULL AND at < ? ORDER BY at, id LIMIT ?)");
  const deleteRequests = db.prepare("DELETE FROM requests WHERE resolved_at IS NOT NULL AND created_at < ?");

  const prune = db.transaction((before: EpochMs, limit: number): PruneResult => {
    const ids = JSON.stringify(pick.all(before, limit).map((r) => r.id));
    floors.run();
    const attempts = countAttempts.get(ids)?.n ?? 0;
    let events = deleteEvents.run(ids).changes;
    // Task instances, attempts and their resources go with their run (ON DELETE CASCADE).
    const runs = deleteRuns.run(ids).changes;
    events += deleteLooseEvents.run(before, limit * 10).changes;
    const requests = deleteRequests.run(before).changes;
    return { runs, attempts, events, requests, more: runs === limit };
  });
  return (before, limit) => prune.immediate(before, limit);
}
