/**
 * The scheduler lease and the request inbox on SQLite. The lease is one row: a process takes it
 * when it is free, expired, already its own, or held by a process of this host that no longer
 * exists (so a restart after `kill -9` does not wait for the expiry).
 */
import { hostname } from "node:os";
import type { ControlRequest, LeaseClaim, LeaseResult, NewRequest } from "../types.js";
import type { SqliteDatabase } from "./connection.js";
import { StoreLeaseLostError } from "../errors.js";
import { toJson, toRequest, type RequestRow } from "../rows.js";
import { processAlive } from "../process-alive.js";

export { processAlive };

export interface ControlOperations {
  acquireSchedulerLease(claim: LeaseClaim): LeaseResult;
  renewSchedulerLease(owner: string, expiresAt: number, now: number | undefined): boolean;
  releaseSchedulerLease(owner: string): void;
  addRequest(request: NewRequest): number;
  takeRequests(limit: number, now: number, owner: string | null): ControlRequest[];
  /** `takerGone`: the process that took it is known to be dead (the store's OS lock is free). */
  abandonRequest(id: number, now: number, why: string, takerGone: boolean): boolean;
  /** The lease row, if any. */
  currentLease(): { owner: string; host: string; pid: number; expiresAt: number } | undefined;
  /**
   * Throws unless `owner` holds the lease, unexpired at `now` (call inside a write transaction).
   * `now` undefined: ownership alone counts (the caller holds the store's OS lock, so nobody else
   * can have taken the lease, however long this process was paused).
   */
  checkFence(owner: string, now: number | undefined): void;
  getRequest(id: number): ControlRequest | undefined;
  reclaimRequests(now: number, maxAgeMs: number): number;
}

interface LeaseRow {
  owner: string;
  host: string;
  pid: number;
  expires_at: number;
}

export function prepareControl(db: SqliteDatabase): ControlOperations {
  const readLease = db.prepare<[], LeaseRow>("SELECT owner, host, pid, expires_at FROM scheduler_lease WHERE id = 1");
  const writeLease = db.prepare(`INSERT INTO scheduler_lease (id, owner, host, pid, expires_at) VALUES (1, @owner, @host, @pid, @expiresAt)
      ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at`);
  const renew = db.prepare("UPDATE scheduler_lease SET expires_at = @expiresAt WHERE id = 1 AND owner = @owner AND (@now IS NULL OR expires_at > @now)");
  const release = db.prepare("DELETE FROM scheduler_lease WHERE id = 1 AND owner = ?");
  const insertRequest = db.prepare("INSERT INTO requests (type, pipeline, run_id, params, created_at) VALUES (@type, @pipeline, @runId, @params, @at)");
  const pending = db.prepare<[number], RequestRow>("SELECT * FROM requests WHERE taken_at IS NULL AND resolved_at IS NULL ORDER BY id LIMIT ?");
  const take = db.prepare("UPDATE requests SET taken_at = ?, taken_by = ? WHERE id = ?");
  const anyPending = db.prepare<[], { id: number }>("SELECT id FROM requests WHERE taken_at IS NULL AND resolved_at IS NULL LIMIT 1");
  const abandon = db.prepare(`UPDATE requests SET resolved_at = @now, error = @why
      WHERE id = @id AND resolved_at IS NULL
        AND (taken_at IS NULL OR @takerGone = 1
             OR NOT EXISTS (SELECT 1 FROM scheduler_lease WHERE id = 1 AND owner = requests.taken_by AND expires_at > @now))`);
  const getRequest = db.prepare<[number], RequestRow>("SELECT * FROM requests WHERE id = ?");
  const reopen = db.prepare("UPDATE requests SET taken_at = NULL, taken_by = NULL WHERE resolved_at IS NULL AND created_at >= ?");
  const expire = db.prepare("UPDATE requests SET resolved_at = ?, error = 'expired: not answered before Sluice stopped; send it again' WHERE resolved_at IS NULL AND created_at < ?");
  const reclaim = db.transaction((now: number, maxAgeMs: number): number => {
    expire.run(now, now - maxAgeMs);
    return reopen.run(now - maxAgeMs).changes;
  });

  const acquire = db.transaction((claim: LeaseClaim): LeaseResult => {
    const row = readLease.get();
    const free =
      row === undefined ||
      row.owner === claim.owner ||
      row.expires_at <= claim.now ||
      (row.host === hostname() && !processAlive(row.pid));
    if (!free) return { acquired: false, holder: `${row.owner}, pid ${row.pid} on ${row.host}`, owner: row.owner };
    writeLease.run({ owner: claim.owner, host: claim.host, pid: claim.pid, expiresAt: claim.now + claim.ttlMs });
    return { acquired: true };
  });
  const takeRequests = db.transaction((limit: number, now: number, owner: string | null): ControlRequest[] => {
    const rows = pending.all(limit);
    for (const row of rows) take.run(now, owner, row.id);
    return rows.map((row) => toRequest({ ...row, taken_at: now, taken_by: owner }));
  });

  return {
    acquireSchedulerLease: (claim) => acquire.immediate(claim),
    renewSchedulerLease: (owner, expiresAt, now) => renew.run({ expiresAt, owner, now: now ?? null }).changes > 0,
    abandonRequest: (id, now, why, takerGone) => abandon.run({ id, now, why, takerGone: takerGone ? 1 : 0 }).changes > 0,
    currentLease: () => {
      const row = readLease.get();
      return row ? { owner: row.owner, host: row.host, pid: row.pid, expiresAt: row.expires_at } : undefined;
    },
    checkFence: (owner, now) => {
      const row = readLease.get();
      if (row?.owner !== owner || (now !== undefined && row.expires_at <= now)) {
        const holder = row === undefined ? "nobody holds it" : row.owner === owner ? `it expired at ${new Date(row.expires_at).toISOString()}` : `${row.owner} holds it`;
        throw new StoreLeaseLostError(owner, `the scheduler lease of ${owner} is lost (${holder}); this scheduler may no longer write`);
      }
    },
    releaseSchedulerLease: (owner) => void release.run(owner),
    addRequest: (r) => Number(insertRequest.run({ type: r.type, pipeline: r.pipeline ?? null, runId: r.runId ?? null, params: toJson(r.params ?? {}) ?? "{}", at: r.at }).lastInsertRowid),
    // An empty inbox (nearly always) is answered by a plain read, without taking the write lock.
    takeRequests: (limit, now, owner) => (anyPending.get() === undefined ? [] : takeRequests.immediate(limit, now, owner)),
    reclaimRequests: (now, maxAgeMs) => reclaim.immediate(now, maxAgeMs),
    getRequest: (id) => {
      const row = getRequest.get(id);
      return row ? toRequest(row) : undefined;
    },
  };
}
