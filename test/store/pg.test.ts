// The PostgreSQL store: the conformance suite unchanged, plus what only PostgreSQL has.
import { afterAll, describe, expect, it } from "vitest";
import { PgStore } from "../../src/store/pg/pg-store.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import type { Store } from "../../src/store/types.js";
import { dropSchemas, freshSchema, pgUrl, TEST_DATABASE_URL } from "../support/pg.js";
import { describeStoreConformance } from "./conformance.js";

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
});
