/**
 * Pure graph utilities over a DAG given as nodes plus `[from, to]` edges, where an edge means
 * "`from` must finish before `to`" (upstream → downstream). Node order matters: it is the
 * tie-breaker that makes every result here deterministic.
 *
 * Edges naming a node that is not in `nodes` are ignored, so a caller can still sort or look for
 * cycles in a graph whose dangling references it reports separately.
 */

/** A directed edge: `from` runs before `to`. */
export type Edge<T> = readonly [from: T, to: T];

/** Thrown by {@link topoSort} when the graph has a cycle; `cycle` is the path, closed (`[a, b, a]`). */
export class DagCycleError<T> extends Error {
  readonly code = "SLUICE_DAG_CYCLE";
  constructor(readonly cycle: readonly T[]) {
    super(`dependency cycle: ${cycle.map(String).join(" → ")}`);
    this.name = "DagCycleError";
  }
}

/** Where each node first appears in `nodes` (a node listed twice counts once). */
function firstIndex<T>(nodes: readonly T[]): Map<T, number> {
  const index = new Map<T, number>();
  nodes.forEach((n, i) => { if (!index.has(n)) index.set(n, i); });
  return index;
}

/** Successors (or, with `reverse`, predecessors) of each node, in edge order, known nodes only. */
export function adjacency<T>(nodes: readonly T[], edges: readonly Edge<T>[], reverse = false): Map<T, T[]> {
  // Sets drop repeated edges in O(1); a node with thousands of children stays linear.
  const sets = new Map<T, Set<T>>(nodes.map((n) => [n, new Set<T>()]));
  for (const [from, to] of edges) {
    const [a, b] = reverse ? [to, from] : [from, to];
    if (sets.has(b)) sets.get(a)?.add(b);
  }
  return new Map([...sets].map(([n, set]) => [n, [...set]]));
}

/**
 * Nodes with every edge's `from` before its `to`; among nodes that are free at the same time the
 * one listed first in `nodes` goes first (a stable sort).
 *
 * @example
 * topoSort(["load", "extract"], [["extract", "load"]]); // ["extract", "load"]
 * @throws {@link DagCycleError} when there is a cycle.
 */
export function topoSort<T>(nodes: readonly T[], edges: readonly Edge<T>[]): T[] {
  const index = firstIndex(nodes);
  const adj = adjacency(nodes, edges);
  const indegree = new Map<T, number>(nodes.map((n) => [n, 0]));
  for (const succ of adj.values()) for (const s of succ) indegree.set(s, (indegree.get(s) ?? 0) + 1);

  // A min-heap of declaration indexes: O((n + e) log n) rather than rescanning for the next node.
  const heap: number[] = [];
  const push = (i: number): void => {
    heap.push(i);
    for (let c = heap.length - 1, p = (c - 1) >> 1; c > 0 && heap[p]! > heap[c]!; c = p, p = (c - 1) >> 1) {
      [heap[p], heap[c]] = [heap[c]!, heap[p]!];
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let p = 0; ; ) {
        const l = 2 * p + 1, r = l + 1;
        let m = p;
        if (l < heap.length && heap[l]! < heap[m]!) m = l;
        if (r < heap.length && heap[r]! < heap[m]!) m = r;
        if (m === p) break;
        [heap[p], heap[m]] = [heap[m]!, heap[p]!];
        p = m;
      }
    }
    return top;
  };

  nodes.forEach((n, i) => { if (indegree.get(n) === 0 && index.get(n) === i) push(i); });
  const order: T[] = [];
  while (heap.length > 0) {
    const node = nodes[pop()]!;
    order.push(node);
    for (const s of adj.get(node) ?? []) {
      const d = (indegree.get(s) ?? 0) - 1;
      indegree.set(s, d);
      if (d === 0) push(index.get(s)!);
    }
  }
  if (order.length < index.size) throw new DagCycleError(findCycle(nodes, edges) ?? []);
  return order;
}

/**
 * One cycle of the graph as a closed path (`[a, b, c, a]`: a → b → c → a), starting at its
 * earliest-listed node, or `undefined` when the graph is acyclic. A self-edge gives `[a, a]`.
 *
 * @example
 * findCycle(["a", "b"], [["a", "b"], ["b", "a"]]); // ["a", "b", "a"]
 */
export function findCycle<T>(nodes: readonly T[], edges: readonly Edge<T>[]): T[] | undefined {
  const adj = adjacency(nodes, edges);
  const state = new Map<T, "open" | "done">();
  for (const root of nodes) {
    if (state.has(root)) continue;
    // Iterative depth-first search (a long chain of tasks must not overflow the call stack):
    // `path` is the open nodes from `root`, `next[i]` the next successor of `path[i]` to try.
    const path: T[] = [root];
    const next: number[] = [0];
    state.set(root, "open");
    while (path.length > 0) {
      const top = path.length - 1;
      const successor = adj.get(path[top]!)?.[next[top]!];
      if (successor === undefined) {
        state.set(path.pop()!, "done");
        next.pop();
        continue;
      }
      next[top] = next[top]! + 1;
      const s = state.get(successor);
      if (s === "open") return closeCycle(path.slice(path.indexOf(successor)), firstIndex(nodes));
      if (s === undefined) {
        state.set(successor, "open");
        path.push(successor);
        next.push(0);
      }
    }
  }
  return undefined;
}

/** `[b, c, a]` → `[a, b, c, a]`: rotated to start at the earliest-listed node, then closed. */
function closeCycle<T>(cycle: T[], index: ReadonlyMap<T, number>): T[] {
  let start = 0;
  cycle.forEach((n, i) => { if (index.get(n)! < index.get(cycle[start]!)!) start = i; });
  const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
  return [...rotated, rotated[0]!];
}

/** Every node reachable from `start` along `adj` (not `start` itself unless it is on a cycle). */
export function reachable<T>(adj: ReadonlyMap<T, readonly T[]>, start: T): Set<T> {
  const seen = new Set<T>();
  const frontier = [...(adj.get(start) ?? [])];
  for (let next = frontier.pop(); next !== undefined; next = frontier.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    frontier.push(...(adj.get(next) ?? []));
  }
  return seen;
}

/**
 * Every node that `node` waits for, directly or not, each once.
 * @example
 * ancestors(["a", "b", "c"], [["a", "b"], ["b", "c"]], "c"); // Set {"b", "a"}
 */
export function ancestors<T>(nodes: readonly T[], edges: readonly Edge<T>[], node: T): Set<T> {
  return reachable(adjacency(nodes, edges, true), node);
}

/**
 * Every node that waits for `node`, directly or not, each once.
 * @example
 * descendants(["a", "b", "c"], [["a", "b"], ["b", "c"]], "a"); // Set {"b", "c"}
 */
export function descendants<T>(nodes: readonly T[], edges: readonly Edge<T>[], node: T): Set<T> {
  return reachable(adjacency(nodes, edges), node);
}
