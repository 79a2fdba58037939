/**
 * A rate limiter (GCRA, the token bucket's exact twin) shared through a backend.
 */
import type { CoordBackend } from "./backend.js";
import { AcquireAbortedError, AcquireTimeoutError, CoordOptionsError } from "./errors.js";

/** Options of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  backend: CoordBackend;
  /** Its name: every process using the same name (on the same backend) shares the budget. */
  name: string;
  /** Events admitted per `intervalMs` at the sustained rate. */
  limit: number;
  /** The period of `limit`, in ms. */
  intervalMs: number;
  /** Events admitted at once after a quiet period. @defaultValue `limit` */
  burst?: number;
}

/** Options of {@link RateLimiter.take}. */
export interface TakeOptions {
  /** Events this call counts for. @defaultValue 1 */
  cost?: number;
  /** Give up after this many ms with {@link AcquireTimeoutError}. @defaultValue wait forever */
  timeout?: number;
  signal?: AbortSignal;
}

/** What {@link RateLimiter.tryTake} decided. */
export interface TakeResult {
  admitted: boolean;
  /** When not admitted, how long until it would be. */
  retryAfterMs: number;
  /** The backend's clock at the decision (ms since the epoch). */
  at: number;
}

/**
 * At most `burst + w · limit / intervalMs` events in any window of `w` ms, across every process.
 *
 * @example
 * const limiter = new RateLimiter({ backend, name: "partner-api", limit: 10, intervalMs: 1_000 });
 * await limiter.take(); // waits until the call fits the budget
 * await fetch(url);
 */
export class RateLimiter {
  readonly name: string;
  readonly #backend: CoordBackend;
  readonly #emissionMs: number;
  readonly #burst: number;

  constructor(options: RateLimiterOptions) {
    const { name, limit, intervalMs } = options;
    const burst = options.burst ?? limit;
    if (!(limit > 0) || !(intervalMs > 0)) throw new CoordOptionsError(`rate limiter "${name}": limit and intervalMs must be > 0, got ${limit} per ${intervalMs} ms`);
    if (!Number.isInteger(burst) || burst < 1) throw new CoordOptionsError(`rate limiter "${name}": burst must be a whole number ≥ 1, got ${burst}`);
    this.name = name;
    this.#backend = options.backend;
    this.#emissionMs = intervalMs / limit;
    this.#burst = burst;
  }

  /**
   * One decision, no waiting.
   *
   * @example
   * const { admitted, retryAfterMs } = await limiter.tryTake();
   * if (!admitted) res.setHeader("Retry-After", Math.ceil(retryAfterMs / 1000));
   */
  async tryTake(cost = 1): Promise<TakeResult> {
    if (!(cost > 0) || cost > this.#burst) throw new CoordOptionsError(`rate limiter "${this.name}": cost must be > 0 and ≤ burst ${this.#burst}, got ${cost}`);
    return this.#backend.rate({ key: this.name, cost, emissionMs: this.#emissionMs, burst: this.#burst });
  }

  /**
   * Waits until `cost` events fit the budget (sleeping exactly the computed `retryAfterMs`, not polling).
   *
   * @example
   * await limiter.take({ timeout: 10_000 });
   */
  async take(options: TakeOptions = {}): Promise<TakeResult> {
    const { signal, timeout } = options;
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    for (;;) {
      if (signal?.aborted) throw new AcquireAbortedError(this.name, { cause: signal.reason });
      const r = await this.tryTake(options.cost ?? 1);
      if (r.admitted) return r;
      if (Date.now() + r.retryAfterMs > deadline) throw new AcquireTimeoutError(this.name, timeout ?? 0);
      await sleep(r.retryAfterMs, signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(1, Math.ceil(ms)));
    signal?.addEventListener("abort", done, { once: true });
  });
}
