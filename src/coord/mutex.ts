/** A mutex: a semaphore with one permit. */
import { Semaphore, type SemaphoreOptions } from "./semaphore.js";

/** Options of a {@link Mutex}: those of a semaphore without `limit`. */
export type MutexOptions = Omit<SemaphoreOptions, "limit">;

/**
 * Mutual exclusion across every process sharing the backend and name; leases, FIFO and fencing
 * tokens as in {@link Semaphore}.
 *
 * @example
 * const mutex = new Mutex({ backend: postgresBackend({ pool }), name: "nightly-export" });
 * await using lock = await mutex.acquire({ timeout: 60_000 });
 * await exportTables(lock.fencingToken);
 */
export class Mutex extends Semaphore {
  constructor(options: MutexOptions) {
    super({ ...options, limit: 1 });
  }
}
