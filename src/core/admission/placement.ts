import type { Entry } from "./admission.js";
import { ranksAbove } from "./admission.js";
import type { Demand } from "./types.js";

/**
 * A worker process, as admission places tasks on it (with remote workers). A queue's slots and
 * memory are summed over its workers for the counters `sluice pools` shows, but a task runs on one
 * worker: it needs one slot and its declared memory on the same worker, and a worker serving two
 * queues has its slots once, not once per queue.
 */
export interface WorkerBin {
  /** The worker's name. */
  id: string;
  /** Keys of the queue resources (kind `queue`) it serves. */
  queues: readonly string[];
  /** Attempts it runs at once. */
  slots: number;
  /** Attempts it holds beyond its slots, queued to start as slots free. */
  prefetch: number;
  /** Its memory budget for declared memory, in MB; `null`: no limit. */
  memoryMb: number | null;
  /** Tasks (`pipeline.task`) it does not run: its code defines them differently. */
  avoid: readonly string[];
}

/** A queue served by worker processes: the resource of its slots and the one of its memory. */
export interface PlacedQueue {
  slots: string;
  memory: string;
}

interface Bin {
  id: string;
  queues: Set<string>;
  slots: number;
  capacity: number;
  memoryMb: number | null;
  avoid: Set<string>;
  used: number;
  usedMb: number;
  /** A waiting task past its reservation threshold this worker's room is kept for. */
  reservedBy: Entry | undefined;
  /** Who holds its room (admission's holder ids). */
  holders: Set<string>;
  /** The slot and memory resource keys of the queues it serves: woken when its room changes (every grant and release). */
  keys: readonly string[];
}

/** What a task needs placed on one worker: a slot of the queue `queue` and `mb` of its memory. */
export interface PlacementNeed {
  queue: string;
  memory: string;
  mb: number;
}

/** What the workers a task could run on offer it, for explanations. */
export interface PlacementRoom {
  /** Workers of its queue that run its definition. */
  workers: number;
  /** Slots (with prefetch room) on them, and how many are free. */
  capacity: number;
  freeSlots: number;
  /** The most memory free on one of them that has a free slot; `null`: one has no memory limit. */
  largestFreeMb: number | null;
  /** Their memory budgets in all, and what is free of them. */
  budgetMb: number;
  freeMb: number;
  /** Which workers they are. */
  workerIds: string[];
}

/**
 * Which worker each admitted task goes to. Admission asks it whether a task fits on some worker
 * after the summed counters said yes, and takes the worker's room with the task's other resources
 * in the same step; so no worker is ever given more slots or declared memory than it has, and a
 * task that fits the sums but no single worker (3 GB free as 1 GB on three workers) waits with that
 * reason instead of being started where it cannot run.
 *
 * Choice: a worker with a free slot before one with only prefetch room, the largest share of
 * its slots (or prefetch room) free first; workers with as much take turns. A task past its reservation threshold keeps the worker
 * that has the most room for it: lower-ranked tasks are not placed there, so a big task is not
 * starved by small ones that each fit somewhere.
 */
export class Placement {
  private bins: Bin[] = [];
  private readonly byId = new Map<string, Bin>();
  /** Queue slot resource key → its memory resource key, and back. */
  private readonly memoryOf = new Map<string, string>();
  private readonly slotsOf = new Map<string, string>();
  private turn = 0;

  constructor(private readonly rate: number) {}

  /** True once workers were set: tasks of placed queues need a worker as well as the sums. */
  get active(): boolean {
    return this.memoryOf.size > 0;
  }

  /** Is `key` the slots or memory resource of a queue served by worker processes? */
  isPlaced(key: string): boolean {
    return this.memoryOf.has(key) || this.slotsOf.has(key);
  }

  /** The queues' resources this worker's room counts for: woken when it changes. */
  keysOf(id: string): readonly string[] {
    return this.byId.get(id)?.keys ?? [];
  }

