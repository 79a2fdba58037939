/** Defaults of `sluice/coord`, in one place. */
export const COORD_DEFAULTS = {
  /**
   * Lease length of a permit: a crashed holder's permit returns this long after its last renewal.
   * @defaultValue 10_000
   */
  leaseMs: 10_000,
  /**
   * Longest a waiter sleeps between attempts when no wake-up arrives. Wake-ups (LISTEN/NOTIFY,
   * pub/sub) are the normal path; this bound only covers a lost notification or an expired lease
   * of a crashed holder, which nobody announces.
   * @defaultValue 500
   */
  fallbackPollMs: 500,
  /** Permits per `acquire()`. @defaultValue 1 */
  permits: 1,
} as const satisfies { leaseMs: number; fallbackPollMs: number; permits: number };
