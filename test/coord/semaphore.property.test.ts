/**
 * fast-check properties of the in-memory semaphore: never over its permits, fencing tokens strictly
 * increase in grant order, and nothing waits forever once holders release.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { memoryBackend, Semaphore } from "../../src/coord/index.js";

describe("in-memory Semaphore (properties)", () => {
  it("never over permits, tokens strictly increase, every waiter is served", { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ permits: fc.integer({ min: 1, max: 4 }), holdMs: fc.integer({ min: 0, max: 3 }), startMs: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 25 }),
        async (limit, requests) => {
          const backend = memoryBackend();
          const sem = new Semaphore({ backend, name: "p", limit, fallbackPollMs: 50 });
          let used = 0;
          let maxUsed = 0;
          const tokens: number[] = [];
          await Promise.all(
            requests.map(async (r) => {
              const permits = Math.min(r.permits, limit);
              await new Promise((res) => setTimeout(res, r.startMs));
              // A generous timeout: hitting it means a waiter was never served.
              const permit = await sem.acquire({ permits, timeout: 10_000 });
              tokens.push(permit.fencingToken);
              used += permits;
              maxUsed = Math.max(maxUsed, used);
              await new Promise((res) => setTimeout(res, r.holdMs));
              used -= permits;
              await permit.release();
            }),
          );
          await backend.close();
          expect(maxUsed).toBeLessThanOrEqual(limit);
          expect(tokens.length).toBe(requests.length);
          for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
        },
      ),
      { numRuns: 60 },
    );
  });
});
