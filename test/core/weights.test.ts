import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeWeights, type WeightInput, type WeightRule } from "../../src/core/weights.js";
import { randomDag } from "./random-dag.js";

const task = (id: string, priority: number, dependsOn: string[] = [], weightRule: WeightRule = "downstream"): WeightInput => ({
  id,
  priority,
  weightRule,
  dependsOn,
});

// A(1) → B(2), A → C(3), B → D(1), C → D(1)
const diamond = (rule: WeightRule) => [
  task("A", 1, [], rule),
  task("B", 2, ["A"], rule),
  task("C", 3, ["A"], rule),
  task("D", 1, ["B", "C"], rule),
];

describe("computeWeights", () => {
  it("downstream: own + each descendant once (the diamond's tail counts once)", () => {
    const w = computeWeights(diamond("downstream"));
    expect(Object.fromEntries(w)).toEqual({ A: 7, B: 3, C: 4, D: 1 });
    // With one slot: A first, then the heavier of B and C, then D.
    const ready = ["B", "C"].sort((x, y) => w.get(y)! - w.get(x)!);
    expect(["A", ...ready, "D"]).toEqual(["A", "C", "B", "D"]);
  });

  it("upstream: own + each ancestor once", () => {
    expect(Object.fromEntries(computeWeights(diamond("upstream")))).toEqual({ A: 1, B: 3, C: 4, D: 7 });
  });

  it("absolute: own only", () => {
    expect(Object.fromEntries(computeWeights(diamond("absolute")))).toEqual({ A: 1, B: 2, C: 3, D: 1 });
  });

  it("applies each task's own rule, summing the others' own priorities", () => {
    const tasks = [task("A", 1), task("B", 2, ["A"], "absolute"), task("C", 5, ["B"], "upstream")];
    expect(Object.fromEntries(computeWeights(tasks))).toEqual({ A: 8, B: 2, C: 8 });
  });

  it("ignores unknown dependencies", () => {
    expect(computeWeights([task("A", 4, ["ghost"])]).get("A")).toBe(4);
  });

  it("matches a brute-force count over unique descendants / ancestors on random DAGs", () => {
    fc.assert(
      fc.property(randomTasks(-5), (tasks) => {
        const weights = computeWeights(tasks);
        for (const t of tasks) {
          const related = t.weightRule === "downstream" ? bruteDescendants(tasks, t.id) : t.weightRule === "upstream" ? bruteAncestors(tasks, t.id) : [];
          expect(weights.get(t.id)).toBe(t.priority + related.reduce((sum, o) => sum + o.priority, 0));
          if (t.weightRule === "absolute") expect(weights.get(t.id)).toBe(t.priority);
        }
      }),
    );
  });

  it("downstream weight ≥ own + any descendant's own priority (non-negative priorities)", () => {
    fc.assert(
      fc.property(randomTasks(0, "downstream"), (tasks) => {
        const weights = computeWeights(tasks);
        for (const t of tasks) {
          for (const d of bruteDescendants(tasks, t.id)) expect(weights.get(t.id)!).toBeGreaterThanOrEqual(t.priority + d.priority);
        }
      }),
    );
  });
});

/** Random DAGs of tasks with random priorities ≥ `minPriority` and rules (or the given rule). */
function randomTasks(minPriority: number, rule?: WeightRule): fc.Arbitrary<WeightInput[]> {
  const rules = rule === undefined ? fc.constantFrom<WeightRule>("downstream", "upstream", "absolute") : fc.constant(rule);
  return randomDag().chain(({ nodes, edges }) => {
    const n = nodes.length;
    return fc
      .tuple(fc.array(fc.integer({ min: minPriority, max: 20 }), { minLength: n, maxLength: n }), fc.array(rules, { minLength: n, maxLength: n }))
      .map(([priorities, weightRules]) =>
        nodes.map((id, i) => task(id, priorities[i]!, edges.filter(([, to]) => to === id).map(([from]) => from), weightRules[i]!)),
      );
  });
}

/** Tasks that (transitively) depend on `id`, found by walking every task's parents: no dag.ts involved. */
function bruteDescendants(tasks: readonly WeightInput[], id: string): WeightInput[] {
  return tasks.filter((o) => o.id !== id && dependsTransitively(tasks, o.id, id));
}

function bruteAncestors(tasks: readonly WeightInput[], id: string): WeightInput[] {
  return tasks.filter((o) => o.id !== id && dependsTransitively(tasks, id, o.id));
}

function dependsTransitively(tasks: readonly WeightInput[], from: string, on: string, seen = new Set<string>()): boolean {
  const parents = tasks.find((t) => t.id === from)?.dependsOn ?? [];
  return parents.some((p) => p === on || (!seen.has(p) && (seen.add(p), dependsTransitively(tasks, p, on, seen))));
}
