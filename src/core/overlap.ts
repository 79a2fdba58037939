import type { OverlapPolicy } from "../define/types.js";

/** What to do with a scheduled tick, given the pipeline's runs at that moment. */
export type OverlapDecision =
  /** Create the run and start it now. */
  | { action: "start" }
  /** Create the run as queued; it starts when the active runs end. */
  | { action: "buffer" }
  /** Do not create the run. */
  | { action: "skip"; reason: string }
  /** Cancel the active runs, then create and start the new one. */
  | { action: "cancelAndStart" };

export interface OverlapSituation {
  policy: OverlapPolicy;
  /** Runs of the pipeline in state `running`. */
  running: number;
  /** Runs of the pipeline in state `queued` (buffered or waiting for `maxActiveRuns`). */
  queued: number;
  maxActiveRuns: number;
}

/**
 * The overlap policy as a pure decision. A pipeline with nothing running (and nothing queued)
 * always starts; otherwise:
 * - `skip`: skip.
 * - `bufferOne`: queue the tick unless one is queued already, then skip.
 * - `bufferAll`: queue it.
 * - `cancelRunning`: cancel what runs, start the new one.
 * - `allow`: start alongside while fewer than `maxActiveRuns` are active, else queue.
 */
export function decideOverlap(s: OverlapSituation): OverlapDecision {
  const active = s.running + s.queued;
  if (active === 0) return { action: "start" };
  switch (s.policy) {
    case "skip":
      return { action: "skip", reason: s.running > 0 ? "a run is still active" : "a run is still queued" };
    case "bufferOne":
      return s.queued === 0 ? { action: "buffer" } : { action: "skip", reason: "one run is already buffered" };
    case "bufferAll":
      return { action: "buffer" };
    case "cancelRunning":
      return { action: "cancelAndStart" };
    case "allow":
      return active < s.maxActiveRuns && s.queued === 0 ? { action: "start" } : { action: "buffer" };
    default: {
      const never: never = s.policy;
      throw new Error(`unknown overlap policy ${String(never)}`);
    }
  }
}

/**
 * Whether a queued run may start now. Buffered scheduled runs of the non-`allow` policies wait
 * until no run of the pipeline is running (that is what buffering means); manual and `allow`
 * runs only need a free `maxActiveRuns` place.
 */
export function mayStartQueued(policy: OverlapPolicy, trigger: "schedule" | "catchup" | "manual", running: number, maxActiveRuns: number): boolean {
  if (running >= maxActiveRuns) return false;
  if (policy === "allow" || trigger === "manual") return true;
  return running === 0;
}
