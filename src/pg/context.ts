/**
 * What every mode gets: one connection, the target, its columns and the retry settings.
 */
import type pg from "pg";
import type { RowSource } from "./copy.js";
import type { TableName } from "./identifiers.js";
import type { PgLoadEvent, RetryOptions, RetryStats } from "./retry.js";

/** Steps a load goes through, in order; `onStep` is called at each (used to crash-test them). */
export type PgLoadStep = "cleanup" | "check" | "create" | "copy" | "index" | "analyze" | "lock" | "drop-old" | "attach" | "detach";

/** The per-load state a mode works with. */
export interface ModeContext {
  client: pg.ClientBase;
  table: TableName;
  /** The quoted, qualified live table. */
  live: string;
  columns: readonly string[];
  rows: RowSource;
  retry: RetryOptions;
  stats: RetryStats;
  step: (s: PgLoadStep) => Promise<void>;
  emit: (e: PgLoadEvent) => void;
}

/** What a mode returns. */
export interface ModeResult {
  rowsWritten: number;
  deadTuples?: number;
}
