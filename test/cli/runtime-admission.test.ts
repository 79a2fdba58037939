// Admission through the real CLI: priority order on one slot, and multi-pool demands that never
// take more slots than a pool has.
import { afterAll, describe, expect, it } from "vitest";
import type { ResourceUsage } from "../../src/core/admission/types.js";
import type { RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox, type Observation } from "./helpers.js";
import { storeAttempts } from "../support/store.js";

afterAll(disposeSandboxes);

describe.concurrent("admission end to end", () => {
  it("starts A, C, B, D on a one-slot pool (downstream weights)", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "priority_demo", "-c", fixture("priority"), "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("success");

    const obs = box.observations();
    expect(obs.filter((o) => o.event === "start").map((o) => o.task)).toEqual(["A", "C", "B", "D"]);
    // One slot: every start is followed by its own end before the next start.
    expect(obs.map((o) => `${o.event}:${o.task}`)).toEqual(["start:A", "end:A", "start:C", "end:C", "start:B", "end:B", "start:D", "end:D"]);
  });

  it("never holds more slots of any pool than it has, with 20 tasks over 3 pools demanding several at once", async () => {
    const box = await sandbox();
    const config = fixture("pools");
    const r = await box.cli(["trigger", "pool_mix", "-c", config, "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunRecord).state).toBe("success");

    const capacity = Object.fromEntries((await box.json<ResourceUsage[]>(["pools", "-c", config])).map((p) => [p.name, p.capacity]));
    expect(capacity).toEqual({ db: 2, api: 3, disk: 2 });

    const obs = box.observations();
    expect(obs.filter((o) => o.event === "start")).toHaveLength(20);
    expect(obs.filter((o) => o.event === "end")).toHaveLength(20);
    const peak = replayPools(obs);
    for (const [pool, slots] of Object.entries(capacity)) {
      expect(peak.slots[pool] ?? 0, `slots held in ${pool}`).toBeLessThanOrEqual(slots);
      expect(peak.holders[pool] ?? 0, `holders of ${pool}`).toBeLessThanOrEqual(slots);
    }
    // The check means something only if tasks did run side by side.
    expect(peak.running).toBeGreaterThanOrEqual(2);

    // What the store says each attempt held is what the task was declared to need.
    const attempts = await storeAttempts(box.db);
    expect(attempts).toHaveLength(20);
    const declared = new Map(obs.filter((o) => o.event === "start").map((o) => [o.task, o.pools]));
    for (const a of attempts) {
      const held = Object.fromEntries(a.resources.filter((x) => x.key.startsWith("pool:")).map((x) => [x.key.slice("pool:".length), x.amount]));
      expect(held, a.task).toEqual(declared.get(a.task));
    }
  });
});

/**
 * Replay starts and ends in file order (one process appends them synchronously, and a task's end
 * is written before its slots are released) and return the peak slots held and holders per pool.
 */
function replayPools(obs: Observation[]): { slots: Record<string, number>; holders: Record<string, number>; running: number } {
  const slots: Record<string, number> = {};
  const holders: Record<string, number> = {};
  const peakSlots: Record<string, number> = {};
  const peakHolders: Record<string, number> = {};
  let running = 0;
  let peakRunning = 0;
  for (const o of obs) {
    const sign = o.event === "start" ? 1 : o.event === "end" ? -1 : 0;
    running += sign;
    peakRunning = Math.max(peakRunning, running);
    for (const [pool, n] of Object.entries(o.pools ?? {})) {
      slots[pool] = (slots[pool] ?? 0) + sign * n;
      holders[pool] = (holders[pool] ?? 0) + sign;
      peakSlots[pool] = Math.max(peakSlots[pool] ?? 0, slots[pool] ?? 0);
      peakHolders[pool] = Math.max(peakHolders[pool] ?? 0, holders[pool] ?? 0);
    }
  }
  return { slots: peakSlots, holders: peakHolders, running: peakRunning };
}
