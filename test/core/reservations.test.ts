import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ranksAbove, type Entry } from "../../src/core/admission/admission.js";
import { Reservations } from "../../src/core/admission/reservations.js";

const RATE = 1 / 60_000;

function entry(i: number, weight: number, readyAt: number): Entry {
  return { id: `e${i}`, pipeline: "p", run: 1, task: `t${i}`, group: `g${i}`, weight, readyAt, demand: [], seq: i, removed: false } as unknown as Entry;
}

describe("Reservations", () => {
  it("answers what is held above any entry as a scan of every reservation would, through sets and deletes", () => {
    const op = fc.record({ add: fc.boolean(), i: fc.nat({ max: 59 }), amount: fc.integer({ min: 1, max: 5 }) });
    fc.assert(
      fc.property(fc.array(fc.record({ weight: fc.integer({ min: 0, max: 5 }), readyAt: fc.integer({ min: 0, max: 600_000 }) }), { minLength: 60, maxLength: 60 }), fc.array(op, { maxLength: 200 }), (specs, ops) => {
        const entries = specs.map((s, i) => entry(i, s.weight, s.readyAt));
        const index = new Reservations(RATE);
        const plain = new Map<string, { entry: Entry; amount: number }>();
        for (const o of ops) {
          const e = entries[o.i] as Entry;
          if (o.add) {
            index.set(e.id, { entry: e, amount: o.amount });
            plain.set(e.id, { entry: e, amount: o.amount });
          } else {
            expect(index.delete(e.id)).toBe(plain.delete(e.id));
          }
          expect(index.size).toBe(plain.size);
          for (const probe of entries) {
            const above = [...plain.values()].filter((r) => r.entry !== probe && ranksAbove(r.entry, probe, RATE));
            expect(index.heldAbove(probe)).toBe(above.reduce((sum, r) => sum + r.amount, 0));
            const { ids, total } = index.holdersAbove(probe, 5);
            expect(total).toBe(above.length);
            expect(new Set(ids).size).toBe(Math.min(5, above.length));
            for (const id of ids) expect(above.some((r) => r.entry.id === id)).toBe(true);
          }
        }
      }),
      { numRuns: 60, seed: 7 },
    );
  });
});
