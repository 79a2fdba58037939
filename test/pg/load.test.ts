import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { Readable } from "node:stream";
import { load, PgDeadlineError, PgSwapDependentsError, PgIdentifierError, type PgLoadEvent } from "../../src/pg/index.js";
import { dropSchemas, freshSchema } from "../support/pg.js";
import { connect, fingerprint, numbered, TEST_DATABASE_URL } from "./helpers.js";

const schema = freshSchema("pgload");
let c: pg.Client;
const T = (name: string): string => `"${schema}"."${name}"`;
const quiet = (): void => undefined;

beforeAll(async () => {
  c = await connect();
  await c.query(`CREATE SCHEMA "${schema}"`);
});
afterAll(async () => {
  await c.end();
  await dropSchemas(schema);
});

describe("modes", () => {
  it("swap replaces the rows, keeps indexes, leaves no shadow or old table", async () => {
    await c.query(`CREATE TABLE ${T("s")} (id int PRIMARY KEY, v text NOT NULL)`);
    await c.query(`INSERT INTO ${T("s")} SELECT g, 'old' FROM generate_series(1, 100) g`);
    const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "s" }, mode: "swap", columns: ["id", "v"], rows: numbered(500), onEvent: quiet });
    expect(r.rowsWritten).toBe(500);
    expect(await fingerprint(c, T("s"))).toEqual(await (async () => {
      await c.query(`CREATE TEMP TABLE expect_s AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 500) g`);
      return fingerprint(c, "expect_s");
    })());
    const idx = await c.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 's'`, [schema]);
    expect(idx.rows.length).toBe(1);
    const left = await c.query(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = $1 AND relname LIKE 's\\_\\_sluice%'`, [schema]);
    expect(left.rows).toEqual([]);
  });

  it("swap of a table with a serial column keeps its sequence (owned by the new table) and drops the old table", async () => {
    await c.query(`CREATE TABLE ${T("ser")} (id serial PRIMARY KEY, v text)`);
    await c.query(`INSERT INTO ${T("ser")} (v) VALUES ('a'), ('b')`);
    for (let i = 0; i < 2; i++) {
      const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "ser" }, mode: "swap", columns: ["id", "v"], rows: [[10 + i, "x"]], onEvent: quiet });
      expect(r.rowsWritten).toBe(1);
    }
    await c.query(`INSERT INTO ${T("ser")} (v) VALUES ('c')`);
    expect((await c.query(`SELECT id, v FROM ${T("ser")} ORDER BY id`)).rows).toEqual([{ id: 3, v: "c" }, { id: 11, v: "x" }]);
    expect((await c.query(`SELECT to_regclass($1) IS NULL AS gone`, [T("ser__sluice_old")])).rows[0]).toEqual({ gone: true });
  });

  it("swap refuses when a view or a foreign key depends on the table, and suggests replace", async () => {
    await c.query(`CREATE TABLE ${T("sv")} (id int PRIMARY KEY, v text)`);
    await c.query(`CREATE VIEW ${T("sv_view")} AS SELECT * FROM ${T("sv")}`);
    await c.query(`CREATE TABLE ${T("sf")} (id int PRIMARY KEY, v text)`);
    await c.query(`CREATE TABLE ${T("sf_child")} (id int REFERENCES ${T("sf")}(id))`);
    for (const name of ["sv", "sf"]) {
      const err = await load({ db: TEST_DATABASE_URL, table: { schema, name }, mode: "swap", columns: ["id", "v"], rows: [[1, "a"]], onEvent: quiet }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PgSwapDependentsError);
      expect((err as PgSwapDependentsError).code).toBe("SLUICE_PG_SWAP_DEPENDENTS");
      expect((err as Error).message).toContain('mode: "replace"');
    }
    const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "sv" }, mode: "replace", columns: ["id", "v"], rows: [[1, "a"]], onEvent: quiet });
    expect(r.rowsWritten).toBe(1);
    expect((await c.query(`SELECT * FROM ${T("sv_view")}`)).rows).toEqual([{ id: 1, v: "a" }]);
  });

  it("replace deletes only the window and reports the dead tuples it leaves", async () => {
    await c.query(`CREATE TABLE ${T("r")} (id int PRIMARY KEY, day int NOT NULL, v text)`);
    await c.query(`INSERT INTO ${T("r")} SELECT g, g % 3, 'old' FROM generate_series(1, 30) g`);
    const rows = Readable.from([[100, 1, "new"], [101, 1, "new"]]);
    const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "r" }, mode: "replace", where: { sql: "day = $1", params: [1] }, columns: ["id", "day", "v"], rows, onEvent: quiet });
    expect(r).toMatchObject({ rowsWritten: 2, deadTuples: 10, retries: 0 });
    const byDay = await c.query(`SELECT day, count(*)::int AS n, min(v) AS v FROM ${T("r")} GROUP BY day ORDER BY day`);
    expect(byDay.rows).toEqual([{ day: 0, n: 10, v: "old" }, { day: 1, n: 2, v: "new" }, { day: 2, n: 10, v: "old" }]);
  });

  it("upsert: last duplicate in a call wins; skipUnchanged leaves unchanged rows alone", async () => {
    await c.query(`CREATE TABLE ${T("u")} (id int PRIMARY KEY, v text)`);
    await c.query(`INSERT INTO ${T("u")} VALUES (1, 'same'), (2, 'old')`);
    const before = await c.query<{ xmin: string }>(`SELECT xmin::text FROM ${T("u")} WHERE id = 1`);
    const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "u" }, mode: "upsert", key: ["id"], skipUnchanged: true, columns: ["id", "v"], rows: [[2, "first"], [1, "same"], [3, "x"], [2, "last"]], onEvent: quiet });
    expect(r.rowsWritten).toBe(2); // id 2 updated, id 3 inserted; id 1 unchanged is skipped
    expect((await c.query(`SELECT id, v FROM ${T("u")} ORDER BY id`)).rows).toEqual([{ id: 1, v: "same" }, { id: 2, v: "last" }, { id: 3, v: "x" }]);
    expect((await c.query<{ xmin: string }>(`SELECT xmin::text FROM ${T("u")} WHERE id = 1`)).rows[0]!.xmin).toBe(before.rows[0]!.xmin);
  });

  it("7: 70,000 rows x 10 columns in one upsert call: no bind-parameter limit", async () => {
    const cols = ["id", ...Array.from({ length: 9 }, (_, i) => `c${i}`)];
    await c.query(`CREATE TABLE ${T("wide")} (id int PRIMARY KEY, ${cols.slice(1).map((x) => `${x} text`).join(", ")})`);
    function* rows(): Generator<unknown[]> {
      for (let i = 0; i < 70_000; i++) yield [i, ...cols.slice(1).map((x) => `${x}-${i}`)];
    }
    const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: "wide" }, mode: "upsert", key: ["id"], columns: cols, rows: rows(), onEvent: quiet });
    expect(r.rowsWritten).toBe(70_000);
    expect((await c.query(`SELECT count(*)::int AS n, max(c8) FILTER (WHERE id = 69999) AS last FROM ${T("wide")}`)).rows[0]).toEqual({ n: 70_000, last: "c8-69999" });
  });

  it("partition: loads a new partition, attaches it, detaches an old one concurrently", async () => {
    await c.query(`CREATE TABLE ${T("ev")} (day int NOT NULL, v text) PARTITION BY RANGE (day)`);
    await c.query(`CREATE TABLE ${T("ev_0")} PARTITION OF ${T("ev")} FOR VALUES FROM (0) TO (10)`);
    await c.query(`INSERT INTO ${T("ev")} SELECT g, 'old' FROM generate_series(0, 9) g`);
    const r = await load({
      db: TEST_DATABASE_URL, table: { schema, name: "ev" }, mode: "partition", columns: ["day", "v"], rows: [[10, "a"], [15, "b"]], onEvent: quiet,
      partition: { name: "ev_1", bounds: "FROM (10) TO (20)", check: "day >= 10 AND day < 20", detach: "ev_0" },
    });
    expect(r.rowsWritten).toBe(2);
    expect((await c.query(`SELECT day, v FROM ${T("ev")} ORDER BY day`)).rows).toEqual([{ day: 10, v: "a" }, { day: 15, v: "b" }]);
    expect((await c.query(`SELECT count(*)::int AS n FROM ${T("ev_0")}`)).rows[0]).toEqual({ n: 10 });
  });

  it("truncate warns when another session uses the table, then loads", async () => {
    await c.query(`CREATE TABLE ${T("tr")} (id int, v text)`);
    await c.query(`INSERT INTO ${T("tr")} VALUES (1, 'old')`);
    const reader = await connect(schema, "test-reader");
    await reader.query("BEGIN");
    await reader.query(`SELECT * FROM ${T("tr")}`);
    const events: PgLoadEvent[] = [];
    const p = load({ db: TEST_DATABASE_URL, table: { schema, name: "tr" }, mode: "truncate", lockTimeoutMs: 100, deadlineMs: 20_000, columns: ["id", "v"], rows: [[2, "new"]], onEvent: (e) => events.push(e) });
    await new Promise((r) => setTimeout(r, 700));
    await reader.query("COMMIT");
    await reader.end();
    const r = await p;
    expect(events.some((e) => e.type === "warning" && e.message.includes("TRUNCATE"))).toBe(true);
    expect(r.retries).toBeGreaterThan(0);
    expect(r.lockWaitMs).toBeGreaterThan(0);
    const retry = events.find((e) => e.type === "retry");
    expect(retry).toMatchObject({ type: "retry", code: "55P03" });
    expect(retry?.type === "retry" && retry.blockers.some((b) => b.applicationName === "test-reader")).toBe(true);
    expect((await c.query(`SELECT * FROM ${T("tr")}`)).rows).toEqual([{ id: 2, v: "new" }]);
  });
});

