/**
 * Errors of `sluice/coord`, each with a stable `code` a caller can switch on.
 */

/** Base class of every `sluice/coord` error. */
export abstract class CoordError extends Error {
  abstract readonly code: string;
}

/**
 * `acquire()` (or `RateLimiter.take()`) waited `timeout` ms without getting what it asked for.
 * Nothing is left behind: the waiter's place in the queue was removed.
 */
export class AcquireTimeoutError extends CoordError {
  readonly code = "SLUICE_ACQUIRE_TIMEOUT";
  override readonly name = "AcquireTimeoutError";

  constructor(
    readonly resource: string,
    readonly timeoutMs: number,
  ) {
    super(`gave up waiting for "${resource}" after ${timeoutMs} ms (raise \`timeout\`, or see who holds it)`);
  }
}

/** The `signal` passed to `acquire()` / `take()` was aborted while waiting. Nothing is left behind. */
export class AcquireAbortedError extends CoordError {
  readonly code = "SLUICE_ACQUIRE_ABORTED";
  override readonly name = "AcquireAbortedError";

  constructor(
    readonly resource: string,
    options?: { cause: unknown },
  ) {
    super(`stopped waiting for "${resource}": the signal was aborted`, options);
  }
}

/** Options are invalid (e.g. `permits` larger than `limit`); the message says what to pass. */
export class CoordOptionsError extends CoordError {
  readonly code = "SLUICE_COORD_OPTIONS";
  override readonly name = "CoordOptionsError";
}

/**
 * A held permit's lease could not be renewed (the backend was unreachable for longer than the
 * lease, or the lease had already expired). `permit.signal` is aborted with this error: stop the
 * work it guarded, another holder may already have the permit.
 */
export class LeaseLostError extends CoordError {
  readonly code = "SLUICE_LEASE_LOST";
  override readonly name = "LeaseLostError";

  constructor(
    readonly resource: string,
    readonly fencingToken: number,
  ) {
    super(`lost the lease on "${resource}" (fencing token ${fencingToken}): it expired before it could be renewed; stop the guarded work`);
  }
}
