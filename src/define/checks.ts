/**
 * Checks across options: references between tasks, pools and the worker budget, and the DAG's
 * shape. They read the raw options defensively, so they still run (and report) when some option
 * of the same task failed its schema: every problem is reported in one pass.
 */
import { findCycle, type Edge } from "../core/dag.js";
import { isRecord, isTaskRef } from "./fields.js";
import { problemAt, type Where } from "./issues.js";
import type { ConfigProblem } from "./resolved.js";
import { describe, didYouMean, quoteList } from "./words.js";

/** A task as the cross-checks see it. */
export interface TaskView {
  id: string;
  where: Where;
  /** The options as the user wrote them (an empty object when they were not an object). */
  raw: Record<string, unknown>;
}

/** A pipeline as the cross-checks see it; `id` is `#n` when the id itself is invalid. */
export interface PipelineView {
  id: string;
  where: Where;
  tasks: TaskView[];
  /** The pipeline's `isolation` as written (its tasks' default). */
  isolation?: unknown;
}

/**
 * The least `memoryMb` an isolated task may declare. A child process starts at about 90 MB of
 * resident memory (Node, the TypeScript loader, the config) before the task allocates anything, and
 * its RSS is what the limit holds; a thread's heap holds the config's modules (a few MB).
 */
export const ISOLATION_MIN_MEMORY_MB = { thread: 32, process: 128 } as const;

/** What the cross-checks need from the top of the config, where it is valid. */
export interface Capacity {
  /** Declared pools and their slots (`undefined` when the slots value itself is invalid). */
  pools: Map<string, number | undefined>;
  workerMemoryMb: number | undefined;
  /** Declared rate limits and their burst (`undefined` when the limit itself is invalid). */
  rateLimits?: Map<string, number | undefined>;
}

/**
 * Reports bad references of one pipeline's tasks and a dependency cycle; returns the edges
 * (`[dependency, dependent]`) of the valid dependencies.
 */
export function checkPipeline(p: PipelineView, capacity: Capacity, problems: ConfigProblem[]): Edge<string>[] {
  // `#n` labels stand for invalid ids (reported elsewhere); nothing can depend on those tasks.
  const ids = [...new Set(p.tasks.map((t) => t.id).filter((id) => !id.startsWith("#")))];
  const edges: Edge<string>[] = [];
  const idSet = new Set(ids);
  const suggestions = { used: 0 };
  for (const task of p.tasks) {
    edges.push(...checkDependencies(p, task, ids, idSet, suggestions, problems).map((d): Edge<string> => [d, task.id]));
    checkPools(task, capacity, problems);
    checkMemory(task, capacity, problems);
    checkIsolation(task, p.isolation, problems);
    checkRate(task, capacity, problems);
  }
  const cycle = findCycle(ids, edges);
  if (cycle !== undefined) {
    const [first, closing] = [cycle[0]!, cycle[cycle.length - 2]!];
    const where = p.tasks.find((t) => t.id === first)?.where ?? p.where;
    problems.push(
      problemAt(
        where,
        "dependsOn",
        `tasks of pipeline ${JSON.stringify(p.id)} depend on each other in a cycle: ${cycle.join(" → ")} ` +
          "(each arrow points to a task that depends on the one before it), so none of them could ever start; " +
          `remove one of these dependencies, e.g. ${JSON.stringify(closing)} from the dependsOn of ${JSON.stringify(first)}.`,
      ),
    );
  }
  return edges;
}

/** The ids of the valid dependencies of `task`; reports the others. */
/** "Did you mean" suggestions given per pipeline (see checkDependencies). */
const SUGGESTIONS_PER_PIPELINE = 20;

function checkDependencies(p: PipelineView, task: TaskView, ids: string[], idSet: ReadonlySet<string>, suggestions: { used: number }, problems: ConfigProblem[]): string[] {
  const deps = task.raw.dependsOn;
  if (!Array.isArray(deps)) return [];
  const valid: string[] = [];
  deps.forEach((dep: unknown, k) => {
    const field = `dependsOn[${k}]`;
    if (isTaskRef(dep) && dep.pipeline !== p.id) {
      problems.push(
        problemAt(
          task.where,
          field,
          `${field} is task ${JSON.stringify(dep.id)} of pipeline ${JSON.stringify(dep.pipeline)}, but tasks may only ` +
            `depend on tasks of their own pipeline (${JSON.stringify(p.id)}); move both tasks into one pipeline or drop the dependency.`,
        ),
      );
      return;
    }
    const id = isTaskRef(dep) ? dep.id : dep;
    if (typeof id !== "string") return; // the schema reports it
    if (idSet.has(id)) {
      if (!valid.includes(id)) valid.push(id);
      return;
    }
    problems.push(
      problemAt(
        task.where,
        field,
        `${field} names ${describe(id)}, which is not a task of pipeline ${JSON.stringify(p.id)}.` +
          // A suggestion costs a pass over the pipeline's tasks: the first 20 get one, so 10,000
          // unknown names in a 10,000-task pipeline stay linear (0.3 s, was over 90 s).
          `${suggestions.used++ < SUGGESTIONS_PER_PIPELINE ? didYouMean(id, ids) : ""} Its tasks are ${quoteList(ids)}.`,
      ),
    );
  });
  return valid;
}