describe("errors", () => {
  it("data errors are not retried and leave the table as it was", async () => {
    await c.query(`CREATE TABLE ${T("d")} (id int PRIMARY KEY, v text)`);
    await c.query(`INSERT INTO ${T("d")} VALUES (1, 'keep')`);
    const events: PgLoadEvent[] = [];
    const err = await load({ db: TEST_DATABASE_URL, table: { schema, name: "d" }, mode: "replace", columns: ["id", "v"], rows: [[5, "a"], [5, "b"]], onEvent: (e) => events.push(e) }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("23505");
    expect(events.filter((e) => e.type === "retry")).toEqual([]);
    expect((await c.query(`SELECT * FROM ${T("d")}`)).rows).toEqual([{ id: 1, v: "keep" }]);
  });

  it("gives up at the deadline with PgDeadlineError while a reader holds the table", async () => {
    await c.query(`CREATE TABLE ${T("dl")} (id int, v text)`);
    const reader = await connect(schema);
    await reader.query("BEGIN");
    await reader.query(`SELECT * FROM ${T("dl")}`);
    try {
      const err = await load({ db: TEST_DATABASE_URL, table: { schema, name: "dl" }, mode: "swap", lockTimeoutMs: 100, deadlineMs: 1500, columns: ["id", "v"], rows: [[1, "a"]], onEvent: quiet }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PgDeadlineError);
      expect((err as PgDeadlineError).code).toBe("SLUICE_PG_DEADLINE");
    } finally {
      await reader.query("COMMIT");
      await reader.end();
    }
    expect((await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [T("dl")])).rows[0]).toEqual({ ok: true });
  });

  it("8: hostile identifiers as table and column names work and are never executed", async () => {
    const names = [`x"; DROP TABLE "${schema}"."d"; --`, "ünï — 表", "a'b\\c;", "Upper Case"];
    for (const name of names) {
      const col = `${name}_col`;
      await c.query(`CREATE TABLE "${schema}".${c.escapeIdentifier(name)} (id int PRIMARY KEY, ${c.escapeIdentifier(col)} text)`);
      for (const mode of ["swap", "replace", "upsert", "truncate"] as const) {
        const r = await load({ db: TEST_DATABASE_URL, table: { schema, name }, mode, key: ["id"], columns: ["id", col], rows: [[1, mode]], onEvent: quiet });
        expect(r.rowsWritten).toBe(1);
        expect((await c.query(`SELECT ${c.escapeIdentifier(col)} AS v FROM "${schema}".${c.escapeIdentifier(name)}`)).rows).toEqual([{ v: mode }]);
      }
    }
    expect((await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [T("d")])).rows[0]).toEqual({ ok: true });
    const refused = await load({ db: TEST_DATABASE_URL, table: { schema, name: "a\0b" }, mode: "swap", columns: ["id"], rows: [], onEvent: quiet }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PgIdentifierError);
    const long = await load({ db: TEST_DATABASE_URL, table: { schema, name: "x".repeat(64) }, mode: "swap", columns: ["id"], rows: [], onEvent: quiet }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(PgIdentifierError);
  });
});
