import { afterAll, beforeAll, expect, it } from "vitest";
import type pg from "pg";
import { load, type PgLoadEvent } from "../../src/pg/index.js";
import { dropSchemas, freshSchema } from "../support/pg.js";
import { connect, TEST_DATABASE_URL } from "./helpers.js";

const schema = freshSchema("pgconc");
let c: pg.Client;
const T = (name: string): string => `"${schema}"."${name}"`;

beforeAll(async () => {
  c = await connect();
  await c.query(`CREATE SCHEMA "${schema}"`);
});
afterAll(async () => {
  await c.end();
  await dropSchemas(schema);
});

function shuffled<T>(xs: T[], seed: number): T[] {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

it("6: 8 concurrent upserters with shuffled, overlapping keys: zero deadlocks, last duplicate in a batch wins", async () => {
  await c.query(`CREATE TABLE ${T("u")} (id int PRIMARY KEY, writer int NOT NULL, v text NOT NULL)`);
  const events: PgLoadEvent[] = [];
  const writers = Array.from({ length: 8 }, (_, w) => {
    // keys 0..1999 overlap across writers; each batch also repeats its first 50 keys at the end
    const keys = shuffled(Array.from({ length: 2000 }, (_, i) => i), w + 1);
    const rows: [number, number, string][] = keys.map((k) => [k, w, "first"]);
    for (const k of keys.slice(0, 50)) rows.push([k, w, "last"]);
    return load({ db: TEST_DATABASE_URL, table: { schema, name: "u" }, mode: "upsert", key: ["id"], columns: ["id", "writer", "v"], rows, lockTimeoutMs: 5000, onEvent: (e) => events.push(e) });
  });
  const results = await Promise.all(writers);
  expect(events.filter((e) => e.type === "retry" && e.code === "40P01")).toEqual([]);
  expect(results.every((r) => r.rowsWritten === 2000)).toBe(true);
  const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T("u")}`);
  expect(rows[0]!.n).toBe(2000);
  // whichever writer won a key, the row says "last" exactly when that key was duplicated in its batch
  const dupKeys = Array.from({ length: 8 }, (_, w) => new Set(shuffled(Array.from({ length: 2000 }, (_, i) => i), w + 1).slice(0, 50)));
  const all = await c.query<{ id: number; writer: number; v: string }>(`SELECT id, writer, v FROM ${T("u")}`);
  const wrong = all.rows.filter((r) => (dupKeys[r.writer]!.has(r.id) ? "last" : "first") !== r.v);
  expect(wrong).toEqual([]);
  expect(all.rows.some((r) => r.v === "last")).toBe(true);
});

it("4: a REPEATABLE READ reader across a swap sees zero rows when it first touches the table after it; across a replace it keeps the old rows", async () => {
  for (const name of ["rs", "rr"]) {
    await c.query(`CREATE TABLE ${T(name)} (id int PRIMARY KEY, v text)`);
    await c.query(`INSERT INTO ${T(name)} SELECT g, 'old' FROM generate_series(1, 1000) g`);
  }
  const quiet = (): void => undefined;
  const reader = await connect(schema);
  try {
    // swap: snapshot taken before, table first read after
    await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    await reader.query("SELECT 1 FROM pg_class LIMIT 1");
    await load({ db: TEST_DATABASE_URL, table: { schema, name: "rs" }, mode: "swap", columns: ["id", "v"], rows: [[1, "new"], [2, "new"]], onEvent: quiet });
    const swapSeen = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T("rs")}`);
    await reader.query("COMMIT");
    expect(swapSeen.rows[0]!.n).toBe(0);

    // replace: same sequence, the old 1000 rows stay visible to the snapshot
    await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    await reader.query("SELECT 1 FROM pg_class LIMIT 1");
    await load({ db: TEST_DATABASE_URL, table: { schema, name: "rr" }, mode: "replace", columns: ["id", "v"], rows: [[1, "new"], [2, "new"]], onEvent: quiet });
    const replaceSeen = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T("rr")}`);
    await reader.query("COMMIT");
    expect(replaceSeen.rows[0]!.n).toBe(1000);

    // swap while the RR reader already read the table: the rename waits for it (it holds ACCESS SHARE)
    await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    expect((await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T("rr")}`)).rows[0]!.n).toBe(2);
    const events: PgLoadEvent[] = [];
    const p = load({ db: TEST_DATABASE_URL, table: { schema, name: "rr" }, mode: "swap", lockTimeoutMs: 100, columns: ["id", "v"], rows: [[3, "newer"]], onEvent: (e) => events.push(e) });
    await new Promise((r) => setTimeout(r, 600));
    expect((await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T("rr")}`)).rows[0]!.n).toBe(2);
    await reader.query("COMMIT");
    const r = await p;
    expect(r.retries).toBeGreaterThan(0);
    expect(events.some((e) => e.type === "retry" && e.code === "55P03")).toBe(true);
  } finally {
    await reader.end();
  }
});
