/**
 * Sluice's public API: define pipelines and pools in `sluice.config.ts`, then run them with the
 * `sluice` CLI, or start them from your own service with {@link start}.
 *
 * @example
 * import { defineConfig, pipeline } from "sluice";
 * const daily = pipeline("daily_sales", { schedule: { every: "15m" } });
 * daily.task("extract", { pools: { warehouse_db: 1 } }, async (ctx) => ctx.log.info("hi"));
 * export default defineConfig({ pools: { warehouse_db: { slots: 10 } }, pipelines: [daily] });
 */
export * from "./define/index.js";
export type { WaitReason, ResourceUsage, Holder } from "./core/admission/types.js";
export { simulate, type SimulationOptions, type SimulationResult } from "./core/simulate.js";
export { SluiceError, UnknownPipelineError } from "./core/errors.js";
export { start, Sluice, START_DEFAULTS, type StartOptions, type SluiceEvents, type LogLevel } from "./runtime/sluice.js";
export type { TaskExplanation } from "./core/engine/types.js";
export type { RunQuery, AttemptQuery, EventQuery } from "./store/types.js";
export type {
  RunRecord,
  RunState,
  RunTrigger,
  TaskInstanceRecord,
  TaskState,
  AttemptRecord,
  AttemptState,
  HeldResource,
  EventRecord,
  EpochMs,
} from "./core/records.js";
export type { Logger } from "./observe/logger.js";
export { SchedulerBusyError } from "./scheduler/scheduler.js";
export { serve, SERVE_DEFAULTS, type ServeOptions, type Served, type ServedSluice } from "./server/server.js";
export {
  TaskDatabaseError,
  UnknownDatabaseError,
  DatabaseSlotsError,
  DatabaseCheckoutTimeoutError,
  DatabaseAttemptEndedError,
  DatabaseUrlError,
} from "./worker/database-errors.js";
