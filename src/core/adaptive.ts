/**
 * Adaptive concurrency limits for pools (`slots: { min, max, adapt }`), in the spirit of Netflix's
 * concurrency-limits: the limit follows what the resource behind the pool can take, measured by
 * the latency of the attempts that hold it and by overload signals (lock timeouts, refused
 * connections, `ctx.overloaded()`). Pure: each sample is given in, the new limit comes out.
 *
 * - `gradient`: compares each latency with the no-load latency (the lowest seen in a moving
 *   window). While they are alike the limit grows by a small queue allowance (√limit); when the
 *   latest is more than `tolerance` times the no-load one, the limit shrinks in proportion. It
 *   finds the knee of a latency curve without a threshold to configure.
 * - `aimd`: additive increase (one slot per sample while the pool is busy), multiplicative decrease
 *   (×`backoff`) on an overload signal or a latency above `latencyThreshold`.
 */

/** One attempt that held the pool, as the limiter sees it. */
export interface LimitSample {
  /** How long the attempt took. */
  latencyMs: number;
  /** Attempts holding the pool when this one ended (itself included). */
  inflight: number;
  /** An overload signal: the attempt failed with a lock timeout or a refused connection, or called `ctx.overloaded()`. */
  overloaded: boolean;
}

/** The adaptive part of a pool's definition. */
export interface AdaptiveSpec {
  min: number;
  max: number;
  algorithm: "gradient" | "aimd";
  /** The limit to start from. @defaultValue `min` */
  initial?: number;
  /** `aimd` only: a latency above this counts as an overload. @defaultValue none */
  latencyThresholdMs?: number;
}

export interface Limiter {
  /** The current limit (fractional inside; admission uses its floor). */
  readonly limit: number;
  /** Feed one sample; returns the new limit. */
  sample(s: LimitSample): number;
}

const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v));

/** Defaults of the limiters, the values Netflix's concurrency-limits ships with. */
export const ADAPTIVE_DEFAULTS = {
  /** gradient: how much slower than the long-run latency the latest may be before the limit shrinks. */
  tolerance: 1.5,
  /** gradient: weight of a new limit against the old one. */
  smoothing: 0.2,
  /** gradient: samples over which the no-load latency (their minimum) is learnt again. */
  window: 500,
  /** aimd: the factor the limit is multiplied by on an overload. */
  backoff: 0.9,
} as const;

export class GradientLimiter implements Limiter {
  #limit: number;
  /** The lowest latency of the previous window: what the resource does when it is not queueing. */
  #baseline = Number.POSITIVE_INFINITY;
  /** The lowest latency of the current window. */
  #windowMin = Number.POSITIVE_INFINITY;
  #inWindow = 0;

  constructor(private readonly spec: AdaptiveSpec) {
    this.#limit = clamp(spec.initial ?? spec.min, spec.min, spec.max);
  }

  get limit(): number {
    return this.#limit;
  }

  sample({ latencyMs, inflight, overloaded }: LimitSample): number {
    const { min, max } = this.spec;
    if (overloaded) {
      this.#limit = clamp(this.#limit * ADAPTIVE_DEFAULTS.backoff, min, max);
      return this.#limit;
    }
    const rtt = Math.max(latencyMs, 0.001);
    // The no-load latency is the lowest seen lately: a moving window of minimums, so a resource
    // that became slower for good is re-learnt after a window, while an overload (whose latencies
    // are all high) never becomes the baseline — the limit dips back to the knee now and then and
    // the window sees its low latency again. (An average as the baseline drifts up with the
    // overload it should detect, and the limit then runs away to its maximum.)
    this.#windowMin = Math.min(this.#windowMin, rtt);
    if (++this.#inWindow >= ADAPTIVE_DEFAULTS.window) {
      this.#baseline = this.#windowMin;
      this.#windowMin = Number.POSITIVE_INFINITY;
      this.#inWindow = 0;
    }
    const noLoad = Math.min(this.#baseline, this.#windowMin);
    // Idle capacity says nothing about the resource: do not grow on it.
    if (inflight < this.#limit / 2) return this.#limit;
    const gradient = clamp((ADAPTIVE_DEFAULTS.tolerance * noLoad) / rtt, 0.5, 1);
    const next = this.#limit * gradient + Math.sqrt(this.#limit);
    this.#limit = clamp(this.#limit * (1 - ADAPTIVE_DEFAULTS.smoothing) + next * ADAPTIVE_DEFAULTS.smoothing, min, max);
    return this.#limit;
  }
}

export class AimdLimiter implements Limiter {
  #limit: number;

  constructor(private readonly spec: AdaptiveSpec) {
    this.#limit = clamp(spec.initial ?? spec.min, spec.min, spec.max);
  }

  get limit(): number {
    return this.#limit;
  }

  sample({ latencyMs, inflight, overloaded }: LimitSample): number {
    const { min, max, latencyThresholdMs } = this.spec;
    if (overloaded || (latencyThresholdMs !== undefined && latencyMs > latencyThresholdMs)) {
      this.#limit = clamp(Math.floor(this.#limit * ADAPTIVE_DEFAULTS.backoff), min, max);
    } else if (inflight * 2 >= this.#limit) {
      this.#limit = clamp(this.#limit + 1, min, max);
    }
    return this.#limit;
  }
}

/** The limiter a pool's `adapt` names. */
export function limiterFor(spec: AdaptiveSpec): Limiter {
  switch (spec.algorithm) {
    case "gradient":
      return new GradientLimiter(spec);
    case "aimd":
      return new AimdLimiter(spec);
    default: {
      const never: never = spec.algorithm;
      throw new Error(`unknown adaptive algorithm ${String(never)}`);
    }
  }
}

/**
 * Whether an attempt's error is an overload signal: PostgreSQL's lock_not_available (55P03) and
 * too_many_connections (53300), and refused or reset connections.
 */
export function isOverloadError(error: { message: string; code?: string | undefined } | undefined): boolean {
  if (!error) return false;
  if (error.code === "55P03" || error.code === "53300" || error.code === "ECONNREFUSED" || error.code === "ECONNRESET") return true;
  return /\b(ECONNREFUSED|ECONNRESET|too many (clients|connections)|lock timeout|canceling statement due to lock timeout)\b/i.test(error.message);
}
