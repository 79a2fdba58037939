/**
 * The definitions as data: what the scheduler records in the store so that commands run with
 * only `--db` (an operator's laptop has the store's URL, not the code) can explain, cancel and
 * trigger, and so that a worker can tell whether its code matches the scheduler's.
 */
import { createHash } from "node:crypto";
import type { ResolvedConfig, ResolvedPipeline, ResolvedTask } from "./resolved.js";

/** A {@link ResolvedConfig} without its task functions, hooks and webhooks, as JSON. */
export type DefinitionsJson = Omit<ResolvedConfig, "pipelines" | "notify" | "databases"> & {
  pipelines: Array<Omit<ResolvedPipeline, "tasks" | "hooks"> & { tasks: Array<Omit<ResolvedTask, "fn" | "hooks">> }>;
};

/**
 * The config without functions (JSON-safe: `undefined` fields are dropped by JSON). Hooks and
 * `notify` stay out: they run in the scheduler process only (so they are not a difference a
 * worker must match), and webhook headers often carry secrets that do not belong in the store.
 */
export function definitionsOf(config: ResolvedConfig): DefinitionsJson {
  // `databases` too: their URLs carry passwords, and each process reads its own (`{ env }`).
  const { notify: _notify, databases: _databases, ...rest } = config;
  return {
    ...rest,
    pipelines: config.pipelines.map(({ hooks: _hooks, ...p }) => ({ ...p, tasks: p.tasks.map(({ fn: _fn, hooks: _taskHooks, ...task }) => task) })),
  };
}

/** A stable digest of the definitions: equal exactly when every pipeline, task and option is. */
export function fingerprintOf(definitions: DefinitionsJson): string {
  return createHash("sha256").update(stableJson(definitions)).digest("hex").slice(0, 16);
}

/**
 * A runnable-looking config from recorded definitions: admission, explain, cancel and trigger
 * work; a task function, if ever called, says why it cannot run here.
 */
export function reviveDefinitions(json: DefinitionsJson): ResolvedConfig {
  return {
    ...json,
    pipelines: json.pipelines.map((p) => ({
      ...p,
      schedule: p.schedule ?? undefined,
      tasks: p.tasks.map((t) => ({
        ...t,
        fn: () => {
          throw new Error(`${t.key}: this process has the definitions recorded in the store, not the code; run it with its config (-c)`);
        },
      })),
    })),
  } as ResolvedConfig;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The tasks of `mine` (a worker's definitions) that the scheduler's `theirs` defines differently or
 * not at all, each with what differs: a worker does not run them (old code against new definitions,
 * or the reverse, during a rolling deploy).
 */
export function differingTasks(mine: DefinitionsJson, theirs: DefinitionsJson): Array<{ task: string; why: string }> {
  const theirTasks = new Map(theirs.pipelines.flatMap((p) => p.tasks.map((t) => [t.key, t] as const)));
  const out: Array<{ task: string; why: string }> = [];
  for (const p of mine.pipelines) {
    for (const t of p.tasks) {
      const other = theirTasks.get(t.key);
      if (!other) {
        out.push({ task: t.key, why: "the scheduler's definitions have no such task" });
        continue;
      }
      const fields = [...new Set([...Object.keys(t), ...Object.keys(other)])].filter(
        (k) => stableJson((t as Record<string, unknown>)[k] ?? null) !== stableJson((other as Record<string, unknown>)[k] ?? null),
      );
      if (fields.length > 0) out.push({ task: t.key, why: `${fields.sort().join(", ")} differ${fields.length === 1 ? "s" : ""}` });
    }
  }
  return out;
}
