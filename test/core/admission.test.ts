import { afterEach, describe, expect, it, vi } from "vitest";
import { Admission } from "../../src/core/admission/admission.js";
import type { ResourceSpec, WaitReason } from "../../src/core/admission/types.js";
import { candidate, onPools, poolSpec } from "./fixtures.js";

const noAging = { agingPointsPerMinute: 0, reservationAfterMs: Number.POSITIVE_INFINITY };

function ids(grants: { id: string }[]): string[] {
  return grants.map((g) => g.id);
}

function usageOf(a: Admission, key: string) {
  const u = a.usage().find((x) => x.key === key);
  if (!u) throw new Error(`no resource ${key}`);
  return u;
}

function kinds(reasons: WaitReason[] | undefined): string[] {
  return (reasons ?? []).map((r) => r.kind);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("all-or-nothing", () => {
  it("takes every pool of a demand in one step or none of them", () => {
    const a = new Admission(noAging, [poolSpec("a", 2), poolSpec("b", 1), poolSpec("c", 3)]);
    a.enqueue(candidate("t1", { demand: onPools({ a: 1, b: 1 }) }));
    a.enqueue(candidate("t2", { demand: onPools({ a: 1, b: 1 }), readyAt: 1 }));
    a.enqueue(candidate("t3", { demand: onPools({ a: 1, c: 3 }), readyAt: 2 }));
    expect(ids(a.admit(10))).toEqual(["t1", "t3"]);

    // t2 fits pool a but not b: it holds nothing anywhere.
    expect(a.isWaiting("t2")).toBe(true);
    for (const u of a.usage()) expect(u.holders.map((h) => h.id)).not.toContain("t2");
    expect(usageOf(a, "pool:a").used).toBe(2);
    expect(usageOf(a, "pool:b").used).toBe(1);
    expect(usageOf(a, "pool:c").used).toBe(3);

    const explained = a.explain("t2");
    expect(explained).toEqual([{ kind: "pool", name: "a", need: 1, free: 0, capacity: 2, holders: expect.any(Array) }, expect.objectContaining({ kind: "pool", name: "b", need: 1, free: 0 })]);

    // Freeing a alone is not enough (b is still held by t1) …
    a.release("t3");
    expect(a.admit(20)).toEqual([]);
    expect(usageOf(a, "pool:a").used).toBe(1);
    // … freeing both is.
    a.release("t1");
    const [g] = a.admit(30);
    expect(g).toMatchObject({ id: "t2", readyAt: 1, admittedAt: 30, demand: onPools({ a: 1, b: 1 }) });
    expect(usageOf(a, "pool:a").holders).toEqual([expect.objectContaining({ id: "t2", amount: 1 })]);
    expect(usageOf(a, "pool:b").holders).toEqual([expect.objectContaining({ id: "t2", amount: 1 })]);
  });

  it("a blocked multi-pool task does not stop a smaller one from using the pools it cannot complete", () => {
    const a = new Admission(noAging, [poolSpec("a", 2), poolSpec("b", 1)]);
    a.hold({ id: "x", pipeline: "p", run: 1, task: "x" }, onPools({ b: 1 }));
    a.enqueue(candidate("big", { weight: 9, demand: onPools({ a: 2, b: 1 }) }));
    a.enqueue(candidate("small", { weight: 1, demand: onPools({ a: 2 }) }));
    expect(ids(a.admit(0))).toEqual(["small"]);
    expect(usageOf(a, "pool:a").holders.map((h) => h.id)).toEqual(["small"]);
  });

  it("zero amounts are ignored and unknown resources are refused at enqueue", () => {
    const a = new Admission(noAging, [poolSpec("a", 1)]);
    a.enqueue(candidate("t", { demand: [...onPools({ a: 1 }), { key: "pool:a", amount: 0 }] }));
    expect(a.admit(0)[0]?.demand).toEqual(onPools({ a: 1 }));
    expect(() => a.enqueue(candidate("u", { demand: onPools({ nope: 1 }) }))).toThrow(/unknown resource pool:nope/);
    expect(() => a.enqueue(candidate("t", { demand: onPools({ a: 1 }) }))).toThrow(/already waiting or running/);
  });
});

describe("rank order", () => {
  it("admits by weight, then ready time, then arrival", () => {
    const a = new Admission(noAging, [poolSpec("one", 1)]);
    a.hold({ id: "blocker", pipeline: "p", run: 1, task: "blocker" }, onPools({ one: 1 }));
    const d = onPools({ one: 1 });
    a.enqueue(candidate("late5", { weight: 5, readyAt: 10, demand: d }));
    a.enqueue(candidate("early5", { weight: 5, readyAt: 5, demand: d }));
    a.enqueue(candidate("early5-second", { weight: 5, readyAt: 5, demand: d }));
    a.enqueue(candidate("heavy", { weight: 9, readyAt: 20, demand: d }));
    a.enqueue(candidate("light", { weight: 1, readyAt: 0, demand: d }));
    expect(a.admit(30)).toEqual([]);

    const order: string[] = [];
    let running = "blocker";
    for (let now = 40; a.waitingCount > 0; now += 10) {
      a.release(running);
      const granted = a.admit(now);
      expect(granted).toHaveLength(1);
      running = granted[0]?.id ?? "";
      order.push(running);
    }
    expect(order).toEqual(["heavy", "early5", "early5-second", "late5", "light"]);
  });

  it("orders tasks of one group by ready time, and one admit pass grants in rank order", () => {
    const a = new Admission(noAging, [poolSpec("wide", 10)]);
    const d = onPools({ wide: 1 });
    a.enqueue(candidate("g-late", { group: "g", weight: 2, readyAt: 7, demand: d }));
    a.enqueue(candidate("g-early", { group: "g", weight: 2, readyAt: 3, demand: d }));
    a.enqueue(candidate("h", { group: "h", weight: 3, readyAt: 9, demand: d }));
    a.enqueue(candidate("k", { group: "k", weight: 1, readyAt: 0, demand: d }));
    expect(ids(a.admit(10))).toEqual(["h", "g-early", "g-late", "k"]);
  });
});

describe("aging", () => {
  // 60 points per minute = 1 point per second.
  const opts = { agingPointsPerMinute: 60, reservationAfterMs: Number.POSITIVE_INFINITY };

  function race(highReadyAt: number): string[] {
    const a = new Admission(opts, [poolSpec("one", 1)]);
    a.hold({ id: "blocker", pipeline: "p", run: 1, task: "blocker" }, onPools({ one: 1 }));
    a.enqueue(candidate("low", { weight: 1, readyAt: 0, demand: onPools({ one: 1 }) }));
    a.enqueue(candidate("high", { weight: 5, readyAt: highReadyAt, demand: onPools({ one: 1 }) }));
    a.release("blocker");
    const first = ids(a.admit(60_000));
    a.release(first[0] ?? "");
    return [...first, ...ids(a.admit(60_001))];
  }

  it("a low-weight task overtakes a later high-weight one once it has waited (Wh − Wl) / rate", () => {
    // (5 − 1) points at 1 point/s: 4 s.
    expect(race(3_990)).toEqual(["high", "low"]);
    expect(race(4_010)).toEqual(["low", "high"]);
  });

  it("effective priority grows linearly from the ready time", () => {
    const a = new Admission(opts, [poolSpec("one", 1)]);
    a.hold({ id: "blocker", pipeline: "p", run: 1, task: "blocker" }, onPools({ one: 1 }));
    a.enqueue(candidate("t", { weight: 2, readyAt: 1_000, demand: onPools({ one: 1 }) }));
    expect(a.effectivePriority("t", 1_000)).toBe(2);
    expect(a.effectivePriority("t", 4_000)).toBeCloseTo(5, 9);
    expect(a.effectivePriority("t", 0)).toBe(2);
    expect(a.effectivePriority("nobody", 0)).toBeUndefined();
  });
});

describe("reservation", () => {
  const R = 1_000;
  const opts = { agingPointsPerMinute: 0, reservationAfterMs: R };

  /** Pool of 3; three 1-slot tasks run; `big` (3 slots) waits from 0; a stream of 1-slot tasks follows it. */
  function setup() {
    const a = new Admission(opts, [poolSpec("p", 3)]);
    for (const s of ["s1", "s2", "s3"]) a.enqueue(candidate(s, { group: "small", readyAt: 0, demand: onPools({ p: 1 }) }));
    expect(ids(a.admit(0))).toEqual(["s1", "s2", "s3"]);
    a.enqueue(candidate("big", { readyAt: 0, demand: onPools({ p: 3 }) }));
    expect(a.admit(0)).toEqual([]);
    return a;
  }

  it("before the threshold a stream of 1-slot tasks backfills; after it, capacity is held for the 3-slot task", () => {
    const a = setup();
    expect(a.nextWakeAt()).toBe(R);
    let next = 4;
    const running = ["s1", "s2", "s3"];
    // Every 100 ms one small task ends and a new one (ranked below big: same weight, later) arrives.
    let now = 0;
    for (now = 100; now < R; now += 100) {
      a.release(running.shift() ?? "");
      a.enqueue(candidate(`s${next}`, { group: "small", readyAt: now, demand: onPools({ p: 1 }) }));
      next++;
      const g = ids(a.admit(now));
      expect(g).toHaveLength(1); // backfill: the small one starts, big keeps waiting
      running.push(...g);
    }
    expect(usageOf(a, "pool:p").reserved).toBe(0);

    // The threshold passes: admit holds the pool for big even though nothing was released.
    expect(a.admit(R)).toEqual([]);
    expect(usageOf(a, "pool:p")).toMatchObject({ used: 3, reserved: 3, reservedFor: ["big"] });
    expect(a.nextWakeAt()).toBeUndefined();

    // From now on, freed slots stay free until big fits.
    const waitingSmall = `s${next++}`;
    a.enqueue(candidate(waitingSmall, { group: "small", readyAt: R, demand: onPools({ p: 1 }) }));
    a.release(running.shift() ?? "");
    expect(a.admit(R + 100)).toEqual([]);
    expect(a.isWaiting(waitingSmall)).toBe(true);
    // One slot is free, but it is held for big: nothing is free for the small one.
    expect(a.explain(waitingSmall)).toEqual([{ kind: "reserved", resource: "p", resourceKind: "pool", need: 1, free: 0, for: ["big"], forTotal: 1 }]);
    const bigWhy = a.explain("big");
    expect(bigWhy).toHaveLength(1);
    expect(bigWhy?.[0]).toMatchObject({ kind: "pool", name: "p", need: 3, free: 1, capacity: 3 });
    const holders = (bigWhy?.[0] as { holders: { id: string; amount: number }[] }).holders;
    expect(holders.map((h) => h.id).sort()).toEqual([...running].sort());

    a.release(running.shift() ?? "");
    expect(a.admit(R + 200)).toEqual([]);
    a.release(running.shift() ?? "");
    expect(ids(a.admit(R + 300))).toEqual(["big"]);
    expect(usageOf(a, "pool:p")).toMatchObject({ used: 3, reserved: 0, reservedFor: [] });
    // Once big has run, the small one that waited comes next.
    a.release("big");
    expect(ids(a.admit(R + 400))).toEqual([waitingSmall]);
  });

  it("a reservation holds only against lower-ranked tasks", () => {
    const a = new Admission(opts, [poolSpec("p", 3)]);
    a.hold({ id: "r1", pipeline: "p", run: 1, task: "r1" }, onPools({ p: 2 }));
    a.enqueue(candidate("big", { weight: 1, readyAt: 0, demand: onPools({ p: 3 }) }));
    a.admit(R);
    expect(usageOf(a, "pool:p").reservedFor).toEqual(["big"]);
    a.enqueue(candidate("urgent", { weight: 10, readyAt: R, demand: onPools({ p: 1 }) }));
    a.enqueue(candidate("lowly", { weight: 0, readyAt: R, demand: onPools({ p: 1 }) }));
    expect(ids(a.admit(R))).toEqual(["urgent"]);
    expect(a.explain("lowly")).toEqual([{ kind: "pool", name: "p", need: 1, free: 0, capacity: 3, holders: expect.any(Array) }]);
  });

  it("nextWakeAt gives the earliest pending threshold, ignoring reserved and admitted heads", () => {
    const a = new Admission(opts, [poolSpec("p", 1), poolSpec("q", 1)]);
    a.hold({ id: "hp", pipeline: "p", run: 1, task: "hp" }, onPools({ p: 1 }));
    a.hold({ id: "hq", pipeline: "p", run: 1, task: "hq" }, onPools({ q: 1 }));
    expect(a.nextWakeAt()).toBeUndefined();
    a.enqueue(candidate("onP", { readyAt: 300, demand: onPools({ p: 1 }) }));
    a.enqueue(candidate("onQ", { readyAt: 100, demand: onPools({ q: 1 }) }));
    a.admit(300);
    expect(a.nextWakeAt()).toBe(100 + R);
    a.admit(100 + R);
    expect(usageOf(a, "pool:q").reservedFor).toEqual(["onQ"]);
    expect(a.nextWakeAt()).toBe(300 + R);
    a.release("hp");
    expect(ids(a.admit(100 + R + 1))).toEqual(["onP"]);
    expect(a.nextWakeAt()).toBeUndefined();
  });

  it("nextWakeAt still reports a threshold when a release woke the group and admit re-parked it", () => {
    // Regression: nextWakeAt used to drop the threshold of a group that was awake (woken by a
    // release, not yet re-examined); when admit then parked it again on another resource, its
    // threshold was gone and the reservation only happened at some later release.
    const a = new Admission(opts, [poolSpec("p", 2), poolSpec("q", 1)]);
    a.hold({ id: "p1", pipeline: "p", run: 1, task: "p1" }, onPools({ p: 1 }));
    a.hold({ id: "p2", pipeline: "p", run: 1, task: "p2" }, onPools({ p: 1 }));
    a.hold({ id: "q1", pipeline: "p", run: 1, task: "q1" }, onPools({ q: 1 }));
    a.enqueue(candidate("head", { weight: 5, readyAt: 0, demand: onPools({ p: 1, q: 1 }) }));
    expect(a.admit(0)).toEqual([]); // parked on p
    expect(a.nextWakeAt()).toBe(R);
    a.release("p1"); // wakes head's group
    expect(a.nextWakeAt()).toBe(R); // the caller asks before its next pass
    expect(a.admit(10)).toEqual([]); // parked again, now on q
    expect(a.nextWakeAt()).toBe(R);
    // A lower-ranked task may still backfill p before the threshold …
    a.enqueue(candidate("low", { weight: 1, readyAt: 20, demand: onPools({ p: 1 }) }));
    expect(ids(a.admit(20))).toEqual(["low"]);
    a.release("low");
    a.enqueue(candidate("low2", { weight: 1, readyAt: R, demand: onPools({ p: 1 }) }));
    // … but not once it has passed.
    expect(a.admit(R)).toEqual([]);
    expect(usageOf(a, "pool:p").reservedFor).toEqual(["head"]);
    expect(usageOf(a, "pool:q").reservedFor).toEqual(["head"]);
  });

  it("nextWakeAt still reports a threshold when removing a group-mate woke the group", () => {
    // The same regression through remove(): it re-activates a parked group outside a pass.
    const a = new Admission(opts, [poolSpec("p", 1)]);
    a.hold({ id: "p1", pipeline: "p", run: 1, task: "p1" }, onPools({ p: 1 }));
    a.enqueue(candidate("head", { group: "g", readyAt: 0, demand: onPools({ p: 1 }) }));
    a.enqueue(candidate("mate", { group: "g", readyAt: 5, demand: onPools({ p: 1 }) }));
    expect(a.admit(5)).toEqual([]);
    a.remove("mate");
    expect(a.nextWakeAt()).toBe(R);
    expect(a.admit(10)).toEqual([]);
    expect(a.nextWakeAt()).toBe(R);
    expect(a.admit(R)).toEqual([]);
    expect(usageOf(a, "pool:p").reservedFor).toEqual(["head"]);
  });
});

describe("explain", () => {
  function single(spec: ResourceSpec, need = 1) {
    const a = new Admission(noAging, [spec]);
    a.hold({ id: "holder", pipeline: "p", run: 3, task: "holder" }, [{ key: spec.key, amount: spec.capacity }]);
    a.enqueue(candidate("w", { run: 7, demand: [{ key: spec.key, amount: need }] }));
    a.admit(0);
    return a.explain("w");
  }

  it("parallelism", () => {
    expect(single({ key: "parallelism", kind: "parallelism", name: "parallelism", capacity: 4 })).toEqual([{ kind: "parallelism", limit: 4, active: 4 }]);
  });

  it("maxActiveTasks", () => {
    expect(single({ key: "maxActiveTasks:etl", kind: "maxActiveTasks", name: "etl", capacity: 2 })).toEqual([{ kind: "maxActiveTasks", pipeline: "etl", limit: 2, active: 2 }]);
  });

  it("maxActivePerPipeline and maxActivePerRun", () => {
    expect(single({ key: "maxActivePerPipeline:etl.load", kind: "maxActivePerPipeline", name: "etl.load", capacity: 1 })).toEqual([
      { kind: "maxActivePerPipeline", task: "etl.load", limit: 1, active: 1 },
    ]);
    expect(single({ key: "maxActivePerRun:7:etl.load", kind: "maxActivePerRun", name: "etl.load", capacity: 1 })).toEqual([
      { kind: "maxActivePerRun", task: "etl.load", run: 7, limit: 1, active: 1 },
    ]);
  });

  it("queue (worker slots) with its holders", () => {
    expect(single({ key: "queue:worker", kind: "queue", name: "worker", capacity: 1 })).toEqual([
      { kind: "queue", name: "worker", need: 1, free: 0, capacity: 1, holders: [{ id: "holder", pipeline: "p", run: 3, task: "holder", amount: 1 }] },
    ]);
  });

  it("memory with its holders", () => {
    const a = new Admission(noAging, [{ key: "memory:worker", kind: "memory", name: "worker", capacity: 1024 }]);
    a.hold({ id: "hog", pipeline: "p", run: 1, task: "hog" }, [{ key: "memory:worker", amount: 800 }]);
    a.enqueue(candidate("w", { demand: [{ key: "memory:worker", amount: 512 }] }));
    a.admit(0);
    expect(a.explain("w")).toEqual([
      { kind: "memory", queue: "worker", needMb: 512, freeMb: 224, budgetMb: 1024, holders: [{ id: "hog", pipeline: "p", run: 1, task: "hog", amount: 800 }] },
    ]);
  });

  it("lists every short resource, a task's place in its group, and a demand that can never fit", () => {
    const a = new Admission(noAging, [poolSpec("a", 1), { key: "parallelism", kind: "parallelism", name: "parallelism", capacity: 1 }, poolSpec("tiny", 1)]);
    a.hold({ id: "h", pipeline: "p", run: 1, task: "h" }, [...onPools({ a: 1 }), { key: "parallelism", amount: 1 }]);
    const d = [...onPools({ a: 1 }), { key: "parallelism", amount: 1 }];
    a.enqueue(candidate("first", { group: "g", readyAt: 0, demand: d }));
    a.enqueue(candidate("second", { group: "g", readyAt: 1, demand: d }));
    a.enqueue(candidate("third", { group: "g", readyAt: 2, demand: d }));
    a.enqueue(candidate("huge", { demand: onPools({ tiny: 2 }) }));
    a.admit(5);
    expect(kinds(a.explain("first"))).toEqual(["pool", "parallelism"]);
    expect(a.explain("third")?.[0]).toEqual({ kind: "behind", ahead: 2, head: "first" });
    expect(kinds(a.explain("third"))).toEqual(["behind", "pool", "parallelism"]);
    expect(a.explain("huge")).toEqual([{ kind: "neverFits", resource: "pool:tiny", need: 2, capacity: 1 }]);
    expect(a.explain("h")).toBeUndefined();
  });

  it("says pending for a task that fits but has not been through an admit pass", () => {
    const a = new Admission(noAging, [poolSpec("a", 1)]);
    a.enqueue(candidate("t", { demand: onPools({ a: 1 }) }));
    expect(a.explain("t")).toEqual([{ kind: "pending", message: expect.any(String) }]);
  });
});

describe("remove", () => {
  it("of a waiting task: it leaves the queue and the next in its group moves up", () => {
    const a = new Admission(noAging, [poolSpec("one", 1)]);
    a.hold({ id: "x", pipeline: "p", run: 1, task: "x" }, onPools({ one: 1 }));
    a.enqueue(candidate("g1", { group: "g", readyAt: 0, demand: onPools({ one: 1 }) }));
    a.enqueue(candidate("g2", { group: "g", readyAt: 1, demand: onPools({ one: 1 }) }));
    a.admit(2);
    expect(usageOf(a, "pool:one").waiting).toBe(2);
    expect(a.remove("g1")).toBe(true);
    expect(a.remove("g1")).toBe(false);
    expect(a.isWaiting("g1")).toBe(false);
    expect(a.explain("g1")).toBeUndefined();
    expect(a.waitingCount).toBe(1);
    expect(usageOf(a, "pool:one").waiting).toBe(1);
    expect(kinds(a.explain("g2"))).toEqual(["pool"]);
    a.release("x");
    expect(ids(a.admit(3))).toEqual(["g2"]);
  });

  it("of the last task of a group leaves nothing behind", () => {
    const a = new Admission(noAging, [poolSpec("one", 1)]);
    a.hold({ id: "x", pipeline: "p", run: 1, task: "x" }, onPools({ one: 1 }));
    a.enqueue(candidate("only", { demand: onPools({ one: 1 }) }));
    a.admit(0);
    a.remove("only");
    a.release("x");
    expect(a.admit(1)).toEqual([]);
    expect(usageOf(a, "pool:one")).toMatchObject({ used: 0, waiting: 0 });
    // The group can be used again.
    a.enqueue(candidate("only", { demand: onPools({ one: 1 }) }));
    expect(ids(a.admit(2))).toEqual(["only"]);
  });

  it("of a reserving task: its reservation is dropped and the tasks it held back are admitted", () => {
    const a = new Admission({ agingPointsPerMinute: 0, reservationAfterMs: 100 }, [poolSpec("p", 3)]);
    a.hold({ id: "r", pipeline: "p", run: 1, task: "r" }, onPools({ p: 1 }));
    a.enqueue(candidate("big", { weight: 5, readyAt: 0, demand: onPools({ p: 3 }) }));
    a.admit(100);
    expect(usageOf(a, "pool:p").reserved).toBe(3);
    a.enqueue(candidate("small", { weight: 1, readyAt: 100, demand: onPools({ p: 1 }) }));
    expect(a.admit(100)).toEqual([]);
    expect(kinds(a.explain("small"))).toEqual(["reserved"]);
    a.remove("big");
    expect(usageOf(a, "pool:p")).toMatchObject({ reserved: 0, reservedFor: [] });
    expect(ids(a.admit(101))).toEqual(["small"]);
  });

  it("of a reserving head: the next task of its group takes over once past the threshold", () => {
    const a = new Admission({ agingPointsPerMinute: 0, reservationAfterMs: 100 }, [poolSpec("p", 3)]);
    a.hold({ id: "r", pipeline: "p", run: 1, task: "r" }, onPools({ p: 1 }));
    a.enqueue(candidate("big1", { group: "big", readyAt: 0, demand: onPools({ p: 3 }) }));
    a.enqueue(candidate("big2", { group: "big", readyAt: 10, demand: onPools({ p: 3 }) }));
    a.admit(100);
    expect(usageOf(a, "pool:p").reservedFor).toEqual(["big1"]);
    a.remove("big1");
    expect(usageOf(a, "pool:p").reservedFor).toEqual([]);
    a.admit(110);
    expect(usageOf(a, "pool:p").reservedFor).toEqual(["big2"]);
  });
});

describe("cost: release wakes only the groups parked on what it frees", () => {
  it("examines just the heads parked on the released resource", () => {
    const a = new Admission(noAging, [poolSpec("a", 1), poolSpec("b", 1)]);
    a.hold({ id: "ha", pipeline: "p", run: 1, task: "ha" }, onPools({ a: 1 }));
    a.hold({ id: "hb", pipeline: "p", run: 1, task: "hb" }, onPools({ b: 1 }));
    for (let i = 0; i < 500; i++) {
      a.enqueue(candidate(`onA${i}`, { group: "onA", readyAt: i, demand: onPools({ a: 1 }) }));
      a.enqueue(candidate(`onB${i}`, { group: "onB", readyAt: i, demand: onPools({ b: 1 }) }));
    }
    a.enqueue(candidate("onA-other", { group: "onA-other", weight: 0, readyAt: 0, demand: onPools({ a: 1 }) }));
    a.admit(1_000);

    const examined: string[] = [];
    const proto = Admission.prototype as unknown as { firstShortfall: (e: { id: string }) => string | undefined };
    const original = proto.firstShortfall;
    vi.spyOn(proto, "firstShortfall").mockImplementation(function (this: Admission, e: { id: string }) {
      examined.push(e.id);
      return original.call(this, e);
    });

    a.release("ha");
    expect(ids(a.admit(1_001))).toEqual(["onA0"]);
    // onA's head was granted, then its next head was looked at (parked again). onA-other ranks
    // below onA and the one freed slot was spoken for, so it stayed parked; the 500 tasks on b
    // were never examined.
    expect(examined).toEqual(["onA0", "onA1"]);

    examined.length = 0;
    expect(a.admit(1_002)).toEqual([]); // nothing changed: nothing examined
    expect(examined).toEqual([]);

    a.release("hb");
    expect(ids(a.admit(1_003))).toEqual(["onB0"]);
    expect(examined).toEqual(["onB0", "onB1"]);
  });

  it("changing a resource's capacity wakes the groups parked on it", () => {
    const a = new Admission(noAging, [poolSpec("a", 1)]);
    a.hold({ id: "h", pipeline: "p", run: 1, task: "h" }, onPools({ a: 1 }));
    a.enqueue(candidate("w", { demand: onPools({ a: 1 }) }));
    expect(a.admit(0)).toEqual([]);
    a.defineResource(poolSpec("a", 2));
    expect(ids(a.admit(1))).toEqual(["w"]);
  });
});

describe("bookkeeping", () => {
  it("hold/release/dropResource", () => {
    const a = new Admission(noAging, [poolSpec("a", 2)]);
    const who = { id: "h", pipeline: "p", run: 1, task: "h" };
    a.hold(who, onPools({ a: 2 }));
    expect(() => a.hold(who, onPools({ a: 1 }))).toThrow(/already holds/);
    expect(a.isHolding("h")).toBe(true);
    expect(a.runningCount).toBe(1);
    a.defineResource({ key: "maxActivePerRun:1:p.t", kind: "maxActivePerRun", name: "p.t", capacity: 1 });
    a.dropResource("pool:a"); // still held: kept
    expect(a.hasResource("pool:a")).toBe(true);
    expect(a.release("h")).toBe(true);
    expect(a.release("h")).toBe(false);
    a.dropResource("pool:a");
    a.dropResource("maxActivePerRun:1:p.t");
    expect(a.hasResource("pool:a")).toBe(false);
    expect(a.hasResource("maxActivePerRun:1:p.t")).toBe(false);
  });
});
