/**
 * Admission with worker processes: a task runs on one worker, so it needs a slot and its declared
 * memory free on the same worker, whatever the queue's sums say. Unit cases, then properties over
 * random workers and tasks: no worker is ever given more than its slots (with prefetch) or its
 * memory budget, every grant names a worker of the task's queue, no task that fits a worker now is
 * left waiting after a pass, and every task that fits some worker's budget runs in the end.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Admission } from "../../src/core/admission/admission.js";
import type { WorkerBin } from "../../src/core/admission/placement.js";
import type { Demand, Grant, ResourceSpec, WaitReason } from "../../src/core/admission/types.js";
import { Heap } from "../../src/core/heap.js";
import { describeReason } from "../../src/observe/describe.js";

const slotsKey = (q: string) => `queue:${q}`;
const memoryKey = (q: string) => `memory:${q}`;

/** An admission with placed queues `queues`, their sums set from `workers` as the scheduler does. */
function admissionFor(queues: string[], workers: WorkerBin[], reservationAfterMs = 60_000): Admission {
  const specs: ResourceSpec[] = queues.flatMap((q) => {
    const serving = workers.filter((w) => w.queues.includes(slotsKey(q)));
    return [
      { key: slotsKey(q), kind: "queue", name: q, capacity: serving.reduce((n, w) => n + w.slots + w.prefetch, 0) },
      { key: memoryKey(q), kind: "memory", name: q, capacity: serving.some((w) => w.memoryMb === null) ? Number.MAX_SAFE_INTEGER : serving.reduce((n, w) => n + (w.memoryMb ?? 0), 0) },
    ];
  });
  const adm = new Admission({ agingPointsPerMinute: 0, reservationAfterMs }, specs);
  adm.setWorkers(
    queues.map((q) => ({ slots: slotsKey(q), memory: memoryKey(q) })),
    workers,
  );
  return adm;
}

function worker(id: string, queues: string[], slots: number, memoryMb: number | null, more: Partial<WorkerBin> = {}): WorkerBin {
  return { id, queues: queues.map(slotsKey), slots, prefetch: 0, memoryMb, avoid: [], ...more };
}

function demandOf(queue: string, mb: number): Demand[] {
  return [{ key: slotsKey(queue), amount: 1 }, ...(mb > 0 ? [{ key: memoryKey(queue), amount: mb }] : [])];
}

let seq = 0;
function enqueue(adm: Admission, queue: string, mb: number, readyAt = 0, task = `t${mb}`): string {
  const id = `${++seq}/${task}`;
  adm.enqueue({ id, pipeline: "etl", run: seq, task, group: `etl.${task}`, weight: 0, readyAt, demand: demandOf(queue, mb) });
  return id;
}

function placed(grants: Grant[]): Record<string, string | undefined> {
  return Object.fromEntries(grants.map((g) => [g.id, g.worker]));
}

