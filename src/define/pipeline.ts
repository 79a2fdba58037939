import type { PipelineDefinition, PipelineOptions, TaskDefinition, TaskFn, TaskOptions, TaskRef } from "./types.js";

/**
 * Marks objects made by {@link pipeline}. A registered symbol, not a class, so a definition made
 * by another copy of this module (two installs, a bundled config) is still recognised.
 */
export const PIPELINE_BRAND: unique symbol = Symbol.for("sluice.pipeline");

/** True for objects made by {@link pipeline}, whichever copy of Sluice made them. */
export function isPipelineDefinition(value: unknown): value is PipelineDefinition {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[PIPELINE_BRAND] === true;
}

/**
 * Declares a pipeline; add tasks with `.task(id, options?, fn)`, which returns a handle to use in
 * later tasks' `dependsOn`.
 *
 * Nothing is checked here: mistakes (duplicate ids, unknown pools, cycles, bad options) are all
 * reported together when the config is resolved, by `sluice inspect` or at start-up.
 *
 * @example
 * const sales = pipeline("daily_sales", { schedule: { cron: "0 2 * * *", timezone: "Europe/Paris" } });
 * const extract = sales.task("extract", { pools: { warehouse_db: 1 } }, async (ctx) => fetchRows(ctx.signal));
 * sales.task("load", { dependsOn: [extract], retries: 3 }, async (ctx) => load(ctx.upstream.extract));
 */
export function pipeline(id: string, options: PipelineOptions = {}): PipelineDefinition {
  const tasks: TaskDefinition[] = [];

  function task(taskId: string, fn: TaskFn): TaskRef;
  function task(taskId: string, taskOptions: TaskOptions, fn: TaskFn): TaskRef;
  function task(taskId: string, second: TaskOptions | TaskFn, third?: TaskFn): TaskRef {
    // Wrong argument kinds are recorded as given (validation names them); only the two-argument
    // form with a function is read as `(id, fn)`.
    const [taskOptions, fn] =
      typeof second === "function" && third === undefined ? [{}, second] : [second ?? {}, third];
    tasks.push(Object.freeze({ pipeline: id, id: taskId, options: taskOptions as TaskOptions, fn: fn as TaskFn }));
    return Object.freeze({ pipeline: id, id: taskId });
  }

  const definition: PipelineDefinition & { readonly [PIPELINE_BRAND]: true } = {
    [PIPELINE_BRAND]: true,
    id,
    options,
    get tasks(): ReadonlyArray<TaskDefinition> {
      return tasks;
    },
    task,
  };
  return definition;
}