  /**
   * Replace the workers. What tasks hold on a worker that stays is kept (`holding` lists every
   * holder's worker and memory); a worker that left counts for nothing (its attempts end with their
   * leases). A reservation on a worker that stays stays.
   */
  setBins(queues: readonly PlacedQueue[], bins: readonly WorkerBin[], holding: Iterable<{ bin: string; id: string; demand: readonly Demand[] }>): void {
    this.memoryOf.clear();
    this.slotsOf.clear();
    this.needs = new WeakMap();
    for (const q of queues) {
      this.memoryOf.set(q.slots, q.memory);
      this.slotsOf.set(q.memory, q.slots);
    }
    const previous = this.byId;
    const next: Bin[] = bins.map((b) => {
      const queues = b.queues.filter((q) => this.memoryOf.has(q));
      return {
        id: b.id,
        queues: new Set(queues),
        keys: queues.flatMap((q) => [q, this.memoryOf.get(q) as string]),
        slots: b.slots,
        capacity: b.slots + b.prefetch,
        memoryMb: b.memoryMb,
        avoid: new Set(b.avoid),
        used: 0,
        usedMb: 0,
        reservedBy: previous.get(b.id)?.reservedBy,
        holders: new Set(),
      };
    });
    this.byId.clear();
    for (const b of next) this.byId.set(b.id, b);
    this.bins = next;
    for (const h of holding) {
      const b = this.byId.get(h.bin);
      if (!b) continue;
      b.used++;
      b.usedMb += this.need(h.demand)?.mb ?? 0;
      b.holders.add(h.id);
    }
  }

  /** What `demand` needs placed, if it names a placed queue. */
  need(demand: readonly Demand[]): PlacementNeed | undefined {
    const cached = this.needs.get(demand);
    if (cached !== undefined) return cached ?? undefined;
    let need: PlacementNeed | null = null;
    for (const d of demand) {
      const memory = this.memoryOf.get(d.key);
      if (memory !== undefined) need = { queue: d.key, memory, mb: demand.find((m) => m.key === memory)?.amount ?? 0 };
    }
    this.needs.set(demand, need);
    return need ?? undefined;
  }
  private needs = new WeakMap<readonly Demand[], PlacementNeed | null>();

  /**
   * Which parked bucket of a placed queue `entry` waits in: tasks of one bucket are told apart on
   * no worker (same memory; the task itself when some worker avoids it), so when the best-ranked
   * of a bucket does not fit on any worker, none of the bucket does.
   */
  bucketOf(entry: Entry, need: PlacementNeed): number | string {
    const task = taskKey(entry);
    return this.bins.some((b) => b.avoid.has(task)) ? `${need.mb}:${task}` : need.mb;
  }

  /** The worker `entry` goes to now, if one has room for it; `undefined`: none has. */
  find(entry: Entry, need: PlacementNeed): string | undefined {
    const n = this.bins.length;
    let best: Bin | undefined;
    let bestRoom = 0;
    const from = n === 0 ? 0 : this.turn % n;
    const task = taskKey(entry);
    for (let i = 0; i < n; i++) {
      const b = this.bins[(from + i) % n] as Bin;
      if (!this.serves(b, entry, need, task) || b.used >= b.capacity || !fitsMemory(b, need.mb)) continue;
      // A free slot (it starts at once) beats room in a prefetch queue (it waits there); then the
      // largest share free, so a 2-slot and a 4-slot worker both get work under light load (by
      // free slots alone the bigger one took everything while it had more free than the other had
      // in all).
      const room = b.used < b.slots ? 1 + (b.slots - b.used) / b.slots : (b.capacity - b.used) / b.capacity;
      if (room > bestRoom) {
        best = b;
        bestRoom = room;
      }
    }
    return best?.id;
  }

  /** The shortfall that keeps `entry` off every worker: no free slot (its queue), or no memory. */
  shortOf(entry: Entry, need: PlacementNeed): string {
    const task = taskKey(entry);
    const slotFree = this.bins.some((b) => this.serves(b, entry, need, task) && b.used < b.capacity);
    return slotFree && need.mb > 0 ? need.memory : need.queue;
  }

  /** `holder` takes its room on worker `id`. */
  take(id: string, holder: string, demand: readonly Demand[]): void {
    const b = this.byId.get(id);
    if (!b) return;
    b.used++;
    b.usedMb += this.need(demand)?.mb ?? 0;
    b.holders.add(holder);
    this.turn++;
  }

  /** `holder` gives its room on worker `id` back. */
  give(id: string, holder: string, demand: readonly Demand[]): void {
    const b = this.byId.get(id);
    if (!b?.holders.delete(holder)) return;
    b.used--;
    b.usedMb -= this.need(demand)?.mb ?? 0;
  }

