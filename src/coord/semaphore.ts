/**
 * A counting semaphore shared through a backend: FIFO among waiters, leases renewed while held,
 * fencing tokens that only grow.
 */
import { randomUUID } from "node:crypto";
import type { CoordBackend } from "./backend.js";
import { COORD_DEFAULTS } from "./defaults.js";
import { AcquireAbortedError, AcquireTimeoutError, CoordOptionsError, LeaseLostError } from "./errors.js";

/** Options of a {@link Semaphore}. */
export interface SemaphoreOptions {
  /** Where the semaphore lives: `memoryBackend()`, `postgresBackend(...)`, `redisBackend(...)`. */
  backend: CoordBackend;
  /** Its name: every process using the same name (on the same backend) shares it. */
  name: string;
  /** How many permits exist. */
  limit: number;
  /** Lease length; renewed every `leaseMs / 3` while held. @defaultValue 10_000 */
  leaseMs?: number;
  /** Longest wait between attempts without a wake-up. @defaultValue 500 */
  fallbackPollMs?: number;
}

/** Options of {@link Semaphore.acquire}. */
export interface AcquireOptions {
  /** How many permits to take at once (all or none). @defaultValue 1 */
  permits?: number;
  /** Give up after this many ms with {@link AcquireTimeoutError}. @defaultValue wait forever */
  timeout?: number;
  /** Give up when aborted, with {@link AcquireAbortedError}. */
  signal?: AbortSignal;
}

/**
 * Held permits. `release()` them (or `await using` them). `fencingToken` is larger than every
 * token handed out before on this semaphore: pass it to the guarded resource so it can refuse
 * writes from an older holder whose lease lapsed. `signal` aborts if the lease is lost.
 */
export interface Permit extends AsyncDisposable {
  readonly fencingToken: number;
  readonly permits: number;
  /** Aborted with a {@link LeaseLostError} when the lease could not be renewed. */
  readonly signal: AbortSignal;
  /** Gives the permits back; idempotent. */
  release(): Promise<void>;
}

/**
 * A semaphore with `limit` permits shared by every process that uses the same backend and name.
 *
 * @example
 * const sem = new Semaphore({ backend: redisBackend({ redis }), name: "partner-api", limit: 3 });
 * await using permit = await sem.acquire({ timeout: 30_000 });
 * await callPartnerApi({ fencingToken: permit.fencingToken });
 */
export class Semaphore {
  readonly name: string;
  readonly limit: number;
  readonly leaseMs: number;
  readonly #backend: CoordBackend;
  readonly #pollMs: number;

  constructor(options: SemaphoreOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new CoordOptionsError(`semaphore "${options.name}": limit must be a whole number ≥ 1, got ${options.limit}`);
    }
    const leaseMs = options.leaseMs ?? COORD_DEFAULTS.leaseMs;
    if (!(leaseMs >= 30)) throw new CoordOptionsError(`semaphore "${options.name}": leaseMs must be ≥ 30, got ${leaseMs}`);
    this.name = options.name;
    this.limit = options.limit;
    this.leaseMs = leaseMs;
    this.#backend = options.backend;
    this.#pollMs = Math.max(5, Math.min(options.fallbackPollMs ?? COORD_DEFAULTS.fallbackPollMs, leaseMs / 3));
  }

  /**
   * Waits in FIFO order for `permits` permits; rejects with {@link AcquireTimeoutError} or
   * {@link AcquireAbortedError} and leaves no trace in the queue.
   *
   * @example
   * const permit = await sem.acquire({ permits: 2, timeout: 5_000 });
   * try { await work(); } finally { await permit.release(); }
   */
  async acquire(options: AcquireOptions = {}): Promise<Permit> {
    const permit = await this.#acquire(options, false);
    if (!permit) throw new Error("unreachable: acquire without timeout returned nothing");
    return permit;
  }

  /**
   * One attempt, no waiting: the permit, or `null` when none is free now (or others queue first).
   *
   * @example
   * const permit = await sem.tryAcquire();
   * if (!permit) return; // someone else is doing it
   */
  async tryAcquire(options: Pick<AcquireOptions, "permits"> = {}): Promise<Permit | null> {
    return this.#acquire(options, true);
  }

  async #acquire(options: AcquireOptions, once: boolean): Promise<Permit | null> {
    const permits = options.permits ?? COORD_DEFAULTS.permits;
    if (!Number.isInteger(permits) || permits < 1 || permits > this.limit) {
      throw new CoordOptionsError(`semaphore "${this.name}": permits must be a whole number from 1 to its limit ${this.limit}, got ${permits}`);
    }
    const { signal, timeout } = options;
    if (signal?.aborted) throw new AcquireAbortedError(this.name, { cause: signal.reason });
    const id = randomUUID();
    const request = { key: this.name, id, permits, limit: this.limit, ttlMs: this.leaseMs };
    const backend = this.#backend;

    if (once) {
      const r = await backend.tryAcquire(request);
      if (r.acquired) return this.#hold(id, permits, r.fencingToken);
      await backend.leave(this.name, id);
      return null;
    }

    // Subscribe before the first attempt, so a release between the attempt and the wait is not missed.
    let wake: () => void = () => {};
    let woken = false;
    const unsubscribe = await backend.subscribe(this.name, () => {
      woken = true;
      wake();
    });
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    let stop: AcquireAbortedError | AcquireTimeoutError | undefined;
    const onAbort = (): void => {
      stop = new AcquireAbortedError(this.name, { cause: signal?.reason });
      wake();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // Aborted while subscribing: the event has already fired.
    if (signal?.aborted) onAbort();
    try {
      for (;;) {
        woken = false;
        const r = await backend.tryAcquire(request);
        if (r.acquired) {
          if (stop) {
            // Got it in the same moment the caller gave up: give it straight back.
            await backend.release(this.name, id);
            throw stop;
          }
          return this.#hold(id, permits, r.fencingToken);
        }
        if (!stop && Date.now() >= deadline) stop = new AcquireTimeoutError(this.name, timeout ?? 0);
        if (stop) throw stop;
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(this.#pollMs, Math.max(0, deadline - Date.now())));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = () => {};
      }
    } catch (error) {
      await backend.leave(this.name, id).catch(() => {});
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await unsubscribe();
    }
  }

  #hold(id: string, permits: number, fencingToken: number): Permit {
    const backend = this.#backend;
    const name = this.name;
    const lost = new AbortController();
    let released = false;
    const renewEvery = this.leaseMs / 3;
    const timer = setInterval(() => {
      backend.renew(name, id, this.leaseMs).then(
        (ok) => {
          if (!ok && !released) {
            clearInterval(timer);
            lost.abort(new LeaseLostError(name, fencingToken));
          }
        },
        // A failed renewal is retried at the next tick; the lease covers two more tries.
        () => {},
      );
    }, renewEvery);
    timer.unref();
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await backend.release(name, id);
    };
    return { fencingToken, permits, signal: lost.signal, release, [Symbol.asyncDispose]: release };
  }
}
