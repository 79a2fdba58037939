import { buildConfig } from "./build.js";
import { checkPipeline, type Capacity } from "./checks.js";
import { checkDatabasePools } from "./databases.js";
import { ConfigError } from "./errors.js";
import { isRecord } from "./fields.js";
import { issuesToProblems, problemAt, type Where } from "./issues.js";
import { checkWebhookPipelines } from "./notify.js";
import { readPipeline } from "./read.js";
import type { ConfigProblem, ResolvedConfig } from "./resolved.js";
import { configSchema } from "./schema.js";

/** What {@link resolveConfig} returns: the runnable config, or every problem found. */
export type ResolveResult =
  | { ok: true; config: ResolvedConfig; warnings: ConfigProblem[] }
  | { ok: false; problems: ConfigProblem[] };

/**
 * Validates a configuration and applies every default. Reports all problems at once, each with
 * the path of the option at fault (`pipelines.daily_sales.tasks.extract.pools.warehouse_db`) and
 * a message saying what is wrong and how to fix it. Warnings (an empty pipeline) do not stop it.
 *
 * @example
 * const result = resolveConfig(config);
 * if (!result.ok) console.error(formatProblems(result.problems));
 * else start(result.config);
 */
export function resolveConfig(config: unknown): ResolveResult {
  try {
    return resolveUnguarded(config);
  } catch (err) {
    // A getter that throws, a forged pipeline object, a Proxy: whatever the config's objects do
    // when read, the answer is a config problem, never a crash.
    const message = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      problems: [{ path: "", message: `reading the config threw: ${message}. Export a plain object made with defineConfig({ ... }), with pipelines made by pipeline(...).` }],
    };
  }
}

function resolveUnguarded(config: unknown): ResolveResult {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const top = configSchema.safeParse(config);
  if (!top.success) problems.push(...issuesToProblems(top.error.issues, { path: "" }));

  const raw = isRecord(config) ? config : {};
  const capacity = capacityOf(raw);
  const entries: readonly unknown[] = Array.isArray(raw.pipelines) ? raw.pipelines : [];
  const pipelines = entries.flatMap((entry, i) => readPipeline(entry, i, problems) ?? []);
  reportDuplicates(pipelines.map((p) => p.view), "pipeline", undefined, problems);
  checkWebhookPipelines(raw.notify, pipelines.map((p) => p.view.id), problems);
  checkDatabasePools(raw.databases, new Set(capacity.pools.keys()), problems);

  const edges = pipelines.map(({ view }) => {
    reportDuplicates(view.tasks, "task", view.id, problems);
    if (view.tasks.length === 0) {
      const message = `pipeline ${JSON.stringify(view.id)} has no tasks; add some with .task(id, fn) or remove it from pipelines.`;
      warnings.push(problemAt({ ...view.where, subject: undefined }, "tasks", message));
    }
    return checkPipeline(view, capacity, problems);
  });

  if (top.success && entries.length === 0) {
    warnings.push({ path: "pipelines", message: "the config has no pipelines, so Sluice has nothing to run; add some with defineConfig({ pipelines: [pipeline(\"…\")] })." });
  }
  if (!top.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: buildConfig(top.data, pipelines, edges), warnings };
}

/**
 * Like {@link resolveConfig}, for callers that cannot go on with a bad config.
 *
 * @example
 * const resolved = resolveConfigOrThrow(config); // throws ConfigError listing every problem
 * @throws {@link ConfigError} listing every problem.
 */
export function resolveConfigOrThrow(config: unknown): ResolvedConfig {
  const result = resolveConfig(config);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}

/** Pools and the worker budget, as far as they are valid, for the cross-checks. */
function capacityOf(raw: Record<string, unknown>): Capacity {
  const pools = new Map<string, number | undefined>();
  if (isRecord(raw.pools)) {
    for (const [poolName, pool] of Object.entries(raw.pools)) {
      // An adaptive pool may grow to its max: a demand is checked against that.
      const slots = isRecord(pool) ? (isRecord(pool.slots) ? pool.slots.max : pool.slots) : undefined;
      pools.set(poolName, typeof slots === "number" && Number.isInteger(slots) && slots >= 1 ? slots : undefined);
    }
  }
  const memoryMb = isRecord(raw.worker) ? raw.worker.memoryMb : undefined;
  const rateLimits = new Map<string, number | undefined>();
  if (isRecord(raw.rateLimits)) {
    for (const [limitName, r] of Object.entries(raw.rateLimits)) {
      const burst = isRecord(r) ? (r.burst ?? r.limit) : undefined;
      rateLimits.set(limitName, typeof burst === "number" && Number.isInteger(burst) && burst >= 1 ? burst : undefined);
    }
  }
  return { pools, workerMemoryMb: typeof memoryMb === "number" && memoryMb >= 1 ? memoryMb : undefined, rateLimits };
}

function reportDuplicates(
  items: readonly { id: string; where: Where }[],
  kind: "pipeline" | "task",
  pipeline: string | undefined,
  problems: ConfigProblem[],
): void {
  const positions = new Map<string, number[]>();
  items.forEach((item, i) => positions.set(item.id, [...(positions.get(item.id) ?? []), i + 1]));
  for (const [id, at] of positions) {
    // `#n` labels stand for invalid ids, which are reported on their own.
    if (at.length < 2 || id.startsWith("#")) continue;
    const scope = pipeline === undefined ? "" : ` in pipeline ${JSON.stringify(pipeline)}`;
    const message =
      `${kind} id ${JSON.stringify(id)} is used ${at.length} times${scope} (${kind}s #${at.join(", #")}); ` +
      `${kind} ids must be unique${pipeline === undefined ? "" : " within a pipeline"}, so rename all but one.`;
    const { path } = items[at[0]! - 1]!.where;
    problems.push(pipeline === undefined ? { path, pipeline: id, message } : { path, pipeline, task: id, message });
  }
}
