import { describe, expect, it } from "vitest";
import type { OverlapPolicy } from "../../src/define/types.js";
import { decideOverlap, mayStartQueued } from "../../src/core/overlap.js";

const POLICIES: OverlapPolicy[] = ["skip", "bufferOne", "bufferAll", "cancelRunning", "allow"];

describe("decideOverlap", () => {
  it.each(POLICIES)("%s: a pipeline with nothing active always starts", (policy) => {
    expect(decideOverlap({ policy, running: 0, queued: 0, maxActiveRuns: 1 })).toEqual({ action: "start" });
  });

  // policy, running, queued, maxActiveRuns → action
  const table: Array<[OverlapPolicy, number, number, number, string]> = [
    ["skip", 1, 0, 1, "skip"],
    ["skip", 0, 1, 1, "skip"],
    ["skip", 1, 0, 3, "skip"],
    ["bufferOne", 1, 0, 1, "buffer"],
    ["bufferOne", 1, 1, 1, "skip"],
    ["bufferOne", 0, 1, 1, "skip"],
    ["bufferAll", 1, 0, 1, "buffer"],
    ["bufferAll", 1, 5, 1, "buffer"],
    ["cancelRunning", 1, 0, 1, "cancelAndStart"],
    ["cancelRunning", 1, 2, 1, "cancelAndStart"],
    ["cancelRunning", 0, 1, 1, "cancelAndStart"],
    ["allow", 1, 0, 3, "start"],
    ["allow", 2, 0, 3, "start"],
    ["allow", 3, 0, 3, "buffer"],
    ["allow", 1, 0, 1, "buffer"],
    // A queued run is ahead: keep the order, do not start the new one past it.
    ["allow", 1, 1, 3, "buffer"],
  ];

  it.each(table)("%s with %i running, %i queued, maxActiveRuns %i → %s", (policy, running, queued, maxActiveRuns, action) => {
    expect(decideOverlap({ policy, running, queued, maxActiveRuns }).action).toBe(action);
  });

  it("says why it skips", () => {
    expect(decideOverlap({ policy: "skip", running: 1, queued: 0, maxActiveRuns: 1 })).toEqual({ action: "skip", reason: "a run is still active" });
    expect(decideOverlap({ policy: "skip", running: 0, queued: 1, maxActiveRuns: 1 })).toEqual({ action: "skip", reason: "a run is still queued" });
    expect(decideOverlap({ policy: "bufferOne", running: 1, queued: 1, maxActiveRuns: 1 })).toEqual({ action: "skip", reason: "one run is already buffered" });
  });
});

describe("mayStartQueued", () => {
  // policy, trigger, running, maxActiveRuns → may start
  const table: Array<[OverlapPolicy, "schedule" | "catchup" | "manual", number, number, boolean]> = [
    // Nothing may start beyond maxActiveRuns.
    ...POLICIES.flatMap((p): Array<[OverlapPolicy, "schedule" | "catchup" | "manual", number, number, boolean]> => [
      [p, "schedule", 1, 1, false],
      [p, "manual", 2, 2, false],
      [p, "catchup", 3, 2, false],
    ]),
    // Buffered scheduled runs wait until nothing of the pipeline runs.
    ...(["skip", "bufferOne", "bufferAll", "cancelRunning"] as const).flatMap((p): Array<[OverlapPolicy, "schedule" | "catchup" | "manual", number, number, boolean]> => [
      [p, "schedule", 0, 1, true],
      [p, "schedule", 1, 3, false],
      [p, "catchup", 0, 1, true],
      [p, "catchup", 1, 3, false],
      // Manual runs only need a free maxActiveRuns place.
      [p, "manual", 1, 3, true],
    ]),
    ["allow", "schedule", 2, 3, true],
    ["allow", "catchup", 1, 2, true],
    ["allow", "manual", 0, 1, true],
  ];

  it.each(table)("%s, %s trigger, %i running, maxActiveRuns %i → %s", (policy, trigger, running, maxActiveRuns, expected) => {
    expect(mayStartQueued(policy, trigger, running, maxActiveRuns)).toBe(expected);
  });
});
