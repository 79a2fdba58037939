/**
 * Properties of admission over random pools, demands, weights, arrivals and durations, driven by a
 * tiny discrete-event loop (arrivals, admits, releases at admittedAt + duration, reservation
 * thresholds from `nextWakeAt`). After every pass: no resource over capacity, nobody holding part
 * of a demand, and every group head past the reservation threshold holding its reservation.
 *
 * The waiting-time bound checked here (see `boundFor`): a task T (weight w, ready at t) whose demand
 * fits the capacities is admitted by
 *
 *     t' + (n + 1) × Dmax,   t1 = t + max(R, (Wmax − w) / rate),
 *                            t' = max(t1, max over S of (readyAt + R)),
 *
 * where S is the set of tasks ranked above T that are still waiting at t1 (n = |S|), R the
 * reservation threshold, rate the aging rate per ms, Wmax the largest weight, Dmax the longest
 * duration. Since every task of S was ready by t1, t' ≤ t1 + R.
 *
 * The tighter `t1 + (n + 1) × Dmax` does not hold in general: a task H of S that has not yet
 * passed its own threshold at t1 holds nothing back, so lower-ranked tasks may keep a resource
 * that H needs and T does not; when H's reservation starts (up to R after t1) it holds T's
 * resources too while it waits for its own. See "the waiting-time bound" below.
 * It does hold when T needs a whole single pool that every task uses (property (d)).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Admission } from "../../src/core/admission/admission.js";
import type { Demand } from "../../src/core/admission/types.js";
import { Heap } from "../../src/core/heap.js";
import { poolSpec } from "./fixtures.js";

// ── model ────────────────────────────────────────────────────────────────────────────────────

interface Kind {
  /** Pool index → slots. */
  demand: Array<[number, number]>;
  weight: number;
}

interface TaskIn {
  kind: number;
  readyAt: number;
  duration: number;
}

interface Scenario {
  pools: number[];
  kinds: Kind[];
  tasks: TaskIn[];
  /** Aging rate = 2^-rateExp points per ms: a power of two keeps rank arithmetic exact. */
  rateExp: number;
  reservationAfterMs: number;
  /** Tasks withdrawn at a time (their run cancelled): removed if waiting, never enqueued if not yet ready. */
  cancels?: Array<{ task: number; at: number }>;
}

interface Outcome {
  id: string;
  index: number;
  weight: number;
  readyAt: number;
  duration: number;
  /** Enqueue order (the rank's last tie-break). */
  seq: number;
  admittedAt: number | undefined;
  cancelled: boolean;
}

interface Result {
  /** Grants in the order they were made: `id@time`. */
  grants: string[];
  outcomes: Outcome[];
  problems: string[];
}

const poolName = (i: number): string => `p${i}`;

function demandOf(kind: Kind): Demand[] {
  return kind.demand.map(([pool, amount]) => ({ key: `pool:${poolName(pool)}`, amount }));
}

function rateOf(s: Scenario): number {
  return 2 ** -s.rateExp;
}

