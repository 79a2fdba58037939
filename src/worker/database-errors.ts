/**
 * Errors of `ctx.pg`, each with a stable `code`. Messages say what was asked, what the attempt
 * holds, and what to change.
 */

/** Base class of the errors `ctx.pg` and its handle throw. */
export abstract class TaskDatabaseError extends Error {
  abstract readonly code: string;
}

/** `ctx.pg(name)` named no declared database, or no name was given and there is not exactly one. */
export class UnknownDatabaseError extends TaskDatabaseError {
  readonly code = "SLUICE_DB_UNKNOWN";
  override readonly name = "UnknownDatabaseError";
}

/** The task holds no slot of the database's pool, so it may not have any of its connections. */
export class DatabaseSlotsError extends TaskDatabaseError {
  readonly code = "SLUICE_DB_NO_SLOTS";
  override readonly name = "DatabaseSlotsError";
}

/** The attempt had all the connections its slots allow for `checkoutTimeout`, and asked for one more. */
export class DatabaseCheckoutTimeoutError extends TaskDatabaseError {
  readonly code = "SLUICE_DB_CHECKOUT_TIMEOUT";
  override readonly name = "DatabaseCheckoutTimeoutError";
}

/** The attempt ended (returned, failed, timed out, cancelled): its connections are closed. */
export class DatabaseAttemptEndedError extends TaskDatabaseError {
  readonly code = "SLUICE_DB_ATTEMPT_ENDED";
  override readonly name = "DatabaseAttemptEndedError";
}

/** The database's `url: { env }` names a variable that is not set in this process. */
export class DatabaseUrlError extends TaskDatabaseError {
  readonly code = "SLUICE_DB_URL";
  override readonly name = "DatabaseUrlError";
}
