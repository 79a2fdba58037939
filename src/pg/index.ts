/**
 * `sluice/pg`: load into PostgreSQL without blocking readers, and see who blocks whom.
 *
 * @example
 * import { load } from "sluice/pg";
 * await load({ db: process.env.DATABASE_URL!, table: "daily", mode: "swap", columns: ["id"], rows: [[1]] });
 */
export { load, LOAD_DEFAULTS, type LoadMode, type LoadOptions, type LoadResult } from "./load.js";
export type { PgLoadStep } from "./context.js";
export type { RowSource } from "./copy.js";
export type { ReplaceWhere } from "./modes/replace.js";
export type { PartitionOptions } from "./modes/partition.js";
export { SHADOW_SUFFIX, OLD_SUFFIX } from "./modes/swap.js";
export { RETRYABLE_CODES, isRetryable, type PgLoadEvent } from "./retry.js";
export { blockingTree, lockHolders, renderTree, type BlockingSession } from "./blockers.js";
export { quoteIdent, qualified, type TableName } from "./identifiers.js";
export { updateInBatches, type BatchUpdateOptions } from "./batch-updater.js";
export { PgLoadError, PgIdentifierError, PgOptionsError, PgSwapDependentsError, PgDeadlineError } from "./errors.js";