/** Run a scenario to the end; record grants and every invariant violation seen on the way. */
function runScenario(s: Scenario): Result {
  const rate = rateOf(s);
  const adm = new Admission(
    { agingPointsPerMinute: rate * 60_000, reservationAfterMs: s.reservationAfterMs },
    s.pools.map((slots, i) => poolSpec(poolName(i), slots)),
  );
  const outcomes: Outcome[] = s.tasks.map((t, index) => ({
    id: `t${index}`,
    index,
    weight: s.kinds[t.kind]?.weight ?? 0,
    readyAt: t.readyAt,
    duration: t.duration,
    seq: -1,
    admittedAt: undefined,
    cancelled: false,
  }));
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  const demands = s.tasks.map((t) => demandOf(s.kinds[t.kind] as Kind));
  const arrivals = [...outcomes].sort((a, b) => a.readyAt - b.readyAt || a.index - b.index);
  const releases = new Heap<{ at: number; id: string; index: number }>((a, b) => a.at < b.at || (a.at === b.at && a.index < b.index));
  const cancels = [...(s.cancels ?? [])].sort((a, b) => a.at - b.at || a.task - b.task);
  let nextCancel = 0;
  const running = new Set<string>();
  const grants: string[] = [];
  const problems: string[] = [];
  let next = 0;
  let seq = 0;
  let wake: number | undefined;
  let now = -1;

  const check = (when: string): void => {
    const usage = adm.usage();
    for (const u of usage) {
      if (u.used > u.capacity) problems.push(`${when}: ${u.key} over capacity: ${u.used}/${u.capacity}`);
      const held = u.holders.reduce((sum, h) => sum + h.amount, 0);
      if (held !== u.used) problems.push(`${when}: ${u.key} used ${u.used} but holders hold ${held}`);
    }
    const holders = new Map(usage.map((u) => [u.key, new Map(u.holders.map((h) => [h.id, h.amount]))]));
    // Reservations are on time: after a pass, the head of every group (the group's best-ranked
    // waiting task) that has waited R or more holds a reservation on every resource it needs.
    const reservedFor = new Map(usage.map((u) => [u.key, new Set(u.reservedFor)]));
    for (const u of usage) {
      for (const id of u.reservedFor) {
        const o = byId.get(id);
        if (!o || o.seq < 0 || o.admittedAt !== undefined || o.cancelled) problems.push(`${when}: ${u.key} reserved for ${id}, which is not waiting`);
      }
    }
    const heads = new Map<number, Outcome>();
    for (const o of outcomes) {
      if (o.seq < 0 || o.admittedAt !== undefined || o.cancelled) continue;
      const kind = s.tasks[o.index]?.kind ?? 0;
      const h = heads.get(kind);
      if (!h || o.readyAt < h.readyAt || (o.readyAt === h.readyAt && o.seq < h.seq)) heads.set(kind, o);
    }
    for (const h of heads.values()) {
      if (now - h.readyAt < s.reservationAfterMs) continue;
      for (const d of demands[h.index] ?? []) {
        if (!reservedFor.get(d.key)?.has(h.id)) problems.push(`${when}: ${h.id} (ready at ${h.readyAt}) heads its group past the threshold but holds no reservation on ${d.key}`);
      }
    }
    // explainAll (one pass, used by simulate) says of every waiting task what explain says
    // (checked on the smaller scenarios: explain per task per step is quadratic).
    const all = outcomes.length <= 40 ? adm.explainAll() : new Map<string, unknown>();
    for (const o of outcomes.length <= 40 ? outcomes : []) {
      const waiting = o.seq >= 0 && o.admittedAt === undefined && !o.cancelled;
      const one = JSON.stringify(adm.explain(o.id));
      const fromAll = JSON.stringify(all.get(o.id));
      if (waiting !== all.has(o.id)) problems.push(`${when}: explainAll ${waiting ? "misses" : "names"} ${o.id} (waiting: ${waiting})`);
      else if (waiting && one !== fromAll) problems.push(`${when}: ${o.id}: explain ${one} but explainAll ${fromAll}`);
    }
    for (const o of outcomes) {
      const isRunning = running.has(o.id);
      for (const d of demands[o.index] ?? []) {
        const amount = holders.get(d.key)?.get(o.id);
        if (amount !== (isRunning ? d.amount : undefined)) {
          problems.push(`${when}: ${o.id} (running: ${isRunning}) holds ${amount} of ${d.key}, demand ${JSON.stringify(demands[o.index])}`);
        }
      }
    }
  };

  for (;;) {
    const candidates = [arrivals[next]?.readyAt, releases.peek()?.at, cancels[nextCancel]?.at, wake].filter((x): x is number => x !== undefined);
    if (candidates.length === 0) break;
    const t = Math.min(...candidates);
    if (t <= now) {
      problems.push(`time went from ${now} to ${t} (nextWakeAt ${wake})`);
      break;
    }
    now = t;
    for (let r = releases.peek(); r && r.at === now; r = releases.peek()) {
      releases.pop();
      adm.release(r.id);
      running.delete(r.id);
    }
    for (let c = cancels[nextCancel]; c && c.at === now; c = cancels[++nextCancel]) {
      const o = outcomes[c.task];
      if (!o || o.cancelled || o.admittedAt !== undefined) continue;
      o.cancelled = true;
      const wasWaiting = o.seq >= 0;
      if (adm.remove(o.id) !== wasWaiting) problems.push(`t=${now}: remove(${o.id}) disagreed about it waiting (${wasWaiting})`);
    }
    for (let a = arrivals[next]; a && a.readyAt === now; a = arrivals[++next]) {
      if (a.cancelled) continue;
      const kind = s.kinds[s.tasks[a.index]?.kind ?? 0] as Kind;
      a.seq = seq++;
      adm.enqueue({ id: a.id, pipeline: "p", run: 1, task: a.id, group: `k${s.tasks[a.index]?.kind}`, weight: kind.weight, readyAt: now, demand: demandOf(kind) });
    }
    // A caller may ask for the next wake-up between a release and its next pass (the scheduler
    // does): that must not lose a reservation threshold.
    adm.nextWakeAt();
    for (const g of adm.admit(now)) {
      const o = byId.get(g.id);
      if (!o) continue;
      o.admittedAt = now;
      running.add(o.id);
      grants.push(`${o.id}@${now}`);
      releases.push({ at: now + o.duration, id: o.id, index: o.index });
    }
    check(`t=${now}`);
    wake = adm.nextWakeAt();
  }
  for (const o of outcomes) if (o.admittedAt === undefined && !o.cancelled) problems.push(`${o.id} (ready at ${o.readyAt}) was never admitted`);
  if (adm.waitingCount !== 0 || adm.runningCount !== 0) problems.push(`left over: ${adm.waitingCount} waiting, ${adm.runningCount} running`);
  return { grants, outcomes, problems };
}