describe("placement on worker processes", () => {
  it("keeps a task that fits the queue's sums but no single worker waiting, and says the largest free on one", () => {
    const adm = admissionFor(["etl"], [worker("a", ["etl"], 4, 2048), worker("b", ["etl"], 4, 2048)]);
    const small = [enqueue(adm, "etl", 1024, 0, "small"), enqueue(adm, "etl", 1024, 0, "small")];
    const first = adm.admit(0);
    expect(first.map((g) => g.id)).toEqual(small);
    // Workers take turns: one 1024 MB task on each.
    expect(new Set(first.map((g) => g.worker))).toEqual(new Set(["a", "b"]));
    const big = enqueue(adm, "etl", 2048, 1, "big");
    expect(adm.admit(1)).toEqual([]);
    const reasons = adm.explain(big) as WaitReason[];
    expect(reasons).toEqual([expect.objectContaining({ kind: "memory", queue: "etl", needMb: 2048, largestFreeMb: 1024, freeMb: 2048, budgetMb: 4096, workers: 2 })]);
    expect(describeReason(reasons[0] as WaitReason)).toMatch(/^needs 2048 MB, the largest free on any worker of queue etl is 1024 MB \(2048 of 4096 MB free on 2 workers\) — held by/);
    // One small task ends: its worker has 2048 MB free now.
    const freed = first.find((g) => g.id === small[0]);
    adm.release(small[0] as string);
    expect(placed(adm.admit(2))).toEqual({ [big]: freed?.worker });
  });

  it("counts a worker serving two queues once: its slots are not offered to each queue", () => {
    const adm = admissionFor(["a", "b"], [worker("w", ["a", "b"], 2, null)]);
    for (let i = 0; i < 2; i++) enqueue(adm, "a", 0, 0, "ta");
    const waitingB = [enqueue(adm, "b", 0, 0, "tb"), enqueue(adm, "b", 0, 0, "tb")];
    const grants = adm.admit(0);
    expect(grants).toHaveLength(2);
    expect(adm.workerUsage()).toEqual([{ id: "w", used: 2, capacity: 2, usedMb: 0, memoryMb: null }]);
    // One explanation pass builds one list of who holds the worker, shared by every group it
    // names (a thousand groups waiting on a busy queue each copied a thousand holders, every second).
    const other = enqueue(adm, "b", 0, 0, "tc");
    const all = adm.explainAll();
    const holdersOf = (id: string) => (all.get(id)?.find((r) => r.kind === "queue") as { holders: unknown[] } | undefined)?.holders;
    expect(holdersOf(waitingB[0] as string)).toHaveLength(2);
    expect(holdersOf(other)).toBe(holdersOf(waitingB[0] as string));
    const reason = adm.explain(waitingB[0] as string)?.[0] as WaitReason;
    expect(reason).toMatchObject({ kind: "queue", name: "b", free: 0, capacity: 2, workers: 1 });
    expect(describeReason(reason)).toMatch(/^waiting for a worker on queue b: 0 of 2 slots free on 1 worker — held by/);
  });

  it("gives a worker with a free slot before one with prefetch room, equals in turns, and never one that avoids the task", () => {
    const adm = admissionFor(["etl"], [worker("a", ["etl"], 1, null, { prefetch: 2 }), worker("b", ["etl"], 2, null), worker("c", ["etl"], 5, null, { avoid: ["etl.t0"] })]);
    for (let i = 0; i < 6; i++) enqueue(adm, "etl", 0);
    const workers = adm.admit(0).map((g) => g.worker);
    expect(workers).toHaveLength(5);
    expect(workers.slice(0, 3).sort()).toEqual(["a", "b", "b"]);
    expect(workers.slice(3)).toEqual(["a", "a"]);
  });

  it("under light load, a small worker gets its share: the largest share of free slots wins, not the most free slots", () => {
    const adm = admissionFor(["etl"], [worker("a", ["etl"], 2, null), worker("b", ["etl"], 4, null)]);
    const on: Array<string | undefined> = [];
    // Two tasks at a time, both ended before the next two: b always has more free slots than a
    // has in all, and used to get every task.
    for (let round = 0; round < 4; round++) {
      const ids = [enqueue(adm, "etl", 0), enqueue(adm, "etl", 0)];
      const grants = adm.admit(round);
      on.push(...grants.map((g) => g.worker));
      for (const id of ids) adm.release(id);
    }
    expect(on.filter((w) => w === "a").length).toBeGreaterThanOrEqual(3);
    expect(on.filter((w) => w === "b").length).toBeGreaterThanOrEqual(3);
  });

  it("keeps a worker for a big task past its reservation threshold: lower-ranked tasks that fit elsewhere go elsewhere", () => {
    const adm = admissionFor(["etl"], [worker("a", ["etl"], 8, 4096), worker("b", ["etl"], 8, 4096), worker("c", ["etl"], 8, 4096)], 0);
    // Each worker runs two 1 GB tasks: 2 GB free on each, 6 GB in all.
    for (const w of ["a", "b", "c"]) for (const i of [1, 2]) adm.hold({ id: `0/${w}${i}`, pipeline: "etl", run: 0, task: `${w}${i}` }, demandOf("etl", 1024), w);
    const big = enqueue(adm, "etl", 3072, 0, "big");
    expect(adm.admit(0)).toEqual([]);
    // Past its threshold (0 here) it keeps the worker with the most room for it, a. Two 1 GB
    // tasks ranked below it fit the sums (6 − 3 reserved ≥ 1 + 1) and go to b and c, not a.
    const small = [enqueue(adm, "etl", 1024, 1, "small"), enqueue(adm, "etl", 1024, 1, "small")];
    const grants = adm.admit(1);
    expect(grants.map((g) => g.id)).toEqual(small);
    expect(grants.map((g) => g.worker).sort()).toEqual(["b", "c"]);
    // One of a's tasks ends: a has 3 GB free, and the big task starts there at once.
    adm.release("0/a1");
    expect(placed(adm.admit(2))).toEqual({ [big]: "a" });
  });

  it("counts what restored attempts hold on their workers, whenever the workers are set", () => {
    const adm = new Admission({ agingPointsPerMinute: 0, reservationAfterMs: 60_000 }, [
      { key: slotsKey("etl"), kind: "queue", name: "etl", capacity: 2 },
      { key: memoryKey("etl"), kind: "memory", name: "etl", capacity: 2048 },
    ]);
    adm.hold({ id: "1/old", pipeline: "etl", run: 1, task: "old" }, demandOf("etl", 1024), "a");
    adm.setWorkers([{ slots: slotsKey("etl"), memory: memoryKey("etl") }], [worker("a", ["etl"], 1, 1024), worker("b", ["etl"], 1, 1024)]);
    expect(adm.workerUsage()).toEqual([
      { id: "a", used: 1, capacity: 1, usedMb: 1024, memoryMb: 1024 },
      { id: "b", used: 0, capacity: 1, usedMb: 0, memoryMb: 1024 },
    ]);
    const next = enqueue(adm, "etl", 512);
    expect(placed(adm.admit(0))).toEqual({ [next]: "b" });
    adm.release("1/old");
    expect(adm.workerUsage()[0]).toMatchObject({ used: 0, usedMb: 0 });
  });
});

