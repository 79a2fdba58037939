/**
 * Errors a caller of the store may handle, each with a stable `code`. Every store implementation
 * throws these same classes (the conformance suite checks the codes), so the scheduler can react
 * to, say, a duplicate schedule tick without knowing which database it talks to.
 */

/** The store URL (flag, config or `SLUICE_DATABASE_URL`) is not one Sluice can open. */
export class StoreUrlError extends Error {
  readonly code = "SLUICE_STORE_URL";
  override readonly name = "StoreUrlError";

  /**
   * @param url - The URL as given.
   * @param reason - What is wrong with it and what to use instead.
   */
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** Migrations cannot be listed or applied, or the database is newer than this version of Sluice. */
export class StoreMigrationError extends Error {
  readonly code = "SLUICE_STORE_MIGRATION";
  override readonly name = "StoreMigrationError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A write of a `Store.apply` batch was refused; nothing of the batch was applied. */
abstract class BatchWriteError extends Error {
  abstract readonly code: string;

  /**
   * @param index - Position of the offending write in its batch.
   * @param writeType - Its `type`, e.g. `"createRun"`.
   */
  constructor(
    readonly index: number,
    readonly writeType: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A write of a `Store.apply` batch would create a record that already exists, e.g. a second
 * run for the same schedule tick (`pipeline` + `scheduledFor` with trigger `schedule`/`catchup`).
 * Nothing of the batch was applied.
 */
export class StoreConflictError extends BatchWriteError {
  readonly code = "SLUICE_STORE_CONFLICT";
  override readonly name = "StoreConflictError";
}

/**
 * A write of a `Store.apply` batch is invalid: it changes a record that does not exist
 * (a run, task instance or attempt), or breaks another constraint of the schema.
 * Nothing of the batch was applied.
 */
export class StoreWriteError extends BatchWriteError {
  readonly code = "SLUICE_STORE_WRITE";
  override readonly name = "StoreWriteError";
}

/**
 * A scheduler's batch was refused because it no longer holds the scheduler lease (it expired, or
 * another scheduler took it): a paused or partitioned scheduler can never write after it lost the
 * store. Nothing of the batch was applied.
 */
export class StoreLeaseLostError extends Error {
  readonly code = "SLUICE_LEASE_LOST";
  override readonly name = "StoreLeaseLostError";

  constructor(
    readonly owner: string,
    message: string,
  ) {
    super(message);
  }
}

/** A read command named a store that does not exist (read commands never create one). */
export class StoreNotFoundError extends Error {
  readonly code = "SLUICE_STORE_NOT_FOUND";
  override readonly name = "StoreNotFoundError";

  constructor(
    readonly path: string,
    hint = "it is created by `sluice run` (or name another with --db / SLUICE_DATABASE_URL)",
  ) {
    super(`no store at ${path}; ${hint}`);
  }
}

/** The store's file was deleted or replaced while this process had it open. */
export class StoreGoneError extends Error {
  readonly code = "SLUICE_STORE_GONE";
  override readonly name = "StoreGoneError";

  constructor(
    readonly path: string,
    how: "deleted" | "replaced",
  ) {
    super(
      `the store file ${path} was ${how} while Sluice was using it; what this process records from now on would be lost, so it stops. ` +
        `Start \`sluice run\` again to continue on ${how === "deleted" ? "a new, empty store" : "the file now at that path"}.`,
    );
  }
}

/** The store's file is damaged (a failed integrity check, or SQLite reports corruption). */
export class StoreCorruptError extends Error {
  readonly code = "SLUICE_STORE_CORRUPT";
  override readonly name = "StoreCorruptError";

  constructor(
    readonly path: string,
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `the store ${path} is damaged (${problems.slice(0, 3).join("; ")}${problems.length > 3 ? `; and ${problems.length - 3} more` : ""}). ` +
        `Restore a backup (\`sluice backup <file>\` makes one): stop Sluice, then copy the backup over ${path}; ` +
        `or move the damaged file aside (mv ${path} ${path}.damaged) to start with an empty store.`,
      options,
    );
  }
}

/** Any of the store's own errors. */
export type StoreError =
  | StoreUrlError
  | StoreMigrationError
  | StoreConflictError
  | StoreWriteError
  | StoreLeaseLostError
  | StoreNotFoundError
  | StoreGoneError
  | StoreCorruptError;

/** Error codes that mean "the database is not reachable right now" (a restart, a network cut). */
const UNAVAILABLE = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH",
  // PostgreSQL: admin/crash shutdown, cannot connect now, connection failures.
  "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006",
  // Ended by the server for sitting idle in a transaction (a process that was stopped).
  "25P03",
]);

/**
 * Whether an error from a store means it is unreachable for now (retry with backoff) rather
 * than that the request was wrong.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && UNAVAILABLE.has(code)) return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
}
