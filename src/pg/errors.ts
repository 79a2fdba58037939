/**
 * Errors of `sluice/pg`, each with a stable `code` a caller can switch on.
 */

/** Base class of every `sluice/pg` error. */
export abstract class PgLoadError extends Error {
  abstract readonly code: string;
}

/** A table or column name is not one Sluice will quote (empty, too long, or containing NUL). */
export class PgIdentifierError extends PgLoadError {
  readonly code = "SLUICE_PG_IDENTIFIER";
  override readonly name = "PgIdentifierError";
}

/** The load options are inconsistent (e.g. `upsert` without `key`); the message says what to pass. */
export class PgOptionsError extends PgLoadError {
  readonly code = "SLUICE_PG_OPTIONS";
  override readonly name = "PgOptionsError";
}

/** `swap` cannot rename a table that views or foreign keys depend on; use `mode: "replace"`. */
export class PgSwapDependentsError extends PgLoadError {
  readonly code = "SLUICE_PG_SWAP_DEPENDENTS";
  override readonly name = "PgSwapDependentsError";

  constructor(
    readonly table: string,
    readonly dependents: string[],
  ) {
    super(
      `cannot swap ${table}: ${dependents.join(", ")} depend(s) on it, and a rename would leave them pointing at the old table. ` +
        `Use mode: "replace" (DELETE + insert in one transaction, readers keep their snapshot), or drop the dependents first.`,
    );
  }
}

/** Lock conflicts (55P03, 40P01, 40001) kept failing until the retry deadline passed. */
export class PgDeadlineError extends PgLoadError {
  readonly code = "SLUICE_PG_DEADLINE";
  override readonly name = "PgDeadlineError";

  constructor(
    readonly step: string,
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(`gave up on step "${step}" after ${attempts} attempt(s): lock conflicts until the deadline (raise deadlineMs, or see \`sluice pg blockers\`)`, options);
  }
}
