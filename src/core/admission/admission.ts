import { Heap } from "../heap.js";
import { SortedQueue } from "../sorted-queue.js";
import { explainEntry, FOR_LISTED, type HeldAbove } from "./explain.js";
import { Placement, type PlacedQueue, type PlacementRoom, type WorkerBin } from "./placement.js";
import { Reservations } from "./reservations.js";
import type {
  AdmissionOptions,
  Candidate,
  Demand,
  Grant,
  Holder,
  ResourceSpec,
  ResourceUsage,
  TaskIdentity,
  WaitReason,
} from "./types.js";

/** @internal A waiting task inside admission. */
export interface Entry extends Candidate {
  seq: number;
  removed: boolean;
  groupRef: Group;
}

/** @internal Waiting tasks that share one demand and weight, ordered by rank (= ready time). */
export interface Group {
  key: string;
  entries: SortedQueue<Entry>;
  live: number;
  state: "idle" | "active" | "parked";
  /** The head an `active` heap item was pushed for (stale items are skipped). */
  activeHead: Entry | undefined;
  parkedOn: string | undefined;
  /** Bumped on every park/unpark, so stale items in a parked heap are recognised and skipped. */
  parkToken: number;
  /** The resource whose release woke this group, until it is admitted or parked again. */
  wokenFrom: string | undefined;
  /** The head whose reservations are in place, if any. */
  reserving: Entry | undefined;
  thresholdFor: Entry | undefined;
}

/** @internal */
export interface Resource extends ResourceSpec {
  used: number;
  waiting: number;
  /** Sum of the waiting entries' demand of it. */
  waitingAmount: number;
  holders: Map<string, Holder>;
  /** Reservations on this resource, by waiting entry id, in rank order. */
  reservations: Reservations;
}

interface Held {
  identity: TaskIdentity;
  demand: readonly Demand[];
  /** The worker process it was placed on (with remote workers). */
  bin?: string | undefined;
}

/**
 * Decides which ready tasks may start now, given every limit at once.
 *
 * - **All-or-nothing**: a task takes every resource of its demand in one step, or none.
 * - **Order**: effective priority = weight + aging × minutes waited, then ready time, then
 *   arrival. Aging is linear and the same for every task, so the order of two waiting tasks
 *   never changes while they wait: rank = weight − rate × readyAt is fixed at enqueue, and the
 *   queue needs no re-sorting as time passes.
 * - **Backfill with reservation**: a task that cannot start does not block lower-ranked tasks
 *   that fit; but once it has waited `reservationAfterMs`, what it needs is held for it — no
 *   lower-ranked task may take capacity that would leave it short.
 * - **Cost**: waiting tasks are grouped by demand; only group heads are examined, and a blocked
 *   group is parked on the resource that blocked it until that resource changes. One decision
 *   costs O(log groups + demand size), independent of how many tasks wait.
 *
 * Pure: no I/O and no timers. Time is passed in; {@link Admission.nextWakeAt} says when a
 * reservation threshold will pass so the caller can call {@link Admission.admit} again.
 */
export class Admission {
  private readonly resources = new Map<string, Resource>();
  private readonly groups = new Map<string, Group>();
  private readonly entries = new Map<string, Entry>();
  private readonly held = new Map<string, Held>();
  /**
   * Parked groups by the resource that blocked them, then by how much of it their head needs,
   * each bucket ordered by rank. A release wakes only the best-ranked groups whose need fits in
   * what was freed (no wake storm when a thousand distinct tasks wait on one pool).
   */
  private readonly parked = new Map<string, Map<number | string, Heap<ParkedItem>>>();
  /** Resources whose room grew since they were last drained of parked groups that fit. */
  private readonly dirty = new Set<string>();
  private readonly active = new Heap<{ group: Group; head: Entry }>((a, b) => ranksAbove(a.head, b.head, this.rate));
  private readonly thresholds = new Heap<{ at: number; group: Group; head: Entry }>((a, b) => a.at < b.at);
  private seq = 0;
  private readonly rate: number;
  private readonly reservationAfterMs: number;
  private readonly placement: Placement;
  /** The worker {@link firstShortfall} found for the entry it passed last. */
  private placedOn: string | undefined;

