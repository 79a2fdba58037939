/** How long to wait before retry number `retry` (1 for the first retry). */
export function retryDelayMs(
  policy: { retryDelayMs: number; retryBackoff: "fixed" | "exponential"; maxRetryDelayMs: number },
  retry: number,
  random: () => number,
): number {
  if (policy.retryBackoff === "fixed") return policy.retryDelayMs;
  const base = Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** Math.max(0, retry - 1));
  // ±20% jitter so retries of many tasks failing together do not arrive together.
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(policy.maxRetryDelayMs, jittered));
}

/** A small seeded PRNG (mulberry32) so simulations and tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