// ── properties ───────────────────────────────────────────────────────────────────────────────

interface Scenario {
  workers: Array<{ queues: number; slots: number; prefetch: number; memoryMb: number | null; avoids: boolean }>;
  /** Tasks of one kind share their queue, memory and weight (one admission group). */
  kinds: Array<{ queue: number; mb: number; weight: number }>;
  tasks: Array<{ kind: number; readyAt: number; duration: number }>;
  reservationAfterMs: number;
  /** When the workers change: the last one leaves, then comes back. */
  churn: number | undefined;
}

const QUEUES = ["a", "b"];

function workersOf(s: Scenario, without: number | undefined): WorkerBin[] {
  return s.workers
    .map((w, i) => ({
      id: `w${i}`,
      // Bit 0: queue a, bit 1: queue b (never neither).
      queues: QUEUES.filter((_, q) => ((w.queues || 1) >> q) & 1).map(slotsKey),
      slots: w.slots,
      prefetch: w.prefetch,
      memoryMb: w.memoryMb,
      avoid: w.avoids ? ["p.k0"] : [],
    }))
    .filter((_, i) => i !== without);
}

/** Could the task ever run on one of `workers`? */
function fitsSome(workers: WorkerBin[], queue: string, mb: number, kind: number): boolean {
  return workers.some((w) => w.queues.includes(slotsKey(queue)) && w.slots + w.prefetch > 0 && (w.memoryMb === null || w.memoryMb >= mb) && !w.avoid.includes(`p.k${kind}`));
}

