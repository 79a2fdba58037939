/**
 * Connecting to PostgreSQL: the pool every PostgreSQL store uses (BIGINT read as numbers, the
 * store's schema on the search path of every connection), and the one-line words for what can go
 * wrong before the first query (refused, wrong password, no such database).
 */
import pg from "pg";
import type { PgLocation } from "./url.js";

export { DEFAULT_PG_SCHEMA, parsePgUrl, redactUrl, type PgLocation } from "./url.js";

/** int8 (BIGINT, count(*)) as a JavaScript number: every value Sluice stores is below 2^53. */
const INT8 = 20;
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => (oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? "text"))) as typeof pg.types.getTypeParser,
};

/** How long the server lets a Sluice connection sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_MS = 2_000;

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** @defaultValue 10 */
  max?: number;
  /** Name shown in `pg_stat_activity`. @defaultValue "sluice" */
  applicationName?: string;
}

/** A pool whose connections read BIGINT as numbers and see `location.schema` first on their search path. */
export function createPool(location: PgLocation, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: location.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "sluice",
    // A process stopped in the middle of a transaction (SIGSTOP, a hung VM) must not keep its row
    // locks: Sluice's transactions last milliseconds, so the server ends one idle for 2 s, and a
    // standby scheduler can take over within its bound.
    //
    // Index lookups only: every statement of the store finds its rows by key (a batch's ids, a
    // run's tasks, the partial indexes of running work), for which an index is right at any
    // size. Statements are prepared once per connection, and PostgreSQL's generic plans for them,
    // made while a new store's tables are empty, scanned whole tables (a sequential scan of
    // attempts, a hash join over task_instances) and kept doing so as the tables grew to tens of
    // thousands of rows, until autovacuum analyzed them: a fresh store's scheduler spent 8-15 ms
    // per look at its workers' results instead of a fraction of one. Turning these plan types off
    // only prices them out; a statement with no index to use still scans (a small table like
    // workers). The price makes such a plan look costly enough for JIT compilation, which spent
    // ~150 ms compiling a 2-row read: no JIT either (nothing the store runs is worth compiling).
    options: `-c search_path=${location.schema} -c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS} -c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off -c jit=off`,
    types: TYPES,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that breaks (a server restart) is dropped by the pool; without a listener
  // its error would end the process.
  pool.on("error", () => undefined);
  return pool;
}

/** A PostgreSQL error's SQLSTATE, if it has one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A store that cannot be reached or entered, with what to do about it. `code` is `SLUICE_STORE_CONNECT`.
 */
export class StoreConnectError extends Error {
  readonly code = "SLUICE_STORE_CONNECT";
  override readonly name = "StoreConnectError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Turns a connection failure into one line naming the server and the fix; other errors pass through. */
export function describeConnectError(error: unknown, location: PgLocation): unknown {
  const url = new URL(location.url);
  const where = `${url.hostname || "localhost"}:${url.port || "5432"}`;
  const db = decodeURIComponent(url.pathname.slice(1)) || "(default database)";
  const user = decodeURIComponent(url.username) || "(default user)";
  const state = sqlState(error);
  const message = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  switch (state) {
    case "ECONNREFUSED":
      return new StoreConnectError(`cannot reach PostgreSQL at ${where}: connection refused. Is the server running, and listening on that host and port?`, options);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new StoreConnectError(`cannot reach PostgreSQL at ${where}: the host name does not resolve. Check the host in the store URL.`, options);
    case "ETIMEDOUT":
      return new StoreConnectError(`cannot reach PostgreSQL at ${where}: the connection timed out. Check the host, port and any firewall between.`, options);
    case "28P01":
    case "28000":
      return new StoreConnectError(`PostgreSQL at ${where} refused user "${user}": ${message}. Check the user and password in the store URL.`, options);
    case "3D000":
      return new StoreConnectError(`PostgreSQL at ${where} has no database "${db}". Create it (createdb ${db}) or name another in the store URL.`, options);
    default:
      if (/timeout exceeded when trying to connect/i.test(message)) {
        return new StoreConnectError(`cannot reach PostgreSQL at ${where}: no answer within 10 s. Check the host, port and any firewall between.`, options);
      }
      return error;
  }
}

