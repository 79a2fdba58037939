/**
 * Errors of `ctx.pg`, each a {@link SluiceError} with a stable `code`. Messages say what was
 * asked, what the attempt holds, and what to change.
 *
 * @example
 * try { await ctx.pg("warehouse").query("SELECT 1"); }
 * catch (err) { if (err instanceof DatabaseCheckoutTimeoutError) ctx.log.warn(err.message); else throw err; }
 */
import { SluiceError } from "../core/errors.js";

/** Base class of the errors `ctx.pg` and its handle throw. */
export abstract class TaskDatabaseError extends SluiceError {}

/** `ctx.pg(name)` named no declared database, or no name was given and there is not exactly one. */
export class UnknownDatabaseError extends TaskDatabaseError {
  constructor(message: string) {
    super("SLUICE_DB_UNKNOWN", message);
  }
}

/** The task holds no slot of the database's pool, so it may not have any of its connections. */
export class DatabaseSlotsError extends TaskDatabaseError {
  constructor(message: string) {
    super("SLUICE_DB_NO_SLOTS", message);
  }
}

/** The attempt had all the connections its slots allow for `checkoutTimeout`, and asked for one more. */
export class DatabaseCheckoutTimeoutError extends TaskDatabaseError {
  constructor(message: string) {
    super("SLUICE_DB_CHECKOUT_TIMEOUT", message);
  }
}

/** The attempt ended (returned, failed, timed out, cancelled): its connections are closed. */
export class DatabaseAttemptEndedError extends TaskDatabaseError {
  constructor(message: string) {
    super("SLUICE_DB_ATTEMPT_ENDED", message);
  }
}

/** The database's `url: { env }` names a variable that is not set in this process. */
export class DatabaseUrlError extends TaskDatabaseError {
  constructor(message: string) {
    super("SLUICE_DB_URL", message);
  }
}
