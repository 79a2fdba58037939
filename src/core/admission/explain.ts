import type { Entry, Group, Resource } from "./admission.js";
import { ranksAbove } from "./admission.js";
import type { PlacementRoom } from "./placement.js";
import type { Holder, WaitReason } from "./types.js";

/** How much of a resource is held back for tasks ranked above one, and for whom. */
export interface HeldAbove {
  amount: number;
  /** The best-ranked of them, at most {@link FOR_LISTED}, best first. */
  for: string[];
  /** How many there are in all. */
  total: number;
}

/** How many of the tasks capacity is held for a `reserved` reason names. */
export const FOR_LISTED = 20;

/**
 * The reasons one waiting task is not admitted: every resource of its demand that lacks room
 * (with who holds it), capacity held back for higher-ranked tasks, and tasks of its own group
 * ahead of it.
 */
export function explainEntry(
  entry: Entry,
  head: Entry,
  group: Group,
  resources: ReadonlyMap<string, Resource>,
  heldAbove: (entry: Entry, key: string) => HeldAbove,
  rate: number,
  roomOf?: (entry: Entry, key: string) => PlacementRoom | undefined,
  holdersOn?: (key: string, room: PlacementRoom) => Holder[],
): WaitReason[] {
  const reasons: WaitReason[] = [];
  if (head !== entry) {
    let ahead = 0;
    for (const other of group.entries.values()) if (!other.removed && ranksAbove(other, entry, rate)) ahead++;
    reasons.push({ kind: "behind", ahead, head: head.id });
  }
  for (const d of head.demand) {
    const r = resources.get(d.key);
    if (!r) continue;
    // A rate limit's unclaimed tokens go back to the budget after each pass; it still holds them.
    const free = r.kind === "rate" && r.rate?.available !== undefined ? r.rate.available : r.capacity - r.used;
    // Queues served by worker processes grow when workers join: short of them is not "never".
    // A rate limit's capacity is the tokens it holds now: more come with time, up to its burst.
    const elastic = ((r.kind === "queue" || r.kind === "memory") && r.name !== "worker") || r.kind === "definition" || r.kind === "rate";
    // With worker processes a task runs on one worker: its slot and memory must be free there.
    const room = roomOf?.(head, d.key);
    const short = room ? placedShortfall(r, d.amount, room, holdersOn) : undefined;
    if (d.amount > r.capacity && !elastic) {
      reasons.push({ kind: "neverFits", resource: r.key, need: d.amount, capacity: r.capacity });
    } else if (short) {
      reasons.push(short);
    } else if (free < d.amount) {
      reasons.push(shortfall(r, d.amount, entry.run));
    } else {
      const held = heldAbove(head, d.key);
      if (free - held.amount < d.amount) {
        // `free` is what is free for this task: never negative, even when more is held than is free.
        reasons.push({ kind: "reserved", resource: r.name, resourceKind: r.kind, need: d.amount, free: Math.max(0, free - held.amount), for: held.for, forTotal: held.total });
      }
    }
  }
  if (reasons.length === 0 || (reasons.length === 1 && reasons[0]?.kind === "behind")) {
    reasons.push({ kind: "pending", message: "fits now; it starts at the next admission pass" });
  }
  return reasons;
}

/** The reason a task is short of a placed queue's slots or memory on every one of its workers, if it is. */
function placedShortfall(r: Resource, need: number, room: PlacementRoom, holdersOn: ((key: string, room: PlacementRoom) => Holder[]) | undefined): WaitReason | undefined {
  // Who holds the room of its workers, whatever queue they came from.
  const holders = (): Holder[] => holdersOn?.(r.key, room) ?? [];
  if (r.kind === "queue") {
    if (room.freeSlots >= need) return undefined;
    return { kind: "queue", name: r.name, need, free: room.freeSlots, capacity: room.capacity, holders: holders(), workers: room.workers };
  }
  // With no slot free on any of them, the queue's reason says so; memory is not what it waits for yet.
  if (r.kind !== "memory" || room.freeSlots === 0 || room.largestFreeMb === null || room.largestFreeMb >= need) return undefined;
  return { kind: "memory", queue: r.name, needMb: need, freeMb: room.freeMb, budgetMb: room.budgetMb, holders: holders(), largestFreeMb: room.largestFreeMb, workers: room.workers };
}

function shortfall(r: Resource, need: number, run: number): WaitReason {
  const free = r.capacity - r.used;
  const holders = [...r.holders.values()];
  switch (r.kind) {
    case "pool":
    case "queue":
      return { kind: r.kind, name: r.name, need, free, capacity: r.capacity, holders, ...(r.adaptive ? { adaptive: r.adaptive } : {}) };
    case "memory":
      return { kind: "memory", queue: r.name, needMb: need, freeMb: free, budgetMb: r.capacity, holders };
    case "parallelism":
      return { kind: "parallelism", limit: r.capacity, active: r.used };
    case "maxActiveTasks":
      return { kind: "maxActiveTasks", pipeline: r.name, limit: r.capacity, active: r.used };
    case "maxActivePerPipeline":
      return { kind: "maxActivePerPipeline", task: r.name, limit: r.capacity, active: r.used };
    case "maxActivePerRun":
      return { kind: "maxActivePerRun", task: r.name, run, limit: r.capacity, active: r.used };
    case "definition":
      return r.tooBig ? { kind: "fit", task: r.name, ...r.tooBig } : { kind: "definition", task: r.name, workers: [] };
    case "rate":
      return { kind: "rate", name: r.name, need, available: r.rate?.available ?? free, limit: r.rate?.limit ?? 0, perMs: r.rate?.perMs ?? 0, burst: r.rate?.burst ?? 0, nextTokenAt: r.rate?.nextTokenAt };
    default: {
      const never: never = r.kind;
      throw new Error(`unknown resource kind ${String(never)}`);
    }
  }
}
