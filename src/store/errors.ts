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

/** Any of the store's own errors. */
export type StoreError = StoreUrlError | StoreMigrationError | StoreConflictError | StoreWriteError;
