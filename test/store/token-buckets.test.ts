// The PostgreSQL store's token buckets (migration 0008): each decision is atomic across
// connections, refunds undo takes, a read peeks without taking. These are what the scheduler's
// admission and every worker's `ctx.take` / `ctx.throttle` share.
import { afterAll, describe, expect, it } from "vitest";
import { PgStore } from "../../src/store/pg/pg-store.js";
import { parsePgUrl } from "../../src/store/pg/connect.js";
import { dropSchemas, freshSchema, pgUrl } from "../support/pg.js";

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

async function stores(n: number): Promise<PgStore[]> {
  const schema = freshSchema("tokens");
  schemas.push(schema);
  const first = await PgStore.open(parsePgUrl(pgUrl(schema)));
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => PgStore.open(parsePgUrl(pgUrl(schema)), { migrate: false })));
  return [first, ...rest];
}

describe("PostgreSQL token buckets", () => {
  it("200 concurrent takes from 4 connections (pools) get exactly the burst when no token comes back in the meantime", async () => {
    const all = await stores(4);
    try {
      // One token an hour: nothing refills during the test.
      const shape = { emissionMs: 3_600_000, burst: 5 };
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => all[i % 4]!.takeTokens("rate:api", 1, 1, shape)));
      expect(results.filter((r) => r.taken === 1)).toHaveLength(5);
      expect(results.filter((r) => r.taken === 0).every((r) => r.retryAfterMs > 3_500_000)).toBe(true);
      // Up-to takes get what is left (nothing), all or nothing refuses.
      expect((await all[0]!.takeTokens("rate:api", 1, 10, shape)).taken).toBe(0);
    } finally {
      for (const s of all) await s.close();
    }
  });

  it("takes up to what is there, refunds undo it, peeks take nothing, and a bucket never holds more than its burst", async () => {
    const [store] = await stores(1);
    try {
      const shape = { emissionMs: 3_600_000, burst: 4 };
      expect(await store!.peekTokens("bandwidth:disk", shape)).toEqual({ tokens: 4, nextTokenMs: 0 });
      const first = await store!.takeTokens("bandwidth:disk", 1, 3, shape);
      expect(first).toMatchObject({ taken: 3, retryAfterMs: 0 });
      // One is still there: the next one beyond it comes after an emission interval.
      expect(first.nextTokenMs).toBeGreaterThan(3_500_000);
      const second = await store!.takeTokens("bandwidth:disk", 1, 3, shape);
      expect(second.taken).toBe(1);
      expect(second.nextTokenMs).toBeGreaterThan(3_500_000);
      expect((await store!.peekTokens("bandwidth:disk", shape)).tokens).toBe(0);
      await store!.refundTokens("bandwidth:disk", 2, shape);
      expect((await store!.peekTokens("bandwidth:disk", shape)).tokens).toBe(2);
      expect((await store!.takeTokens("bandwidth:disk", 3, 3, shape)).taken).toBe(0);
      // Refunding more than was taken leaves a full bucket, not more.
      await store!.refundTokens("bandwidth:disk", 100, shape);
      expect((await store!.peekTokens("bandwidth:disk", shape)).tokens).toBe(4);
      expect((await store!.takeTokens("bandwidth:disk", 1, 10, shape)).taken).toBe(4);
    } finally {
      await store!.close();
    }
  });
});