  constructor(options: AdmissionOptions, resources: readonly ResourceSpec[] = []) {
    this.rate = options.agingPointsPerMinute / 60_000;
    this.reservationAfterMs = options.reservationAfterMs;
    this.placement = new Placement(this.rate);
    for (const spec of resources) this.defineResource(spec);
  }

  /** Number of tasks waiting for admission. */
  get waitingCount(): number {
    return this.entries.size;
  }

  /** Number of tasks holding resources. */
  get runningCount(): number {
    return this.held.size;
  }

  hasResource(key: string): boolean {
    return this.resources.has(key);
  }

  /** Add a resource, or change its capacity (waking the tasks parked on it). */
  defineResource(spec: ResourceSpec): void {
    const existing = this.resources.get(spec.key);
    if (existing) {
      existing.capacity = spec.capacity;
      // Why a closed gate is closed changes with it.
      if (spec.tooBig) existing.tooBig = spec.tooBig;
      else delete existing.tooBig;
      this.wake(spec.key);
      return;
    }
    this.resources.set(spec.key, { ...spec, used: 0, waiting: 0, waitingAmount: 0, holders: new Map(), reservations: new Reservations(this.rate) });
  }

  /**
   * The worker processes that serve `queues` (remote workers): from now on a task of one of these
   * queues is admitted only when one worker has a slot and its declared memory free for it, and
   * its grant names that worker. Called again whenever the live workers change; what tasks hold
   * on a worker that stays is kept.
   */
  setWorkers(queues: readonly PlacedQueue[], bins: readonly WorkerBin[]): void {
    const holding: Array<{ bin: string; id: string; demand: readonly Demand[] }> = [];
    for (const h of this.held.values()) if (h.bin !== undefined) holding.push({ bin: h.bin, id: h.identity.id, demand: h.demand });
    this.placement.setBins(queues, bins, holding);
    // Groups parked on a placed queue are bucketed by what tells them apart on a worker (memory,
    // and the task when a worker avoids it): with other workers that may differ, so each is
    // looked at again.
    for (const group of this.groups.values()) {
      if (group.state !== "parked" || group.parkedOn === undefined || !this.placement.isPlaced(group.parkedOn)) continue;
      this.unpark(group);
      this.activate(group);
    }
  }

  /** Each worker's slots and memory in use, as placement counts them (for tests and explanations). */
  workerUsage(): ReturnType<Placement["usage"]> {
    return this.placement.usage();
  }

  /**
   * A rate limit's budget now holds `tokens` (the caller took them from the budget, or computed
   * them from it): `capacity` becomes `tokens` and none are used yet, and the tasks parked on it
   * are woken. `nextTokenAt` is when one more would come, for explanations and
   * {@link nextWakeAt}. What the next pass does not grant is given back with {@link unusedTokens}.
   */
  setTokens(key: string, tokens: number, nextTokenAt: number | undefined): void {
    const r = this.resourceOf(key);
    if (r.kind !== "rate") throw new Error(`admission: ${key} is not a rate limit`);
    r.capacity = tokens;
    r.used = 0;
    r.rate = { ...(r.rate ?? { limit: 0, perMs: 0, burst: 0 }), nextTokenAt, available: tokens };
    this.wake(key);
  }

  /** Tokens of a rate limit set with {@link setTokens} and not granted since; they are no longer offered. */
  unusedTokens(key: string): number {
    const r = this.resourceOf(key);
    const unused = Math.max(0, r.capacity - r.used);
    r.capacity = r.used;
    // Given back, but the budget still holds them: explanations say so.
    if (r.rate) r.rate.available = unused;
    return unused;
  }

  /** Forget a resource nobody holds or waits for (e.g. a finished run's per-run limit). */
  dropResource(key: string): void {
    const r = this.resources.get(key);
    if (r && r.used === 0 && r.waiting === 0) this.resources.delete(key);
  }