function run(s: Scenario): string[] {
  const problems: string[] = [];
  const all = workersOf(s, undefined);
  const adm = admissionFor(QUEUES, all, s.reservationAfterMs);
  let current = all;
  const setWorkers = (ws: WorkerBin[]) => {
    current = ws;
    adm.setWorkers(
      QUEUES.map((q) => ({ slots: slotsKey(q), memory: memoryKey(q) })),
      ws,
    );
  };
  const tasks = s.tasks.map((t, i) => {
    const kind = t.kind % s.kinds.length;
    const k = s.kinds[kind] as Scenario["kinds"][number];
    return { ...t, ...k, kind, id: `${i}/k${kind}`, queueName: QUEUES[k.queue] as string, admitted: false };
  });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const arrivals = [...tasks].sort((x, y) => x.readyAt - y.readyAt);
  const releases = new Heap<{ at: number; id: string }>((x, y) => x.at < y.at);
  const on = new Map<string, string>();
  let next = 0;
  let now = -1;
  let churned = 0;
  for (let steps = 0; steps < 10_000; steps++) {
    const wake = adm.nextWakeAt();
    const churnAt = s.churn !== undefined && churned < 2 ? s.churn + churned * 500 : undefined;
    const times = [arrivals[next]?.readyAt, releases.peek()?.at, wake, churnAt].filter((x): x is number => x !== undefined && x > now);
    if (times.length === 0) break;
    now = Math.min(...times);
    for (let r = releases.peek(); r && r.at <= now; r = releases.peek()) {
      releases.pop();
      adm.release(r.id);
      on.delete(r.id);
    }
    if (churnAt === now) {
      // The last worker leaves (what runs there keeps its hold until it ends), then comes back.
      setWorkers(churned === 0 ? workersOf(s, s.workers.length - 1) : all);
      churned++;
    }
    for (let a = arrivals[next]; a && a.readyAt <= now; a = arrivals[++next]) {
      adm.enqueue({ id: a.id, pipeline: "p", run: 1, task: `k${a.kind}`, group: `p.k${a.kind}`, weight: a.weight, readyAt: a.readyAt, demand: demandOf(a.queueName, a.mb) });
    }
    for (const g of adm.admit(now)) {
      const t = byId.get(g.id);
      if (!t) continue;
      t.admitted = true;
      const w = current.find((x) => x.id === g.worker);
      if (!w) problems.push(`t=${now}: ${g.id} granted on ${g.worker}, not a live worker`);
      else if (!w.queues.includes(slotsKey(t.queueName))) problems.push(`t=${now}: ${g.id} of queue ${t.queueName} on ${w.id}, which does not serve it`);
      else if (w.avoid.includes(`p.k${t.kind}`)) problems.push(`t=${now}: ${g.id} on ${w.id}, which avoids it`);
      on.set(g.id, g.worker as string);
      releases.push({ at: now + t.duration, id: g.id });
    }
    // No worker over its room, as an independent count of who runs where says.
    for (const w of current) {
      const here = [...on].filter(([, wid]) => wid === w.id).map(([id]) => byId.get(id));
      const mb = here.reduce((n, t) => n + (t?.mb ?? 0), 0);
      if (here.length > w.slots + w.prefetch) problems.push(`t=${now}: ${w.id} holds ${here.length} tasks, room for ${w.slots + w.prefetch}`);
      if (w.memoryMb !== null && mb > w.memoryMb) problems.push(`t=${now}: ${w.id} holds ${mb} MB, budget ${w.memoryMb}`);
    }
    const usage = adm.workerUsage();
    for (const u of usage) {
      const counted = [...on].filter(([, wid]) => wid === u.id);
      if (u.used !== counted.length) problems.push(`t=${now}: placement counts ${u.used} on ${u.id}, ${counted.length} run there`);
    }
    // Work-conserving: after a pass no waiting task is told it fits now.
    for (const [id, reasons] of adm.explainAll()) {
      if (reasons.some((r) => r.kind === "pending")) problems.push(`t=${now}: ${id} fits now but was not admitted: ${JSON.stringify(reasons)}`);
    }
    if (problems.length > 0) break;
  }
  for (const t of tasks) {
    if (!t.admitted && fitsSome(all, t.queueName, t.mb, t.kind)) problems.push(`${t.id} (queue ${t.queueName}, ${t.mb} MB) never ran`);
  }
  return problems;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  workers: fc.array(
    fc.record({
      queues: fc.integer({ min: 1, max: 3 }),
      slots: fc.integer({ min: 1, max: 3 }),
      prefetch: fc.integer({ min: 0, max: 1 }),
      memoryMb: fc.option(fc.constantFrom(1024, 2048, 4096), { nil: null }),
      avoids: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  kinds: fc.array(
    fc.record({
      queue: fc.integer({ min: 0, max: 1 }),
      mb: fc.constantFrom(0, 512, 1024, 2048, 3072),
      weight: fc.integer({ min: 0, max: 2 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  tasks: fc.array(
    fc.record({
      kind: fc.integer({ min: 0, max: 3 }),
      readyAt: fc.integer({ min: 0, max: 2_000 }),
      duration: fc.integer({ min: 1, max: 1_000 }),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  reservationAfterMs: fc.constantFrom(0, 300, 5_000),
  churn: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
});

describe("placement properties", () => {
  it("no worker over its slots or memory, grants only to workers of the queue, work-conserving, and everything that fits runs", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const problems = run(s);
        expect(problems).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
