/**
 * What a storage backend (in-memory, PostgreSQL, Redis) must do for the primitives. Every method
 * is one atomic step on the backend's side, so no two processes can both see "a permit is free"
 * and both take it.
 */

/** One attempt to take `permits` of semaphore `key` for holder `id`. */
export interface TryAcquireRequest {
  key: string;
  /** Unique per acquire() call; also the waiter's id in the FIFO queue. */
  id: string;
  permits: number;
  limit: number;
  /** Lease length: the permit (or the waiter's place in the queue) lapses this long after the last renewal. */
  ttlMs: number;
}

export type TryAcquireResult = { acquired: true; fencingToken: number } | { acquired: false };

/** One attempt to admit `cost` events under a GCRA limit. */
export interface RateRequest {
  key: string;
  cost: number;
  /** Milliseconds per event at the sustained rate (`intervalMs / limit`). */
  emissionMs: number;
  /** Events that may be admitted at once after a quiet period. */
  burst: number;
}

export interface RateResult {
  admitted: boolean;
  /** When not admitted: how long until `cost` events would be. */
  retryAfterMs: number;
  /** The backend's clock (ms since the epoch) at the decision: one clock for every process. */
  at: number;
}

/** A backend for `Semaphore`, `Mutex` and `RateLimiter`. Create one per process and share it. */
export interface CoordBackend {
  /** `"memory"`, `"postgres"` or `"redis"`. */
  readonly kind: string;
  /**
   * Joins the FIFO queue of `key` (if not in it), refreshes the waiter's place, and takes the
   * permits when this waiter is at the head of the queue and enough permits are free.
   */
  tryAcquire(request: TryAcquireRequest): Promise<TryAcquireResult>;
  /** Extends a held lease; `false` when the holder no longer holds it. */
  renew(key: string, id: string, ttlMs: number): Promise<boolean>;
  /** Gives the permits back and wakes the waiters. Idempotent. */
  release(key: string, id: string): Promise<void>;
  /** Leaves the queue (a waiter that timed out or was aborted). Idempotent. */
  leave(key: string, id: string): Promise<void>;
  /** Calls `onWake` whenever `key` may have a free permit; resolves to an unsubscribe function. */
  subscribe(key: string, onWake: () => void): Promise<() => Promise<void>>;
  /** One GCRA decision. */
  rate(request: RateRequest): Promise<RateResult>;
  /** Closes the connections this backend opened (not the ones it was given). */
  close(): Promise<void>;
}
