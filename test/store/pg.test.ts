// The PostgreSQL store: the conformance suite unchanged, plus what only PostgreSQL has.
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { applyPgMigrations, PG_MIGRATIONS } from "../../src/store/pg/migrations.js";
import { PgStore } from "../../src/store/pg/pg-store.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import type { Store, StoreWrite } from "../../src/store/types.js";
import { dropSchemas, freshSchema, pgUrl, TEST_DATABASE_URL } from "../support/pg.js";
import { describeStoreConformance } from "./conformance.js";
import { createAttempt, createRun, T0 } from "./fixtures.js";

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

function openFresh(): Promise<PgStore> {
  const schema = freshSchema("conf");
  schemas.push(schema);
  return PgStore.open(parsePgUrl(pgUrl(schema)));
}

describeStoreConformance("postgres", openFresh, {
  openPeer: (store) => {
    if (!(store instanceof PgStore)) throw new Error("expected a PgStore");
    return PgStore.open(parsePgUrl(pgUrl(store.schema)), { migrate: false });
  },
  cleanup: async (store) => {
    if (store instanceof PgStore) await dropSchemas(store.schema);
  },
});

describe("PgStore", () => {
  it("migrates once when many processes' stores open the same new schema at once", async () => {
    const schema = freshSchema("race");
    schemas.push(schema);
    const stores: Store[] = await Promise.all(Array.from({ length: 6 }, () => PgStore.open(parsePgUrl(pgUrl(schema)))));
    expect((await stores[0]?.listRuns()) ?? null).toEqual([]);
    for (const s of stores) await s.close();
  });

  it("read-only open of a schema that does not exist: StoreNotFoundError naming sluice migrate; nothing created", async () => {
    const schema = freshSchema("none");
    await expect(PgStore.open(parsePgUrl(pgUrl(schema)), { readonly: true })).rejects.toMatchObject({ code: "SLUICE_STORE_NOT_FOUND", message: expect.stringMatching(/sluice migrate/) });
    const probe = await PgStore.open(parsePgUrl(pgUrl(freshSchema("probe"))), { migrate: false });
    await probe.close();
  });

  it("says which server it cannot reach, and which database does not exist", async () => {
    const refused = new URL(TEST_DATABASE_URL);
    refused.port = "1";
    await expect(PgStore.open(parsePgUrl(refused.toString()))).rejects.toMatchObject({ code: "SLUICE_STORE_CONNECT", message: expect.stringMatching(/:1: connection refused/) });
    const nodb = new URL(TEST_DATABASE_URL);
    nodb.pathname = "/no_such_db_sluice";
    await expect(PgStore.open(parsePgUrl(nodb.toString()))).rejects.toMatchObject({ code: "SLUICE_STORE_CONNECT", message: expect.stringMatching(/no database "no_such_db_sluice"/) });
  });

  it("refuses a schema name that is not a plain identifier", () => {
    expect(() => parsePgUrl(`${TEST_DATABASE_URL}?schema=a;drop`)).toThrow(/not a plain PostgreSQL identifier/);
  });

  it("migration 10 moves each attempt's resources into the attempt and drops claimed work, keeping what unclaimed work waits", async () => {
    const schema = freshSchema("m10");
    schemas.push(schema);
    // A store as Sluice left it before migration 10: resources in their own table, claimed work marked.
    const upTo9 = mkdtempSync(join(tmpdir(), "sluice-m9-"));
    for (const f of readdirSync(PG_MIGRATIONS).filter((f) => Number(f.slice(0, 4)) <= 9)) copyFileSync(new URL(f, PG_MIGRATIONS), join(upTo9, f));
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    try {
      await applyPgMigrations(pool, schema, pathToFileURL(`${upTo9}/`));
      await pool.query(`SET search_path TO "${schema}"`);
      await pool.query(`INSERT INTO runs (id, pipeline, scheduled_for, trigger, state, created_at) VALUES (1, 'p', 0, 'manual', 'running', 0)`);
      await pool.query(`INSERT INTO task_instances (run_id, task, state) VALUES (1, 'a', 'running'), (1, 'b', 'running'), (1, 'c', 'success')`);
      await pool.query(`INSERT INTO attempts (id, run_id, pipeline, task, attempt, state, fencing_token, queued_at, started_at, ended_at, released_at) VALUES
        (1, 1, 'p', 'a', 1, 'running', 1, 0, 0, NULL, NULL), (2, 1, 'p', 'b', 1, 'running', 2, 0, 0, NULL, NULL), (3, 1, 'p', 'c', 1, 'success', 3, 0, 0, 5, 5)`);
      await pool.query(`INSERT INTO attempt_resources (attempt_id, key, amount) VALUES (1, 'pool:wh', 2), (1, 'parallelism', 1), (1, 'pool:Z', 0.5), (3, 'parallelism', 1)`);
      await pool.query(`INSERT INTO dispatch (attempt_id, queue, task_key, command, created_at, claimed_by, claimed_at) VALUES (1, 'default', 'p.a', '{}', 0, 'w1', 1), (2, 'default', 'p.b', '{}', 0, NULL, NULL)`);
      await pool.query("RESET search_path");
      await applyPgMigrations(pool, schema);
    } finally {
      await pool.end();
      rmSync(upTo9, { recursive: true, force: true });
    }
    const store = await PgStore.open(parsePgUrl(pgUrl(schema)), { migrate: false });
    try {
      const byId = new Map((await store.listAttempts({ runId: 1 })).map((a) => [a.id, a.resources]));
      expect(byId.get(1)).toEqual([{ key: "parallelism", amount: 1 }, { key: "pool:Z", amount: 0.5 }, { key: "pool:wh", amount: 2 }]);
      expect(byId.get(2)).toEqual([]);
      expect(byId.get(3)).toEqual([{ key: "parallelism", amount: 1 }]);
      // Running attempts come back with what they hold, so a restarted scheduler counts it.
      expect((await store.loadActiveState()).attempts.find((a) => a.id === 1)?.resources).toHaveLength(3);
      // The claimed row is gone; the unclaimed one is still there for a worker to claim.
      const { work: claimed } = await store.claimWork("w2", ["default"], 10, null, [], 10, 20_000);
      expect(claimed.map((c) => c.attemptId)).toEqual([2]);
    } finally {
      await store.close();
    }
  });

  it("work given to a worker: notified with its commands, read only by that worker's life, never claimed by another, given back to the queue when it stops", async () => {
    const store = await openFresh();
    const heard: string[] = [];
    const unwatch = await store.watch("work", (_, payload) => {
      if (payload !== undefined) heard.push(payload);
    });
    try {
      const given = (id: number, worker?: { name: string; startedAt: number }): StoreWrite[] => [
        createAttempt(id, 1, `t${id}`, { workerId: worker?.name ?? null }),
        { type: "dispatch", attemptId: id, queue: "default", taskKey: `etl.t${id}`, memoryMb: undefined, command: { attemptId: id, fencingToken: id, taskKey: `etl.t${id}` }, at: T0, worker },
      ];
      await store.apply([createRun(1, ["t1", "t2", "t3"]), ...given(1, { name: "w1", startedAt: 100 }), ...given(2, { name: "w1", startedAt: 100 }), ...given(3)]);
      await waitUntil(() => heard.length === 2);
      // One notification for w1's life, with its start commands; an empty one for the work given to nobody.
      expect(heard.sort()).toEqual(["", `worker:100:w1\n${JSON.stringify([{ attemptId: 1, fencingToken: 1, taskKey: "etl.t1" }, { attemptId: 2, fencingToken: 2, taskKey: "etl.t2" }])}`]);
      // The given work is w1's: another worker claims only the rest; a later life of w1 reads none of it.
      expect((await store.claimWork("w2", ["default"], 10, null, [], T0, T0 + 60_000)).work.map((w) => w.attemptId)).toEqual([3]);
      expect((await store.assignedWork("w1", 100, 0)).map((w) => [w.attemptId, w.fencingToken])).toEqual([[1, 1], [2, 2]]);
      expect(await store.assignedWork("w1", 100, 1)).toHaveLength(1);
      expect(await store.assignedWork("w1", 101, 0)).toEqual([]);
      expect(await store.assignedWork("w2", 100, 0)).toEqual([]);
      // Ended: no longer read.
      expect(await store.completeAttempts([{ attemptId: 1, fencingToken: 1, outcome: { state: "success", output: null }, endedAt: T0 + 1 }])).toEqual([true]);
      expect((await store.assignedWork("w1", 100, 0)).map((w) => w.attemptId)).toEqual([2]);
      // w1 stops: attempt 2 goes back to its queue, where w2 claims it (the same attempt: nothing lost).
      await store.drainWorker("w1", [2], T0 + 60_000);
      expect(await store.assignedWork("w1", 100, 0)).toEqual([]);
      expect((await store.claimWork("w2", ["default"], 10, null, [], T0, T0 + 60_000)).work.map((w) => [w.attemptId, w.fencingToken])).toEqual([[2, 2]]);
      expect((await store.getAttempt(2))?.workerId).toBe("w2");
    } finally {
      await unwatch();
      await store.close();
    }
  });

  it("a claim says whether work it saw did not fit the memory it was given", async () => {
    const store = await openFresh();
    try {
      await store.apply([
        createRun(1, ["big", "small"]),
        createAttempt(1, 1, "small"),
        createAttempt(2, 1, "big"),
        { type: "dispatch", attemptId: 1, queue: "default", taskKey: "etl.small", memoryMb: 100, command: {}, at: T0 },
        { type: "dispatch", attemptId: 2, queue: "default", taskKey: "etl.big", memoryMb: 900, command: {}, at: T0 },
      ]);
      const first = await store.claimWork("w1", ["default"], 10, 500, [], T0, T0 + 60_000);
      expect([first.work.map((w) => w.attemptId), first.unfit]).toEqual([[1], true]);
      expect(await store.claimWork("w1", ["default"], 10, 400, [], T0, T0 + 60_000)).toEqual({ work: [], unfit: true });
      expect((await store.claimWork("w1", ["default"], 10, 1000, [], T0, T0 + 60_000)).work.map((w) => w.attemptId)).toEqual([2]);
      expect(await store.claimWork("w1", ["default"], 10, 1000, [], T0, T0 + 60_000)).toEqual({ work: [], unfit: false });
    } finally {
      await store.close();
    }
  });

  it("active attempts are found through their dispatch rows, so no index of attempts names what a completion changes (it stays a HOT update)", async () => {
    const store = await openFresh();
    try {
      const indexes = await sqlRows<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = '${store.schema}' AND tablename = 'attempts'`);
      expect(indexes.length).toBeGreaterThan(0);
      for (const { indexdef } of indexes) expect(indexdef).not.toMatch(/\b(state|ended_at|released_at|error|peak_memory_bytes|lease_expires_at|worker_id)\b/);
      await store.apply([createRun(1, ["a", "b", "c"]), createAttempt(1, 1, "a", { leaseExpiresAt: T0 }), createAttempt(2, 1, "b", { leaseExpiresAt: T0 + 10_000 }), createAttempt(3, 1, "c", { leaseExpiresAt: T0 })]);
      expect(await store.expiredAttempts(T0 + 1)).toEqual([{ id: 1, workerId: "w1" }, { id: 3, workerId: "w1" }]);
      // Ended: no longer active. Ended while its function still runs: draining, active until released.
      await store.apply([{ type: "endAttempt", id: 1, state: "failed", endedAt: T0 + 1 }, { type: "endAttempt", id: 3, state: "cancelled", endedAt: T0 + 1, stillRunning: true }]);
      expect(await store.expiredAttempts(T0 + 1)).toEqual([]);
      let active = await store.loadActiveState();
      expect([active.attempts.map((a) => a.id), (active.draining ?? []).map((a) => a.id)]).toEqual([[2], [3]]);
      await store.apply([{ type: "releaseAttempt", id: 3, at: T0 + 2 }]);
      active = await store.loadActiveState();
      expect([active.attempts.map((a) => a.id), (active.draining ?? []).map((a) => a.id)]).toEqual([[2], []]);
      expect((await sqlRows<{ attempt_id: string }>(`SELECT attempt_id FROM "${store.schema}".dispatch ORDER BY attempt_id`)).map((r) => Number(r.attempt_id))).toEqual([2]);
    } finally {
      await store.close();
    }
  });

  it("a stopping worker is listed as draining until it registers again; a registration tells the scheduler at once", async () => {
    const store = await openFresh();
    const heard: Array<string | undefined> = [];
    const unwatch = await store.watch("done", (ids, payload) => void heard.push(ids ? ids.join(",") : payload));
    try {
      const info = { name: "w1", host: "h", pid: 1, queues: ["default"], slots: 2, memoryMb: null, fingerprint: "f", avoid: [], startedAt: T0, heartbeatAt: T0 };
      await store.registerWorker(info, 15_000);
      await waitUntil(() => heard.includes("workers"));
      expect((await store.listWorkers())[0]?.drainingAt).toBeNull();
      await store.drainWorker("w1", [], T0);
      expect((await store.listWorkers())[0]?.drainingAt).toEqual(expect.any(Number));
      await store.registerWorker({ ...info, pid: 2, startedAt: T0 + 1, heartbeatAt: T0 + 1 }, 0);
      expect((await store.listWorkers())[0]?.drainingAt).toBeNull();
    } finally {
      await unwatch();
      await store.close();
    }
  });

  it("attempts given to an earlier life of a worker that registered again under its name are expired at once, their leases still running", async () => {
    const store = await openFresh();
    try {
      // w1 on another host than the scheduler: only its own new registration says it died.
      const info = { name: "w1", host: "elsewhere", pid: 1, queues: ["default"], slots: 2, memoryMb: null, fingerprint: "f", avoid: [], startedAt: T0, heartbeatAt: T0 };
      await store.registerWorker(info, 15_000);
      const given = (id: number, startedAt: number): StoreWrite => ({ type: "dispatch", attemptId: id, queue: "default", taskKey: `etl.t${id}`, memoryMb: undefined, command: {}, at: T0, worker: { name: "w1", startedAt } });
      await store.apply([createRun(1, ["t1", "t2", "t3"]), createAttempt(1, 1, "t1", { leaseExpiresAt: T0 + 60_000 }), given(1, T0), createAttempt(2, 1, "t2", { leaseExpiresAt: T0 + 60_000 }), given(2, T0)]);
      expect(await store.expiredAttempts(T0 + 1)).toEqual([]);
      // Restarted (a SIGKILL, then systemd) as another process: its name is free again (here by a
      // registration TTL of 0; on its own host, as soon as the old pid is gone).
      expect(await store.registerWorker({ ...info, pid: 2, startedAt: T0 + 2, heartbeatAt: T0 + 2 }, 0)).toEqual({ ok: true });
      await store.apply([createAttempt(3, 1, "t3", { leaseExpiresAt: T0 + 60_000 }), given(3, T0 + 2)]);
      expect(await store.expiredAttempts(T0 + 3)).toEqual([
        { id: 1, workerId: "w1", restarted: true },
        { id: 2, workerId: "w1", restarted: true },
      ]);
    } finally {
      await store.close();
    }
  });
});

describe("PgStore with much finished work", () => {
  it("finds the active attempts through dispatch, never by walking the finished ones (expiredAttempts, loadActiveState)", async () => {
    const store = await openFresh();
    const s = `"${store.schema}"`;
    try {
      // 20,000 finished attempts (200 runs of 100 tasks), and one running, given to a worker.
      await sqlRows(`INSERT INTO ${s}.runs (id, pipeline, scheduled_for, trigger, params, state, created_at, started_at, ended_at)
        SELECT 1000 + g, 'old', ${T0}, 'manual', '{}', 'success', ${T0}, ${T0}, ${T0} FROM generate_series(1, 200) g`);
      await sqlRows(`INSERT INTO ${s}.task_instances (run_id, task, state, attempts, lost_attempts)
        SELECT 1000 + (g - 1) / 100 + 1, 't' || ((g - 1) % 100), 'success', 1, 0 FROM generate_series(1, 20000) g`);
      await sqlRows(`INSERT INTO ${s}.attempts (id, run_id, pipeline, task, attempt, state, fencing_token, worker_id, queued_at, started_at, ended_at, released_at)
        SELECT 1000 + g, 1000 + (g - 1) / 100 + 1, 'old', 't' || ((g - 1) % 100), 1, 'success', 1000 + g, 'old', ${T0}, ${T0}, ${T0}, ${T0} FROM generate_series(1, 20000) g`);
      await sqlRows(`VACUUM ANALYZE ${s}.runs, ${s}.task_instances, ${s}.attempts`);
      await store.apply([
        createRun(1, ["t1"]),
        createAttempt(50_000, 1, "t1", { leaseExpiresAt: T0 + 60_000, workerId: "w1" }),
        { type: "dispatch", attemptId: 50_000, queue: "default", taskKey: "etl.t1", memoryMb: undefined, command: { attemptId: 50_000, fencingToken: 50_000, taskKey: "etl.t1" }, at: T0, worker: { name: "w1", startedAt: 100 } },
      ]);
      // Tuples of attempts the store's connections read, and its lookups in dispatch: PostgreSQL
      // publishes a connection's counts once it is idle (at most every second), so the reads
      // below are waited for through dispatch's count, which every one of them moves.
      const counts = async () =>
        (await sqlRows<{ relname: string; n: string }>(`SELECT relname, (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) + coalesce(idx_scan, 0))::text AS n
          FROM pg_stat_user_tables WHERE schemaname = '${store.schema}' AND relname IN ('attempts', 'dispatch')`)).reduce<Record<string, number>>((o, r) => ({ ...o, [r.relname]: Number(r.n) }), {});
      await new Promise((r) => setTimeout(r, 1_100));
      const before = await counts();
      expect(await store.expiredAttempts(T0 + 1)).toEqual([]);
      expect((await store.loadActiveState()).attempts.map((a) => a.id)).toEqual([50_000]);
      let after = before;
      for (const end = Date.now() + 15_000; (after.dispatch ?? 0) < (before.dispatch ?? 0) + 3 && Date.now() < end; await new Promise((r) => setTimeout(r, 100))) after = await counts();
      expect((after.dispatch ?? 0) - (before.dispatch ?? 0), "dispatch was read (the counts were published)").toBeGreaterThanOrEqual(3);
      // A walk of the finished attempts reads 20,000 of them; a lookup per active attempt, a few.
      expect((after.attempts ?? 0) - (before.attempts ?? 0)).toBeLessThan(100);
    } finally {
      await store.close();
    }
  });
});

async function waitUntil(ok: () => boolean, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function sqlRows<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}