  isWaiting(id: string): boolean {
    return this.entries.has(id);
  }

  isHolding(id: string): boolean {
    return this.held.has(id);
  }

  /** A task became ready: it waits for admission from now on. */
  enqueue(candidate: Candidate): void {
    if (this.entries.has(candidate.id) || this.held.has(candidate.id)) {
      throw new Error(`admission: task ${candidate.id} is already waiting or running`);
    }
    for (const d of candidate.demand) {
      const r = this.resources.get(d.key);
      if (!r) throw new Error(`admission: task ${candidate.id} needs unknown resource ${d.key}`);
      r.waiting++;
      r.waitingAmount += d.amount;
    }
    let group = this.groups.get(candidate.group);
    if (!group) {
      group = {
        key: candidate.group,
        // One weight per group, so rank order within it is ready time, then arrival.
        entries: new SortedQueue<Entry>((a, b) => a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq)),
        live: 0,
        state: "idle",
        activeHead: undefined,
        parkedOn: undefined,
        parkToken: 0,
        wokenFrom: undefined,
        reserving: undefined,
        thresholdFor: undefined,
      };
      this.groups.set(candidate.group, group);
    }
    // Every field written out, in one literal: `{ ...candidate, … }` gave each of 100k waiting
    // entries its own hidden class (a map, descriptors and a property array: ~400 bytes apiece).
    const entry: Entry = {
      id: candidate.id,
      pipeline: candidate.pipeline,
      run: candidate.run,
      task: candidate.task,
      group: candidate.group,
      weight: candidate.weight,
      readyAt: candidate.readyAt,
      demand: this.specificFirst(candidate.demand),
      seq: this.seq++,
      removed: false,
      groupRef: group,
    };
    this.entries.set(entry.id, entry);
    group.entries.push(entry);
    group.live++;
    if (group.state === "idle") {
      this.activate(group);
    } else if (group.state === "active" && this.head(group) !== group.activeHead) {
      this.activate(group);
    } else if (group.state === "parked") {
      this.watchThreshold(group);
    }
  }

  /** A waiting task is no longer wanted (its run was cancelled). Returns false if it was not waiting. */
  remove(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    const group = entry.groupRef;
    entry.removed = true;
    this.entries.delete(id);
    group.live--;
    for (const d of entry.demand) {
      const r = this.resourceOf(d.key);
      r.waiting--;
      r.waitingAmount -= d.amount;
    }
    if (group.reserving === entry) this.dropReservation(group);
    this.prune(group);
    if (group.live === 0) {
      this.unpark(group);
      group.state = "idle";
      group.activeHead = undefined;
    } else if (group.state === "parked") {
      // The new head may have waited past the threshold already: let the next pass look.
      this.unpark(group);
      this.activate(group);
    } else if (group.state === "active") {
      this.activate(group);
    }
    return true;
  }

  /**
   * Record a task as holding resources without checking capacity: used when rebuilding state
   * from the store (the decision was made before).
   */
  hold(identity: TaskIdentity | Omit<Holder, "amount">, demand: readonly Demand[], worker?: string): void {
    if (this.held.has(identity.id)) throw new Error(`admission: task ${identity.id} already holds resources`);
    for (const d of demand) this.take(identity, d);
    this.held.set(identity.id, { identity, demand, bin: worker });
    if (worker !== undefined) this.placement.take(worker, identity.id, demand);
  }

  /**
   * Move what `id` holds to another holder identity, unchanged in amount: an attempt that ended
   * while its function still runs keeps its resources under its own id, so the task may retry.
   */
  rekey(id: string, holder: Omit<Holder, "amount">): boolean {
    const held = this.held.get(id);
    if (!held || this.held.has(holder.id)) return false;
    this.held.delete(id);
    for (const d of held.demand) {
      const r = this.resources.get(d.key);
      if (!r || r.kind === "rate") continue;
      const prev = r.holders.get(id);
      r.holders.delete(id);
      r.holders.set(holder.id, { ...holder, amount: prev?.amount ?? d.amount });
    }
    this.held.set(holder.id, { identity: holder, demand: held.demand, bin: held.bin });
    if (held.bin !== undefined) this.placement.rekey(held.bin, id, holder.id);
    return true;
  }

  /** A running task ended: its resources go back and the tasks parked on them are woken. */
  release(id: string): boolean {
    const held = this.held.get(id);
    if (!held) return false;
    this.held.delete(id);
    for (const d of held.demand) {
      const r = this.resources.get(d.key);
      if (!r || r.kind === "rate") continue;
      r.used -= d.amount;
      r.holders.delete(id);
      this.wake(d.key);
    }
    if (held.bin !== undefined) {
      this.placement.give(held.bin, id, held.demand);
      this.wakeWorker(held.bin);
    }
    return true;
  }

  /** Admit every waiting task that fits now, in rank order, taking their resources. */
  admit(now: number): Grant[] {
    this.passThresholds(now);
    const grants: Grant[] = [];
    for (;;) {
      // Woken groups join the active heap before anything is popped, so a group parked earlier
      // competes by rank with the ones already active.
      if (this.dirty.size > 0) this.wakeDirty();
      const item = this.active.pop();
      if (!item) break;
      const group = item.group;
      if (group.state !== "active" || group.activeHead !== item.head || this.head(group) !== item.head) continue;
      group.activeHead = undefined;
      const head = item.head;
      const blockedOn = this.firstShortfall(head);
      if (blockedOn === undefined) {
        grants.push(this.grant(group, head, now));
        continue;
      }
      if (now - head.readyAt >= this.reservationAfterMs && group.reserving !== head && this.couldFit(head, blockedOn)) this.reserve(group, head);
      this.park(group, blockedOn);
    }
    return grants;
  }

  /**
   * When `admit` has something new to do without a new input, if ever: the next reservation
   * threshold, or the next token of a rate limit tasks are parked on.
   */
  nextWakeAt(): number | undefined {
    const threshold = this.nextThreshold();
    let t = threshold ?? Number.POSITIVE_INFINITY;
    for (const key of this.parked.keys()) {
      const at = this.resources.get(key)?.rate?.nextTokenAt;
      if (at !== undefined && at < t) t = at;
    }
    return Number.isFinite(t) ? t : undefined;
  }

  private nextThreshold(): number | undefined {
    for (let top = this.thresholds.peek(); top; top = this.thresholds.peek()) {
      // Keep the item while its group is awake (woken by a release, not yet re-examined): if the
      // next pass parks it again, watchThreshold will not push the same head a second time.
      const g = top.group;
      if (g.state !== "idle" && g.thresholdFor === top.head && g.reserving !== top.head) return top.at;
      this.thresholds.pop();
    }
    return undefined;
  }

  /** Why a waiting task is not admitted; `undefined` when it is not waiting in admission. */
  explain(id: string): WaitReason[] | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.holdersMemo.clear();
    const group = entry.groupRef;
    const head = this.head(group) ?? entry;
    return explainEntry(entry, head, group, this.resources, (e, key) => this.heldAbove(e, key), this.rate, this.roomOf, this.holdersOn);
  }

  /**
   * Why every waiting task is not admitted, keyed by id: the same reasons {@link explain} gives
   * each, computed once per group (a group's tasks share one demand, so only its head's resources
   * are examined, and a task's place behind the head is its index in the group's rank order).
   * Costs O(waiting tasks + groups × demand × log reservations) instead of `explain`'s
   * O(group size) per task.
   */
  explainAll(): Map<string, WaitReason[]> {
    const out = new Map<string, WaitReason[]>();
    this.holdersMemo.clear();
    const held = (e: Entry, key: string): HeldAbove => this.heldAbove(e, key);
    for (const group of this.groups.values()) {
      const head = this.head(group);
      if (!head) continue;
      const headReasons = explainEntry(head, head, group, this.resources, held, this.rate, this.roomOf, this.holdersOn);
      const shared = headReasons.filter((r) => r.kind !== "pending");
      const tail = shared.length > 0 ? shared : headReasons;
      let ahead = 0;
      for (const entry of group.entries.values()) {
        if (entry === undefined || entry.removed) continue;
        out.set(entry.id, entry === head ? headReasons : [{ kind: "behind", ahead, head: head.id }, ...tail]);
        ahead++;
      }
    }
    return out;
  }

  /** Effective priority of a waiting task at `now`: weight + aging bonus. */
  effectivePriority(id: string, now: number): number | undefined {
    const entry = this.entries.get(id);
    return entry ? entry.weight + this.rate * Math.max(0, now - entry.readyAt) : undefined;
  }

  /** Every resource with its current use, reservations, waiters and holders. */
  /** How much of one resource is held, and its capacity; `undefined` for an unknown key. */
  usageOf(key: string): { used: number; capacity: number } | undefined {
    const r = this.resources.get(key);
    return r ? { used: r.used, capacity: r.capacity } : undefined;
  }

  /** What the waiting tasks need of one resource in all; 0 for an unknown key. */
  waitingAmountOf(key: string): number {
    return this.resources.get(key)?.waitingAmount ?? 0;
  }

  usage(): ResourceUsage[] {
    return [...this.resources.values()].map((r) => {
      let reserved = 0;
      for (const res of r.reservations.values()) reserved += res.amount;
      return {
        key: r.key,
        kind: r.kind,
        name: r.name,
        capacity: r.capacity,
        used: r.used,
        reserved,
        waiting: r.waiting,
        waitingAmount: r.waitingAmount,
        holders: [...r.holders.values()],
        reservedFor: [...r.reservations.keys()],
        ...(r.adaptive ? { adaptive: r.adaptive } : {}),
        ...(r.rate ? { rate: r.rate } : {}),
      };
    });
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────

  private resourceOf(key: string): Resource {
    const r = this.resources.get(key);
    if (!r) throw new Error(`admission: unknown resource ${key}`);
    return r;
  }

  private head(group: Group): Entry | undefined {
    this.prune(group);
    return group.entries.peek();
  }

  private prune(group: Group): void {
    while (group.entries.peek()?.removed) group.entries.pop();
  }

  private activate(group: Group): void {
    const head = this.head(group);
    if (!head) return;
    group.state = "active";
    group.activeHead = head;
    this.active.push({ group, head });
  }

  private park(group: Group, key: string): void {
    const head = this.head(group);
    if (!head) return;
    // Woken by room on a resource but not admitted: the share of that room it was woken for is
    // unused, so the groups still parked there get their chance. That holds when it stopped on the
    // same resource too (a group ranked above took part of the room; what is left may fit a smaller need).
    if (group.wokenFrom !== undefined) this.dirty.add(group.wokenFrom);
    group.wokenFrom = undefined;
    group.state = "parked";
    group.parkedOn = key;
    const token = ++group.parkToken;
    const placed = this.placement.active && this.placement.isPlaced(key) ? this.placement.need(head.demand) : undefined;
    const need: number | string = placed ? this.placement.bucketOf(head, placed) : (head.demand.find((d) => d.key === key)?.amount ?? 0);
    let buckets = this.parked.get(key);
    if (!buckets) this.parked.set(key, (buckets = new Map()));
    let bucket = buckets.get(need);
    if (!bucket) buckets.set(need, (bucket = new Heap<ParkedItem>((a, b) => ranksAbove(a.head, b.head, this.rate))));
    bucket.push({ group, head, token });
    this.watchThreshold(group);
  }

  private unpark(group: Group): void {
    group.parkedOn = undefined;
    group.parkToken++;
  }

  /** The room of `key` grew: the next pass wakes the parked groups that now fit on it. */
  private wake(key: string): void {
    if (this.parked.has(key)) this.dirty.add(key);
  }

  /**
   * For every resource whose room grew, wake parked groups best rank first while their needs fit
   * in that room (skipping a big need that does not fit for a smaller one that does: backfill).
   * Only those groups are examined; the rest stay parked.
   */
  private wakeDirty(): void {
    for (const key of [...this.dirty]) {
      this.dirty.delete(key);
      const buckets = this.parked.get(key);
      const r = this.resources.get(key);
      if (!buckets || !r) continue;
      if (this.placement.active && this.placement.isPlaced(key)) {
        this.wakePlaced(key, r, buckets);
        if (buckets.size === 0) this.parked.delete(key);
        continue;
      }
      let budget = r.capacity - r.used;
      // Groups woken in this pass: their need is taken out of `budget` already, so a reservation
      // they hold on `key` must not also count as held back for the groups ranked below them.
      const woken: Entry[] = [];
      const heldBack = (e: Entry) => {
        let sum = this.reservedAbove(e, key);
        for (const w of woken) {
          const res = r.reservations.get(w.id);
          if (res?.entry === w && w !== e && ranksAbove(w, e, this.rate)) sum -= res.amount;
        }
        return sum;
      };
      for (;;) {
        let best: { item: ParkedItem; bucket: Heap<ParkedItem> } | undefined;
        for (const [need, bucket] of buckets) {
          const top = liveTop(buckets, need, bucket, key);
          if (!top) continue;
          if (budget - heldBack(top.head) < (need as number)) continue;
          if (!best || ranksAbove(top.head, best.item.head, this.rate)) best = { item: top, bucket };
        }
        if (!best) break;
        best.bucket.pop();
        const group = best.item.group;
        budget -= best.item.head.demand.find((d) => d.key === key)?.amount ?? 0;
        woken.push(best.item.head);
        this.unpark(group);
        group.wokenFrom = key;
        this.activate(group);
      }
      if (buckets.size === 0) this.parked.delete(key);
    }
  }

  /**
   * A placed queue's room changed: wake the best-ranked parked group whose head fits on a worker
   * now — exactly, so a woken group is admitted unless a better-ranked one takes the room first.
   * One at a time: the grant wakes the key again for the next (a sum of free room says nothing of
   * whether two tasks fit on one worker or on none).
   */
  private wakePlaced(key: string, r: Resource, buckets: Map<number | string, Heap<ParkedItem>>): void {
    let best: { item: ParkedItem; bucket: Heap<ParkedItem> } | undefined;
    for (const [bucketKey, bucket] of buckets) {
      const top = liveTop(buckets, bucketKey, bucket, key);
      if (!top) continue;
      if (best && !ranksAbove(top.head, best.item.head, this.rate)) continue;
      const amount = top.head.demand.find((d) => d.key === key)?.amount ?? 0;
      if (r.capacity - r.used - this.reservedAbove(top.head, key) < amount) continue;
      const need = this.placement.need(top.head.demand);
      if (need && this.placement.find(top.head, need) === undefined) continue;
      best = { item: top, bucket };
    }
    if (!best) return;
    best.bucket.pop();
    const group = best.item.group;
    this.unpark(group);
    group.wokenFrom = key;
    this.activate(group);
  }

  private watchThreshold(group: Group): void {
    const head = this.head(group);
    if (!head || group.reserving === head || group.thresholdFor === head) return;
    group.thresholdFor = head;
    this.thresholds.push({ at: head.readyAt + this.reservationAfterMs, group, head });
  }

  private passThresholds(now: number): void {
    for (let top = this.thresholds.peek(); top && top.at <= now; top = this.thresholds.peek()) {
      this.thresholds.pop();
      const { group, head } = top;
      if (group.state === "parked" && group.thresholdFor === head && group.reserving !== head && this.head(group) === head) {
        this.unpark(group);
        this.activate(group);
      }
    }
  }

  /**
   * The demand in the order shortfalls are looked for: specific resources (pools, limits, memory)
   * before the shared ones (parallelism, worker slots). A blocked group parks on the first
   * shortfall, so a group short of a pool waits on that pool and is not woken by every freed
   * parallelism slot it could not use anyway (bench/admission.ts, "random" refill, 100k waiting:
   * 4.9 group heads examined per decision with parallelism first, 4.0 with pools first).
   */
  private specificFirst(demand: readonly Demand[]): Demand[] {
    // Tasks of one definition share their demand array: order it once, not once per waiting task.
    const cached = this.ordered.get(demand);
    if (cached) return cached;
    const shared = (d: Demand) => {
      const kind = this.resources.get(d.key)?.kind;
      return kind === "parallelism" || kind === "queue" ? 1 : 0;
    };
    const ordered = demand.filter((d) => d.amount > 0).sort((a, b) => shared(a) - shared(b));
    this.ordered.set(demand, ordered);
    return ordered;
  }
  private readonly ordered = new WeakMap<readonly Demand[], Demand[]>();

  private firstShortfall(entry: Entry): string | undefined {
    this.placedOn = undefined;
    for (const d of entry.demand) {
      const r = this.resourceOf(d.key);
      if (r.capacity - r.used - this.reservedAbove(entry, d.key) < d.amount) return d.key;
    }
    // The sums have room: with worker processes, one of them must have it all.
    const need = this.placement.active ? this.placement.need(entry.demand) : undefined;
    if (!need) return undefined;
    this.placedOn = this.placement.find(entry, need);
    return this.placedOn === undefined ? this.placement.shortOf(entry, need) : undefined;
  }

  /**
   * Whether what `entry` is short of can come back by releases: not a resource whose capacity is
   * below its need (a closed gate, a queue nobody serves, a pool too small for it), nor a placed
   * queue none of whose workers could ever hold it. Holding capacity for a task that cannot start
   * when it is freed would only keep it idle.
   */
  private couldFit(entry: Entry, key: string): boolean {
    const r = this.resourceOf(key);
    const amount = entry.demand.find((d) => d.key === key)?.amount ?? 0;
    if (r.kind !== "rate" && r.capacity < amount) return false;
    const need = this.placement.active ? this.placement.need(entry.demand) : undefined;
    return !need || this.placement.couldHold(entry, need);
  }

  /** What the workers `entry` could run on offer it, when `key` is its queue's slots or memory. */
  private readonly roomOf = (entry: Entry, key: string): PlacementRoom | undefined => {
    if (!this.placement.active || !this.placement.isPlaced(key)) return undefined;
    const need = this.placement.need(entry.demand);
    return need ? this.placement.room(entry, need) : undefined;
  };

  /**
   * Who holds room on the workers of `room`, as holders of `key` (a task of another queue on the
   * same worker holds its slot: amount 1). One list per key and set of workers for a whole
   * explanation pass: a thousand waiting groups of one queue share it, rather than each building
   * its own list of every task running on the queue.
   */
  private readonly holdersOn = (key: string, room: PlacementRoom): Holder[] => {
    const memoKey = `${key}\u0000${room.workerIds.join("\u0000")}`;
    const cached = this.holdersMemo.get(memoKey);
    if (cached) return cached;
    const out: Holder[] = [];
    for (const id of this.placement.holdersOn(room.workerIds)) {
      const h = this.held.get(id);
      if (h) out.push({ ...h.identity, amount: h.demand.find((d) => d.key === key)?.amount ?? 1 });
    }
    this.holdersMemo.set(memoKey, out);
    return out;
  };
  /** {@link holdersOn}'s lists, for one explanation pass. */
  private readonly holdersMemo = new Map<string, Holder[]>();

  /** A worker's room changed: the placed queues it serves get their parked tasks looked at. */
  private wakeWorker(id: string): void {
    for (const key of this.placement.keysOf(id)) this.wake(key);
  }

  private unreserveWorkers(entry: Entry): void {
    for (const id of this.placement.unreserve(entry)) this.wakeWorker(id);
  }

  /** Capacity of `key` held for waiting tasks ranked above `entry`. */
  private heldAbove(entry: Entry, key: string): HeldAbove {
    const r = this.resources.get(key);
    if (!r) return { amount: 0, for: [], total: 0 };
    const { ids, total } = r.reservations.holdersAbove(entry, FOR_LISTED);
    return { amount: r.reservations.heldAbove(entry), for: ids, total };
  }

  private reservedAbove(entry: Entry, key: string): number {
    return this.resources.get(key)?.reservations.heldAbove(entry) ?? 0;
  }


  private reserve(group: Group, head: Entry): void {
    if (group.reserving) this.dropReservation(group);
    group.reserving = head;
    for (const d of head.demand) this.resourceOf(d.key).reservations.set(head.id, { entry: head, amount: d.amount });
    const need = this.placement.active ? this.placement.need(head.demand) : undefined;
    if (need) this.placement.reserve(head, need);
  }

  private dropReservation(group: Group): void {
    const head = group.reserving;
    if (!head) return;
    group.reserving = undefined;
    for (const d of head.demand) {
      const r = this.resources.get(d.key);
      if (r?.reservations.delete(head.id)) this.wake(d.key);
    }
    this.unreserveWorkers(head);
  }

  private take(identity: TaskIdentity, d: Demand): void {
    const r = this.resourceOf(d.key);
    r.used += d.amount;
    // Tokens are spent, not held: nobody holds a rate limit, and nothing comes back on release.
    if (r.kind === "rate") return;
    const prev = r.holders.get(identity.id);
    r.holders.set(identity.id, { ...identity, amount: (prev?.amount ?? 0) + d.amount });
  }

  private grant(group: Group, head: Entry, now: number): Grant {
    const worker = this.placedOn;
    this.placedOn = undefined;
    if (group.reserving === head) {
      // Its reservations turn into holdings: nothing is freed, so nobody needs waking.
      group.reserving = undefined;
      for (const d of head.demand) this.resourceOf(d.key).reservations.delete(head.id);
      this.placement.unreserve(head);
    }
    group.wokenFrom = undefined;
    group.entries.pop();
    group.live--;
    this.entries.delete(head.id);
    const identity: TaskIdentity = { id: head.id, pipeline: head.pipeline, run: head.run, task: head.task };
    for (const d of head.demand) {
      const r = this.resourceOf(d.key);
      r.waiting--;
      r.waitingAmount -= d.amount;
      this.take(identity, d);
    }
    this.held.set(head.id, { identity, demand: head.demand, bin: worker });
    if (worker !== undefined) {
      this.placement.take(worker, head.id, head.demand);
      // Parked tasks of placed queues are woken one at a time (each wake is exact); the next is
      // looked at now that this one took its room.
      this.wakeWorker(worker);
    }
    if (group.live > 0) this.activate(group);
    else group.state = "idle";
    return { ...identity, demand: head.demand, readyAt: head.readyAt, admittedAt: now, ...(worker !== undefined ? { worker } : {}) };
  }
}

interface ParkedItem {
  group: Group;
  head: Entry;
  token: number;
}

/**
 * The best-ranked group still parked on `key` in one bucket, dropping the stale items above it (a
 * group woken or parked elsewhere since); an emptied bucket is removed.
 */
function liveTop(buckets: Map<number | string, Heap<ParkedItem>>, bucketKey: number | string, bucket: Heap<ParkedItem>, key: string): ParkedItem | undefined {
  let top = bucket.peek();
  while (top && (top.group.parkToken !== top.token || top.group.parkedOn !== key)) {
    bucket.pop();
    top = bucket.peek();
  }
  if (!top) buckets.delete(bucketKey);
  return top;
}

/** True when `a` ranks strictly above `b`: higher weight − rate × readyAt, then earlier, then first in. */
export function ranksAbove(a: Entry, b: Entry, rate: number): boolean {
  const ka = a.weight - rate * a.readyAt;
  const kb = b.weight - rate * b.readyAt;
  if (ka !== kb) return ka > kb;
  if (a.readyAt !== b.readyAt) return a.readyAt < b.readyAt;
  return a.seq < b.seq;
}
