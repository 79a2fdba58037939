import { adjacency, reachable, type Edge } from "./dag.js";

/** Same values as the public `WeightRule`; repeated here so `core/` stays self-contained. */
export type WeightRule = "downstream" | "upstream" | "absolute";

/** What {@link computeWeights} needs of a task. */
export interface WeightInput {
  readonly id: string;
  /** The task's own priority (Airflow's `priority_weight`). */
  readonly priority: number;
  readonly weightRule: WeightRule;
  /** Ids of tasks of the same graph it waits for; unknown ids are ignored. */
  readonly dependsOn: readonly string[];
}

/**
 * Each task's priority weight by its own rule, as Airflow computes it:
 * - `downstream`: own priority + the own priorities of all its descendants, each counted once
 *   (work that unblocks more work goes first);
 * - `upstream`: own priority + the own priorities of all its ancestors, each counted once
 *   (runs that are further along finish first);
 * - `absolute`: own priority only.
 *
 * Other tasks contribute their own `priority`, never their computed weight, so a diamond's
 * shared tail is counted once, not once per path.
 *
 * @example
 * // A → B, A → C, B → D, C → D with priorities A=1, B=2, C=3, D=1
 * computeWeights([
 *   { id: "A", priority: 1, weightRule: "downstream", dependsOn: [] },
 *   { id: "B", priority: 2, weightRule: "downstream", dependsOn: ["A"] },
 *   { id: "C", priority: 3, weightRule: "downstream", dependsOn: ["A"] },
 *   { id: "D", priority: 1, weightRule: "downstream", dependsOn: ["B", "C"] },
 * ]); // Map { A → 7, B → 3, C → 4, D → 1 }
 */
export function computeWeights(tasks: readonly WeightInput[]): Map<string, number> {
  const ids = tasks.map((t) => t.id);
  const edges: Edge<string>[] = tasks.flatMap((t) => t.dependsOn.map((d): Edge<string> => [d, t.id]));
  const own = new Map(tasks.map((t) => [t.id, t.priority]));
  // Built lazily: most pipelines use one rule, so only one direction is ever needed.
  let down: Map<string, string[]> | undefined;
  let up: Map<string, string[]> | undefined;

  const sumOver = (related: Set<string>, self: string): number => {
    let sum = 0;
    for (const id of related) if (id !== self) sum += own.get(id) ?? 0;
    return sum;
  };

  const weights = new Map<string, number>();
  for (const task of tasks) {
    switch (task.weightRule) {
      case "absolute":
        weights.set(task.id, task.priority);
        break;
      case "downstream":
        down ??= adjacency(ids, edges);
        weights.set(task.id, task.priority + sumOver(reachable(down, task.id), task.id));
        break;
      case "upstream":
        up ??= adjacency(ids, edges, true);
        weights.set(task.id, task.priority + sumOver(reachable(up, task.id), task.id));
        break;
      default: {
        const never: never = task.weightRule;
        throw new Error(`unknown weight rule ${String(never)}`);
      }
    }
  }
  return weights;
}