/** Same order as the code's `ranksAbove`, recomputed from the log. */
function ranksAbove(a: Outcome, b: Outcome, rate: number): boolean {
  const ka = a.weight - rate * a.readyAt;
  const kb = b.weight - rate * b.readyAt;
  if (ka !== kb) return ka > kb;
  if (a.readyAt !== b.readyAt) return a.readyAt < b.readyAt;
  return a.seq < b.seq;
}

interface Bound {
  t1: number;
  tPrime: number;
  n: number;
  dMax: number;
  /** `t1 + (n + 1) × Dmax`: the bound as first stated. */
  stated: number;
  /** `t' + (n + 1) × Dmax`: the bound that holds. */
  proven: number;
}

function boundFor(s: Scenario, r: Result, t: Outcome): Bound {
  const rate = rateOf(s);
  const R = s.reservationAfterMs;
  const wMax = Math.max(...r.outcomes.map((o) => o.weight));
  const dMax = Math.max(...r.outcomes.map((o) => o.duration));
  const t1 = t.readyAt + Math.max(R, (wMax - t.weight) / rate);
  const above = r.outcomes.filter((u) => u !== t && u.readyAt <= t1 && ranksAbove(u, t, rate) && (u.admittedAt === undefined || u.admittedAt > t1));
  const tPrime = Math.max(t1, ...above.map((u) => u.readyAt + R));
  const n = above.length;
  return { t1, tPrime, n, dMax, stated: t1 + (n + 1) * dMax, proven: tPrime + (n + 1) * dMax };
}

function boundViolations(s: Scenario, r: Result, which: "stated" | "proven", only?: (o: Outcome) => boolean): string[] {
  const out: string[] = [];
  for (const t of r.outcomes) {
    if (only && !only(t)) continue;
    const b = boundFor(s, r, t);
    if (t.admittedAt === undefined || t.admittedAt > b[which]) {
      out.push(`${t.id} (w=${t.weight}, ready ${t.readyAt}) admitted at ${t.admittedAt}, bound ${b[which]} (t1=${b.t1}, t'=${b.tPrime}, n=${b.n}, Dmax=${b.dMax})`);
    }
  }
  return out;
}

// ── generators ───────────────────────────────────────────────────────────────────────────────

const poolsArb = fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 6 });

function kindArb(pools: number[]): fc.Arbitrary<Kind> {
  return fc
    .record({
      subset: fc.subarray(pools.map((_, i) => i), { minLength: 1 }),
      fractions: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 6, maxLength: 6 }),
      weight: fc.integer({ min: 0, max: 10 }),
    })
    .map(({ subset, fractions, weight }) => ({
      demand: subset.map((p, j): [number, number] => [p, 1 + Math.floor((fractions[j] ?? 0) * (pools[p] ?? 1))]),
      weight,
    }));
}

const scenarioArb: fc.Arbitrary<Scenario> = poolsArb.chain((pools) =>
  fc.record({
    pools: fc.constant(pools),
    kinds: fc.array(kindArb(pools), { minLength: 1, maxLength: 8 }),
    rateExp: fc.integer({ min: 0, max: 6 }),
    reservationAfterMs: fc.integer({ min: 0, max: 200 }),
    taskSeeds: fc.array(fc.record({ kind: fc.nat(), readyAt: fc.integer({ min: 0, max: 200 }), duration: fc.integer({ min: 1, max: 60 }) }), { minLength: 1, maxLength: 30, size: "max" }),
  }).map(({ kinds, taskSeeds, ...rest }) => ({ ...rest, kinds, tasks: taskSeeds.map((t) => ({ ...t, kind: t.kind % kinds.length })) })),
);

/**
 * The same, with some tasks withdrawn at random times (before, while or after they wait), and few
 * kinds so groups have several members (removing one re-activates a parked group).
 */
