import { afterAll, beforeAll, expect, it } from "vitest";
import type pg from "pg";
import { dropSchemas, freshSchema } from "../support/pg.js";
import { sluice } from "../cli/spawn.js";
import { connect, TEST_DATABASE_URL } from "./helpers.js";

const schema = freshSchema("pgblk");
let c: pg.Client;

beforeAll(async () => {
  c = await connect();
  await c.query(`CREATE SCHEMA "${schema}"`);
  await c.query(`CREATE TABLE "${schema}".t (id int)`);
});
afterAll(async () => {
  await c.end();
  await dropSchemas(schema);
});

it("sluice pg blockers shows the holder as the root and the waiters under it (text and --json)", async () => {
  const holder = await connect(schema, "blk-holder");
  const waiter = await connect(schema, "blk-waiter");
  const reader = await connect(schema, "blk-reader");
  await holder.query("BEGIN");
  await holder.query(`SELECT * FROM "${schema}".t`);
  const w = waiter.query(`TRUNCATE "${schema}".t`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  const rd = reader.query(`SELECT * FROM "${schema}".t`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  try {
    const json = await sluice(["pg", "blockers", "--db", TEST_DATABASE_URL, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    type Node = { pid: number; applicationName: string; blocking: Node[] };
    const { roots } = JSON.parse(json.stdout) as { roots: Node[] };
    expect(roots.length, json.stdout).toBeGreaterThan(0);
    const root = roots.find((r) => r.applicationName === "blk-holder");
    expect(root, json.stdout).toBeDefined();
    const waiterNode = root!.blocking.find((n) => n.applicationName === "blk-waiter");
    expect(waiterNode).toBeDefined();
    // the reader waits behind the queued ACCESS EXCLUSIVE request: it shows under the waiter
    expect(JSON.stringify(root)).toContain("blk-reader");
    const text = await sluice(["pg", "blockers", "--db", TEST_DATABASE_URL]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/pid \d+ \[blk-holder\][^\n]*\n\s+└─ pid \d+ \[blk-(waiter|reader)\]/);
  } finally {
    await holder.query("ROLLBACK");
    await Promise.all([w, rd]);
    await Promise.all([holder.end(), waiter.end(), reader.end()]);
  }
});