  /** A holder's id changed (an ended attempt whose function still runs keeps its room under its own id). */
  rekey(id: string, from: string, to: string): void {
    const b = this.byId.get(id);
    if (b?.holders.delete(from)) b.holders.add(to);
  }

  /**
   * `entry` passed its reservation threshold: keep for it the worker with the most room for it
   * (most free memory, then most free slots) among those it can ever run on. Returns the worker
   * whose reservation changed, if any.
   */
  reserve(entry: Entry, need: PlacementNeed): string | undefined {
    const task = taskKey(entry);
    let best: Bin | undefined;
    for (const b of this.bins) {
      if (!this.serves(b, entry, need, task) || b.capacity < 1 || (b.memoryMb !== null && b.memoryMb < need.mb)) continue;
      if (!best || freeMb(b) > freeMb(best) || (freeMb(b) === freeMb(best) && b.capacity - b.used > best.capacity - best.used)) best = b;
    }
    if (!best) return undefined;
    best.reservedBy = entry;
    return best.id;
  }

  /** Could some worker hold `entry` once what runs there ends? */
  couldHold(entry: Entry, need: PlacementNeed): boolean {
    const task = taskKey(entry);
    return this.bins.some((b) => b.queues.has(need.queue) && !b.avoid.has(task) && b.capacity > 0 && (b.memoryMb === null || b.memoryMb >= need.mb));
  }

  /** `entry` no longer waits (admitted, withdrawn, or its reservation dropped): the workers kept for it are free for all. */
  unreserve(entry: Entry): string[] {
    const freed: string[] = [];
    for (const b of this.bins) {
      if (b.reservedBy === entry) {
        b.reservedBy = undefined;
        freed.push(b.id);
      }
    }
    return freed;
  }

  /** What the workers `entry` could run on offer it. */
  room(entry: Entry, need: PlacementNeed): PlacementRoom {
    const task = taskKey(entry);
    const room: PlacementRoom = { workers: 0, capacity: 0, freeSlots: 0, largestFreeMb: 0, budgetMb: 0, freeMb: 0, workerIds: [] };
    for (const b of this.bins) {
      if (!b.queues.has(need.queue) || b.avoid.has(task)) continue;
      room.workers++;
      room.capacity += b.capacity;
      room.workerIds.push(b.id);
      const kept = b.reservedBy !== undefined && b.reservedBy !== entry && ranksAbove(b.reservedBy, entry, this.rate);
      const free = kept ? 0 : Math.max(0, b.capacity - b.used);
      room.freeSlots += free;
      if (b.memoryMb === null) {
        if (free > 0) room.largestFreeMb = null;
        continue;
      }
      room.budgetMb += b.memoryMb;
      room.freeMb += Math.max(0, b.memoryMb - b.usedMb);
      if (free > 0 && room.largestFreeMb !== null) room.largestFreeMb = Math.max(room.largestFreeMb, b.memoryMb - b.usedMb);
    }
    return room;
  }

  /** Who holds room on the workers `ids` (admission's holder ids). */
  holdersOn(ids: readonly string[]): string[] {
    const out: string[] = [];
    for (const id of ids) for (const h of this.byId.get(id)?.holders ?? []) out.push(h);
    return out;
  }

  /** For tests: each worker's slots and memory in use. */
  usage(): Array<{ id: string; used: number; capacity: number; usedMb: number; memoryMb: number | null }> {
    return this.bins.map((b) => ({ id: b.id, used: b.used, capacity: b.capacity, usedMb: b.usedMb, memoryMb: b.memoryMb }));
  }

  private serves(b: Bin, entry: Entry, need: PlacementNeed, task: string): boolean {
    if (!b.queues.has(need.queue) || b.avoid.has(task)) return false;
    // Kept for a task ranked above this one.
    return b.reservedBy === undefined || b.reservedBy === entry || b.reservedBy.removed || !ranksAbove(b.reservedBy, entry, this.rate);
  }
}

function taskKey(entry: Entry): string {
  return `${entry.pipeline}.${entry.task}`;
}

function fitsMemory(b: Bin, mb: number): boolean {
  return mb === 0 || b.memoryMb === null || b.usedMb + mb <= b.memoryMb;
}

function freeMb(b: Bin): number {
  return b.memoryMb === null ? Number.POSITIVE_INFINITY : b.memoryMb - b.usedMb;
}