const cancellingScenarioArb: fc.Arbitrary<Scenario> = scenarioArb.chain((s) => {
  const kinds = s.kinds.slice(0, 3);
  const tasks = s.tasks.map((t) => ({ ...t, kind: t.kind % kinds.length }));
  return fc
    .array(fc.record({ task: fc.nat({ max: tasks.length - 1 }), at: fc.integer({ min: 0, max: 300 }) }), { maxLength: tasks.length, size: "max" })
    .map((cancels) => ({ ...s, kinds, tasks, cancels }));
});

/**
 * A constant stream of 1-slot tasks on pool 0 (weight ≥ every other task's), every `gap` ms over
 * the horizon, plus a few other tasks with random demands and lower weights.
 */
const streamScenarioArb: fc.Arbitrary<Scenario> = poolsArb.chain((pools) =>
  fc
    .record({
      others: fc.array(kindArb(pools), { minLength: 1, maxLength: 4 }),
      streamWeight: fc.integer({ min: 5, max: 15 }),
      gap: fc.integer({ min: 1, max: 15 }),
      streamDuration: fc.integer({ min: 1, max: 40 }),
      rateExp: fc.integer({ min: 0, max: 6 }),
      reservationAfterMs: fc.integer({ min: 0, max: 200 }),
      victims: fc.array(fc.record({ kind: fc.nat(), readyAt: fc.integer({ min: 0, max: 200 }), duration: fc.integer({ min: 1, max: 40 }) }), { minLength: 1, maxLength: 6 }),
    })
    .map(({ others, streamWeight, gap, streamDuration, rateExp, reservationAfterMs, victims }) => {
      const kinds: Kind[] = [{ demand: [[0, 1]], weight: streamWeight }, ...others.map((k) => ({ ...k, weight: Math.min(k.weight, streamWeight) }))];
      const tasks: TaskIn[] = victims.map((v) => ({ ...v, kind: 1 + (v.kind % others.length) }));
      for (let at = 0; at <= 300; at += gap) tasks.push({ kind: 0, readyAt: at, duration: streamDuration });
      return { pools, kinds, tasks, rateExp, reservationAfterMs };
    }),
);

/** One 3-slot task on a 3-slot pool under a continuous stream of 1-slot tasks. */
const multiSlotArb: fc.Arbitrary<Scenario> = fc
  .record({
    bigWeight: fc.integer({ min: 0, max: 10 }),
    bigReadyAt: fc.integer({ min: 0, max: 100 }),
    bigDuration: fc.integer({ min: 1, max: 40 }),
    streamWeight: fc.integer({ min: 0, max: 10 }),
    gap: fc.integer({ min: 1, max: 10 }),
    durations: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
    rateExp: fc.integer({ min: 0, max: 6 }),
    reservationAfterMs: fc.integer({ min: 0, max: 200 }),
  })
  .map(({ bigWeight, bigReadyAt, bigDuration, streamWeight, gap, durations, rateExp, reservationAfterMs }) => {
    const tasks: TaskIn[] = [{ kind: 0, readyAt: bigReadyAt, duration: bigDuration }];
    let i = 0;
    for (let at = 0; at <= 400; at += gap) tasks.push({ kind: 1, readyAt: at, duration: durations[i++ % durations.length] ?? 1 });
    return {
      pools: [3],
      kinds: [
        { demand: [[0, 3]], weight: bigWeight },
        { demand: [[0, 1]], weight: streamWeight },
      ],
      tasks,
      rateExp,
      reservationAfterMs,
    } satisfies Scenario;
  });

/** `SLUICE_PROPERTY_RUNS=5000 SLUICE_PROPERTY_SEED=7 npx vitest run … --testTimeout=0` for a deeper search. */
const params = { numRuns: Number(process.env.SLUICE_PROPERTY_RUNS ?? 200), seed: Number(process.env.SLUICE_PROPERTY_SEED ?? 20250106) };

// ── properties ───────────────────────────────────────────────────────────────────────────────

