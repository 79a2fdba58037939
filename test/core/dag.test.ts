import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ancestors, DagCycleError, descendants, findCycle, topoSort, type Edge } from "../../src/core/dag.js";
import { randomDag } from "./random-dag.js";

describe("topoSort", () => {
  it("puts dependencies first and keeps declaration order for ties", () => {
    const nodes = ["load", "extract_b", "extract_a", "report"];
    const edges: Edge<string>[] = [["extract_a", "load"], ["extract_b", "load"], ["load", "report"]];
    expect(topoSort(nodes, edges)).toEqual(["extract_b", "extract_a", "load", "report"]);
  });

  it("returns independent nodes in their given order", () => {
    expect(topoSort(["c", "a", "b"], [])).toEqual(["c", "a", "b"]);
  });

  it("ignores edges to unknown nodes and repeated edges", () => {
    expect(topoSort(["a", "b"], [["x", "a"], ["a", "b"], ["a", "b"]])).toEqual(["a", "b"]);
  });

  it("throws a DagCycleError carrying the cycle", () => {
    const error = (() => {
      try {
        topoSort(["a", "b", "c"], [["a", "b"], ["b", "c"], ["c", "b"]]);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DagCycleError);
    expect((error as DagCycleError<string>).cycle).toEqual(["b", "c", "b"]);
    expect((error as Error).message).toContain("b → c → b");
  });

  it("respects every edge on random DAGs, and is stable", () => {
    fc.assert(
      fc.property(randomDag(), ({ nodes, edges }) => {
        const order = topoSort(nodes, edges);
        expect([...order].sort()).toEqual([...nodes].sort());
        const pos = new Map(order.map((n, i) => [n, i]));
        for (const [from, to] of edges) expect(pos.get(from)!).toBeLessThan(pos.get(to)!);
        // Stability: with no edges the order is the given one.
        expect(topoSort(nodes, [])).toEqual(nodes);
      }),
    );
  });
});

describe("findCycle", () => {
  it("returns undefined for a DAG", () => {
    expect(findCycle(["a", "b", "c"], [["a", "b"], ["a", "c"], ["b", "c"]])).toBeUndefined();
  });

  it("returns the closed path starting at the earliest-listed node", () => {
    expect(findCycle(["a", "b", "c", "d"], [["d", "b"], ["b", "c"], ["c", "d"]])).toEqual(["b", "c", "d", "b"]);
  });

  it("finds a self-edge", () => {
    expect(findCycle(["a", "b"], [["a", "b"], ["b", "b"]])).toEqual(["b", "b"]);
  });

  it("handles a chain of 50,000 nodes without overflowing the stack", () => {
    const nodes = Array.from({ length: 50_000 }, (_, i) => i);
    const edges = nodes.slice(1).map((n): Edge<number> => [n - 1, n]);
    expect(findCycle(nodes, edges)).toBeUndefined();
    expect(topoSort(nodes, edges)).toEqual(nodes);
    expect(findCycle(nodes, [...edges, [49_999, 0]])).toHaveLength(50_001);
  });

  it("finds a cycle whenever a back edge is added to a random DAG", () => {
    fc.assert(
      fc.property(randomDag(), ({ nodes, edges }) => {
        if (edges.length === 0) return;
        const [from, to] = edges[0]!;
        // `to` is reachable from `from`; an edge back closes a cycle.
        const cycle = findCycle(nodes, [...edges, [to, from]]);
        expect(cycle).toBeDefined();
        expect(cycle![0]).toBe(cycle![cycle!.length - 1]);
        const all = new Set([...edges, [to, from]].map(([a, b]) => `${a}>${b}`));
        for (let i = 0; i + 1 < cycle!.length; i++) expect(all.has(`${cycle![i]}>${cycle![i + 1]}`)).toBe(true);
      }),
    );
  });
});

describe("ancestors / descendants", () => {
  const nodes = ["a", "b", "c", "d", "e"];
  const edges: Edge<string>[] = [["a", "b"], ["a", "c"], ["b", "d"], ["c", "d"], ["d", "e"]];

  it("collect each related node once", () => {
    expect([...descendants(nodes, edges, "a")].sort()).toEqual(["b", "c", "d", "e"]);
    expect([...ancestors(nodes, edges, "d")].sort()).toEqual(["a", "b", "c"]);
    expect(descendants(nodes, edges, "e").size).toBe(0);
    expect(ancestors(nodes, edges, "a").size).toBe(0);
  });

  it("are mirror images of each other on random DAGs", () => {
    fc.assert(
      fc.property(randomDag(), ({ nodes, edges }) => {
        for (const x of nodes) {
          for (const y of descendants(nodes, edges, x)) expect(ancestors(nodes, edges, y).has(x)).toBe(true);
          expect(descendants(nodes, edges, x).has(x)).toBe(false);
        }
      }),
    );
  });
});
