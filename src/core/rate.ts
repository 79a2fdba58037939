/**
 * Token buckets as pure arithmetic (GCRA, the token bucket's exact twin): the state of a bucket
 * is one number, its "theoretical arrival time" `tat` (ms). The same formula runs in
 * `sluice/coord`'s backends and in the store's PostgreSQL migration `0008_rate_limits.sql`, so a
 * budget behaves the same in one process and across many.
 *
 * Over any window of `w` ms a bucket grants at most `burst + w / emissionMs` tokens.
 */

/** A bucket's shape: one token every `emissionMs`, at most `burst` at once. */
export interface BucketShape {
  emissionMs: number;
  burst: number;
}

/** What {@link takeUpTo} decided. */
export interface TakeDecision {
  /** Tokens granted (0 when fewer than `min` were available). */
  taken: number;
  /** The bucket's state after the decision. */
  tat: number;
  /** When nothing was taken: how long until `min` tokens are available. 0 otherwise. */
  retryAfterMs: number;
}

/** Whole tokens a bucket holds at `now` (0 … burst). */
export function tokensAt(tat: number, now: number, shape: BucketShape): number {
  const free = shape.burst - Math.max(0, tat - now) / shape.emissionMs;
  // A hair of tolerance: `tat` is a sum of floating-point steps.
  return Math.max(0, Math.min(shape.burst, Math.floor(free + 1e-9)));
}

/** How long until a bucket holds `tokens` whole tokens (0 when it already does). */
export function msUntil(tat: number, now: number, tokens: number, shape: BucketShape): number {
  return Math.max(0, Math.max(tat, now) + tokens * shape.emissionMs - shape.burst * shape.emissionMs - now);
}

/**
 * Take as many tokens as are available, up to `max`, if at least `min` are (`min = max`: all or
 * nothing). `min` ≥ 1 and `max` ≥ `min`; `min` must not exceed `burst` or it never fits.
 */
export function takeUpTo(tat: number, now: number, min: number, max: number, shape: BucketShape): TakeDecision {
  const taken = Math.min(max, tokensAt(tat, now, shape));
  if (taken < min) return { taken: 0, tat, retryAfterMs: Math.max(1e-3, msUntil(tat, now, min, shape)) };
  return { taken, tat: Math.max(tat, now) + taken * shape.emissionMs, retryAfterMs: 0 };
}

/**
 * Give back `tokens` taken but not used. The bucket never holds more than `burst`, so a refund
 * after a quiet period changes nothing.
 */
export function refund(tat: number, tokens: number, shape: BucketShape): number {
  return tat - tokens * shape.emissionMs;
}