describe("admission properties", () => {
  it("(a) no resource is ever over capacity and (b) no task ever holds part of its demand", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        expect(runScenario(s).problems).toEqual([]);
      }),
      params,
    );
  });

  it("(a), (b) and timely reservations hold when waiting tasks are removed (runs cancelled)", () => {
    fc.assert(
      fc.property(cancellingScenarioArb, (s) => {
        expect(runScenario(s).problems).toEqual([]);
      }),
      params,
    );
  });

  it("(c) every task is admitted within t' + (n + 1) × Dmax", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const r = runScenario(s);
        expect(r.problems).toEqual([]);
        expect(boundViolations(s, r, "proven")).toEqual([]);
      }),
      params,
    );
  });

  it("(c) the bound holds under a constant stream of higher-priority 1-slot tasks", () => {
    fc.assert(
      fc.property(streamScenarioArb, (s) => {
        const r = runScenario(s);
        expect(r.problems).toEqual([]);
        expect(boundViolations(s, r, "proven")).toEqual([]);
      }),
      params,
    );
  });

  it("(d) a 3-slot task under a continuous stream of 1-slot tasks on a 3-slot pool is admitted within t1 + (n + 1) × Dmax", () => {
    fc.assert(
      fc.property(multiSlotArb, (s) => {
        const r = runScenario(s);
        expect(r.problems).toEqual([]);
        // Here even the tighter, first-stated bound holds (and so does the general one).
        expect(boundViolations(s, r, "stated", (o) => o.index === 0)).toEqual([]);
        expect(boundViolations(s, r, "proven")).toEqual([]);
      }),
      params,
    );
  });

  it("(e) the same input gives the same grants in the same order", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        expect(runScenario(s).grants).toEqual(runScenario(structuredClone(s)).grants);
      }),
      { ...params, numRuns: 100 },
    );
  });
});

describe("the waiting-time bound", () => {
  /**
   * Pools P and Q of one slot each; R = 15 ms, Dmax = 10 ms, aging rate 1/64 point per ms.
   *
   * T (needs P, weight 1) is ready at 0. Wmax = 2, so t1 = max(15, 1 × 64) = 64.
   * - A chain of weight-2 tasks on P (ranked above T, each admitted before t1, so not in n) keeps
   *   P busy until 73.
   * - H (needs P and Q, weight 2) is ready at 58: above T and still waiting at t1, so n = 1. Its
   *   own threshold is 58 + 15 = 73; until then it holds nothing back.
   * - A chain of weight-0 tasks on Q only (L1 52–62, L2 62–72, L3 72–82) keeps Q busy: H is
   *   blocked on P or Q at every pass, and L3 may take Q at 72 because H is not reserving yet.
   * - At 73 H reserves P and Q. P frees at 73 but is held for H; Q frees at 82; H runs 82–92.
   * T starts at 92 > t1 + 2 × Dmax = 84, but ≤ t' + 2 × Dmax = 73 + 20 = 93.
   */
  const s: Scenario = {
    pools: [1, 1],
    kinds: [
      { demand: [[0, 1]], weight: 1 }, // T
      { demand: [[0, 1]], weight: 2 }, // chain on P
      { demand: [[0, 1], [1, 1]], weight: 2 }, // H
      { demand: [[1, 1]], weight: 0 }, // chain on Q
    ],
    tasks: [
      { kind: 0, readyAt: 0, duration: 1 }, // T
      { kind: 1, readyAt: 0, duration: 10 }, // P 0–10
      { kind: 1, readyAt: 5, duration: 10 }, // P 10–20
      { kind: 1, readyAt: 15, duration: 10 }, // P 20–30
      { kind: 1, readyAt: 25, duration: 10 }, // P 30–40
      { kind: 1, readyAt: 35, duration: 10 }, // P 40–50
      { kind: 1, readyAt: 45, duration: 10 }, // P 50–60
      { kind: 1, readyAt: 55, duration: 3 }, // P 60–63
      { kind: 1, readyAt: 63, duration: 10 }, // P 63–73
      { kind: 2, readyAt: 58, duration: 10 }, // H
      { kind: 3, readyAt: 52, duration: 10 }, // Q 52–62
      { kind: 3, readyAt: 60, duration: 10 }, // Q 62–72
      { kind: 3, readyAt: 70, duration: 10 }, // Q 72–82
    ],
    rateExp: 6,
    reservationAfterMs: 15,
  };

  it("t1 + (n + 1) × Dmax is too tight: a task ranked above T reserves only at its own threshold", () => {
    const r = runScenario(s);
    expect(r.problems).toEqual([]);
    const t = r.outcomes[0] as Outcome;
    const h = r.outcomes[9] as Outcome;
    expect(boundFor(s, r, t)).toMatchObject({ t1: 64, n: 1, dMax: 10, stated: 84, tPrime: 73, proven: 93 });
    expect(r.outcomes.map((o) => o.admittedAt)).toEqual([92, 0, 10, 20, 30, 40, 50, 60, 63, 82, 52, 62, 72]);
    expect(h.admittedAt).toBe(82);
    expect(boundViolations(s, r, "stated", (o) => o === t)).toHaveLength(1);
    expect(boundViolations(s, r, "proven")).toEqual([]);
  });
});
