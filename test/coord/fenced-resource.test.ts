/**
 * The fenced resource of docs/coord.md (examples/coord/fenced-resource.ts) refuses a write carrying
 * the token of a holder whose lease lapsed, on every backend; and the lapsed holder's signal aborts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { FencedStore, pause, StaleFencingTokenError } from "../../examples/coord/fenced-resource.js";
import { LeaseLostError, Mutex, type CoordBackend } from "../../src/coord/index.js";
import { backendFixture } from "./backends.js";

for (const kind of ["memory", "postgres", "redis"] as const) {
  describe(`${kind} backend`, () => {
    const fixture = backendFixture(kind, "fence");
    let backend: CoordBackend | null = null;
    afterAll(async () => {
      await backend?.close();
      await fixture.drop();
    });

    it("a stale fencing token is refused by the fenced resource", async () => {
      backend = fixture.open();
      const mutex = new Mutex({ backend, name: "report", leaseMs: 200 });
      const store = new FencedStore();
      const old = await mutex.acquire();
      store.write("report", "old, in time", old.fencingToken);
      pause(600); // no renewal can run: the lease lapses
      const current = await mutex.acquire({ timeout: 5_000 });
      expect(current.fencingToken).toBeGreaterThan(old.fencingToken);
      store.write("report", "current", current.fencingToken);
      const error = (() => {
        try {
          store.write("report", "late", old.fencingToken);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(StaleFencingTokenError);
      expect((error as StaleFencingTokenError).code).toBe("SLUICE_STALE_FENCING_TOKEN");
      expect(store.read("report")).toBe("current");
      // The old holder learns it lost the lease at its next renewal.
      await new Promise((r) => setTimeout(r, 300));
      expect(old.signal.aborted).toBe(true);
      expect(old.signal.reason).toBeInstanceOf(LeaseLostError);
      await old.release();
      await current.release();
    });
  });
}