function checkPools(task: TaskView, capacity: Capacity, problems: ConfigProblem[]): void {
  const pools = task.raw.pools;
  if (!isRecord(pools)) return;
  const known = [...capacity.pools.keys()];
  for (const [name, demand] of Object.entries(pools)) {
    const field = `pools.${name}`;
    if (!capacity.pools.has(name)) {
      problems.push(
        problemAt(
          task.where,
          field,
          `uses pool ${JSON.stringify(name)}, which is not declared.${didYouMean(name, known)} ` +
            `Declared pools: ${quoteList(known)}. Fix the name or declare it: defineConfig({ pools: { ${name}: { slots: 4 } } }).`,
        ),
      );
      continue;
    }
    const slots = capacity.pools.get(name);
    if (slots !== undefined && typeof demand === "number" && demand > slots) {
      problems.push(
        problemAt(
          task.where,
          field,
          `needs ${demand} slots of pool ${JSON.stringify(name)}, which has only ${slots}, so it could never run; ` +
            `raise pools.${name}.slots to at least ${demand} or lower the task's demand.`,
        ),
      );
    }
  }
}

function checkIsolation(task: TaskView, pipelineIsolation: unknown, problems: ConfigProblem[]): void {
  const isolation = task.raw.isolation ?? pipelineIsolation;
  const memoryMb = task.raw.memoryMb;
  if ((isolation !== "thread" && isolation !== "process") || typeof memoryMb !== "number") return;
  const least = ISOLATION_MIN_MEMORY_MB[isolation];
  if (memoryMb >= least) return;
  const from = task.raw.isolation === undefined ? ` (its pipeline's isolation)` : "";
  const why =
    isolation === "process"
      ? "a child process uses about 90 MB (Node, the TypeScript loader and the config) before the task allocates anything, and the limit holds its whole resident memory"
      : "a thread's heap holds the config's modules before the task allocates anything";
  problems.push(
    problemAt(
      task.where,
      "memoryMb",
      `memoryMb is ${memoryMb} with isolation "${isolation}"${from}, below the least it can run in (${least} MB): ${why}; ` +
        `raise memoryMb to at least ${least}${isolation === "process" ? ', or use isolation "thread" (a heap limit only)' : ""}.`,
    ),
  );
}

function checkMemory(task: TaskView, capacity: Capacity, problems: ConfigProblem[]): void {
  const memoryMb = task.raw.memoryMb;
  const budget = capacity.workerMemoryMb;
  if (budget === undefined || typeof memoryMb !== "number" || memoryMb <= budget) return;
  problems.push(
    problemAt(
      task.where,
      "memoryMb",
      `memoryMb is ${memoryMb}, more than a worker's budget (worker.memoryMb = ${budget}), so no worker could ever run it; ` +
        "raise worker.memoryMb or lower the task's memoryMb.",
    ),
  );
}

function checkRate(task: TaskView, capacity: Capacity, problems: ConfigProblem[]): void {
  const rate = task.raw.rate;
  if (!isRecord(rate)) return;
  const limits = capacity.rateLimits ?? new Map<string, number | undefined>();
  const known = [...limits.keys()];
  for (const [name, tokens] of Object.entries(rate)) {
    const field = `rate.${name}`;
    if (!limits.has(name)) {
      problems.push(
        problemAt(
          task.where,
          field,
          `takes tokens of rate limit ${JSON.stringify(name)}, which is not declared.${didYouMean(name, known)} ` +
            `Declared rate limits: ${quoteList(known)}. Fix the name or declare it: defineConfig({ rateLimits: { ${name}: { limit: 100, per: "1m" } } }).`,
        ),
      );
      continue;
    }
    const burst = limits.get(name);
    if (burst !== undefined && typeof tokens === "number" && tokens > burst) {
      problems.push(
        problemAt(
          task.where,
          field,
          `takes ${tokens} tokens of rate limit ${JSON.stringify(name)} at once, more than its burst (${burst}), so it could never be admitted; ` +
            `raise rateLimits.${name}.burst to at least ${tokens} or take fewer tokens.`,
        ),
      );
    }
  }
}
