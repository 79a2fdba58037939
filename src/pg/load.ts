/**
 * `load`: one entry point for every mode. It takes one connection for the whole load (staging
 * tables are per session), runs the mode and reports rows written, time, retries and lock wait.
 */
import pg from "pg";
import type { ModeContext, PgLoadStep } from "./context.js";
import type { RowSource } from "./copy.js";
import { PgOptionsError } from "./errors.js";
import { qualified, quoteIdent, tableName, type TableName } from "./identifiers.js";
import { partition, type PartitionOptions } from "./modes/partition.js";
import { replace, type ReplaceWhere } from "./modes/replace.js";
import { swap } from "./modes/swap.js";
import { truncate } from "./modes/truncate.js";
import { upsert } from "./modes/upsert.js";
import type { PgLoadEvent } from "./retry.js";

/** The load modes. */
export type LoadMode = "swap" | "replace" | "upsert" | "partition" | "truncate";

/** Options of {@link load}. */
export interface LoadOptions {
  /** A connection string, a pg.Pool (one client is borrowed and returned) or a connected client. */
  db: string | pg.Pool | pg.ClientBase;
  /** `"schema.table"`, `"table"` or `{ schema, name }` (use the object form when a name has a dot). */
  table: string | TableName;
  mode: LoadMode;
  /** Column names, in the order of each row's values. */
  columns: readonly string[];
  /** Rows as arrays: an array, an (async) iterable, or an object-mode Node stream. */
  rows: RowSource;
  /** lock_timeout of each lock-taking attempt. Default 1000. */
  lockTimeoutMs?: number;
  /** Retry lock conflicts until this many ms after the load started. Default 60000. */
  deadlineMs?: number;
  /** `replace`: the window to delete (default everything). */
  where?: ReplaceWhere;
  /** `upsert`: the conflict key columns. */
  key?: readonly string[];
  /** `upsert`: skip updates that would change nothing (`IS DISTINCT FROM`). Default false. */
  skipUnchanged?: boolean;
  /** `partition`: the partition to load. */
  partition?: PartitionOptions;
  /** Events: retries (with who was blocking), warnings, steps. Default: warnings and retries to stderr. */
  onEvent?: (e: PgLoadEvent) => void;
  /** Called at each step before it runs (awaited). */
  onStep?: (step: PgLoadStep) => void | Promise<void>;
}

/** What {@link load} reports. */
export interface LoadResult {
  mode: LoadMode;
  table: string;
  rowsWritten: number;
  durationMs: number;
  retries: number;
  lockWaitMs: number;
  /** `replace`: rows deleted, left as dead tuples for (auto)vacuum. */
  deadTuples?: number;
}

/** Defaults of {@link LoadOptions}. */
export const LOAD_DEFAULTS = {
  lockTimeoutMs: 1000,
  deadlineMs: 60_000,
  baseDelayMs: 50,
  maxDelayMs: 1000,
  skipUnchanged: false,
} satisfies Record<string, number | boolean>;

const MODES: readonly LoadMode[] = ["swap", "replace", "upsert", "partition", "truncate"];

function defaultEvent(e: PgLoadEvent): void {
  if (e.type === "warning") process.stderr.write(`sluice/pg warning: ${e.message}\n`);
  else if (e.type === "retry") {
    const who = e.blockers.map((b) => `pid ${b.pid} [${b.applicationName || "-"}] ${b.state ?? "?"} xact ${b.transactionAgeMs ?? "-"}ms: ${b.query.slice(0, 80)}`).join("; ");
    process.stderr.write(`sluice/pg: ${e.step} attempt ${e.attempt} failed with ${e.code}, retrying in ${e.delayMs}ms${who ? `; blocked by ${who}` : ""}\n`);
  }
}

/**
 * Loads rows into a PostgreSQL table without blocking its readers (except `truncate`, only when
 * asked for). Lock conflicts are retried up to the deadline; data errors are thrown at once.
 *
 * @example
 * import { load } from "sluice/pg";
 * const r = await load({
 *   db: "postgres://localhost/app", table: "public.daily", mode: "swap",
 *   columns: ["id", "total"], rows: [[1, 10], [2, 20]],
 * });
 * console.log(r.rowsWritten, r.retries, r.lockWaitMs);
 */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  if (!MODES.includes(options.mode)) throw new PgOptionsError(`mode must be one of ${MODES.join(", ")}; got ${JSON.stringify(options.mode)}`);
  if (!Array.isArray(options.columns) || options.columns.length === 0) throw new PgOptionsError("columns must name at least one column");
  const table = tableName(options.table);
  const live = qualified(table);
  options.columns.forEach(quoteIdent);
  const onEvent = options.onEvent ?? defaultEvent;
  let client: pg.ClientBase;
  let release: () => Promise<void>;
  if (typeof options.db === "string") {
    const c = new pg.Client({ connectionString: options.db, application_name: `sluice/pg ${options.mode} ${table.name}`.slice(0, 63) });
    await c.connect();
    client = c;
    release = () => c.end();
  } else if (options.db instanceof pg.Pool) {
    const c = await options.db.connect();
    client = c;
    release = async () => c.release();
  } else {
    client = options.db;
    release = async () => undefined;
  }
  const stats = { retries: 0, lockWaitMs: 0 };
  const ctx: ModeContext = {
    client,
    table,
    live,
    columns: options.columns,
    rows: options.rows,
    stats,
    emit: onEvent,
    retry: {
      lockTimeoutMs: options.lockTimeoutMs ?? LOAD_DEFAULTS.lockTimeoutMs,
      deadline: started + (options.deadlineMs ?? LOAD_DEFAULTS.deadlineMs),
      baseDelayMs: LOAD_DEFAULTS.baseDelayMs,
      maxDelayMs: LOAD_DEFAULTS.maxDelayMs,
      onEvent,
    },
    step: async (s) => {
      onEvent({ type: "step", step: s });
      await options.onStep?.(s);
    },
  };
  try {
    const exists = await client.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [live]);
    if (!exists.rows[0]?.ok) throw new PgOptionsError(`table ${live} does not exist; create it first (every mode loads into an existing table's shape)`);
    const r =
      options.mode === "swap"
        ? await swap(ctx)
        : options.mode === "replace"
          ? await replace(ctx, options.where)
          : options.mode === "upsert"
            ? await upsert(ctx, options.key ?? [], options.skipUnchanged ?? LOAD_DEFAULTS.skipUnchanged)
            : options.mode === "partition"
              ? await partition(ctx, options.partition)
              : await truncate(ctx);
    return { mode: options.mode, table: live, rowsWritten: r.rowsWritten, durationMs: Date.now() - started, retries: stats.retries, lockWaitMs: stats.lockWaitMs, ...(r.deadTuples === undefined ? {} : { deadTuples: r.deadTuples }) };
  } finally {
    await release();
  }
}
