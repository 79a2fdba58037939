/**
 * PostgreSQL for tests: the server at `SLUICE_TEST_DATABASE_URL` (default the local one), a fresh
 * schema per store, dropped after.
 */
import pg from "pg";

/** The test server. */
export const TEST_DATABASE_URL = process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

let counter = 0;

/** A schema name no other test (file, process, run) uses. */
export function freshSchema(prefix = "t"): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++counter}`;
}

/** The store URL for `schema` on the test server. */
export function pgUrl(schema: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("schema", schema);
  return url.toString();
}

/** Drops schemas (and everything in them). */
export async function dropSchemas(...schemas: string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * `describe.each` rows for a CLI test on both stores: SQLite (the sandbox's own file, `undefined`)
 * and a fresh PostgreSQL schema per call, recorded in `schemas` for {@link dropSchemas}.
 */
export function bothStores(prefix: string, schemas: string[]): ReadonlyArray<readonly ["SQLite" | "PostgreSQL", () => string | undefined]> {
  return [
    ["SQLite", () => undefined],
    [
      "PostgreSQL",
      () => {
        const s = freshSchema(prefix);
        schemas.push(s);
        return pgUrl(s);
      },
    ],
  ];
}

