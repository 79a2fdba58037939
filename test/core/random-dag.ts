import fc from "fast-check";
import type { Edge } from "../../src/core/dag.js";

/**
 * Random DAGs for property tests: nodes `t0…tn` in declaration order; edges follow a hidden
 * random ranking of the nodes (always from a lower rank to a higher one), so they are acyclic
 * without being in declaration order.
 */
export function randomDag(maxNodes = 12): fc.Arbitrary<{ nodes: string[]; edges: Edge<string>[] }> {
  return fc.integer({ min: 1, max: maxNodes }).chain((n) => {
    const nodes = Array.from({ length: n }, (_, i) => `t${i}`);
    return fc
      .tuple(
        fc.shuffledSubarray(nodes, { minLength: n, maxLength: n }),
        fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 2 }),
      )
      .map(([rank, pairs]) => ({
        nodes,
        edges: pairs
          .filter(([i, j]) => i !== j)
          .map(([i, j]): Edge<string> => (i < j ? [rank[i]!, rank[j]!] : [rank[j]!, rank[i]!])),
      }));
  });
}
