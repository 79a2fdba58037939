import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { load } from "../../src/pg/index.js";
import { dropSchemas, freshSchema } from "../support/pg.js";
import { connect, fingerprint, TEST_DATABASE_URL } from "./helpers.js";

const schema = freshSchema("pgcrash");
let c: pg.Client;
const T = (name: string): string => `"${schema}"."${name}"`;
const LOADER = fileURLToPath(new URL("./fixtures/crash-loader.mjs", import.meta.url));

beforeAll(async () => {
  c = await connect();
  await c.query(`CREATE SCHEMA "${schema}"`);
});
afterAll(async () => {
  await c.end();
  await dropSchemas(schema);
});

/** Starts the loader (node itself, so the SIGKILL hits the process holding the connection), waits until it pauses at `step`, SIGKILLs it. */
function killAt(table: string, mode: string, step: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOADER], { env: { ...process.env, DB: TEST_DATABASE_URL, SCHEMA: schema, TABLE: table, MODE: mode, PAUSE_AT: step }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(`PAUSED ${step}`)) child.kill("SIGKILL");
    });
    child.on("exit", (code, signal) => (signal === "SIGKILL" ? resolve(out) : reject(new Error(`loader exited ${code} before pausing at ${step}: ${out}${err}`))));
  });
}

const STEPS: Record<string, string[]> = {
  swap: ["cleanup", "check", "create", "copy", "mid-copy", "analyze", "lock", "drop-old"],
  replace: ["cleanup", "copy", "mid-copy", "lock"],
  upsert: ["cleanup", "copy", "mid-copy", "lock"],
};

describe("5: SIGKILL of the loader at each step leaves the table intact and the next run cleans up", () => {
  for (const [mode, steps] of Object.entries(STEPS)) {
    it(mode, async () => {
      const table = `c_${mode}`;
      await c.query(`CREATE TABLE ${T(table)} (id int PRIMARY KEY, v text NOT NULL)`);
      await c.query(`INSERT INTO ${T(table)} SELECT g, 'old' || g FROM generate_series(1, 3000) g`);
      const old = await fingerprint(c, T(table));
      await c.query(`CREATE TEMP TABLE IF NOT EXISTS want (id int, v text)`);
      await c.query(`TRUNCATE want`);
      await c.query(`INSERT INTO want SELECT g, 'new' || g FROM generate_series(1, 5000) g`);
      const fresh = await fingerprint(c, "want");
      for (const step of steps) {
        await killAt(table, mode, step);
        const now = await fingerprint(c, T(table));
        // before the swap's rename the old rows; after it (drop-old) the complete new ones — never a mix
        expect([old, fresh], `after SIGKILL at ${mode}/${step}`).toContainEqual(now);
        if (mode === "swap" && step !== "drop-old") expect(now).toEqual(old);
        if (mode === "swap" && (step === "analyze" || step === "drop-old")) {
          const leftover = step === "analyze" ? `${table}__sluice_new` : `${table}__sluice_old`;
          expect((await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [T(leftover)])).rows[0], `leftover after ${step}`).toEqual({ ok: true });
        }
      }
      const r = await load({ db: TEST_DATABASE_URL, table: { schema, name: table }, mode: mode as "swap", key: ["id"], columns: ["id", "v"], rows: (function* () { for (let i = 1; i <= 5000; i++) yield [i, `new${i}`]; })(), onEvent: () => undefined });
      expect(r.rowsWritten).toBe(5000);
      expect(await fingerprint(c, T(table))).toEqual(fresh);
      const left = await c.query(`SELECT relname FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE nspname = $1 AND relname LIKE '%sluice%'`, [schema]);
      expect(left.rows).toEqual([]);
    }, 90_000);
  }
});
