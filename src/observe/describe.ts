/**
 * Wait reasons in plain English: what `sluice explain`, the live view and the dashboard say. No
 * Node API here: the dashboard's bundle imports it too.
 */
import type { Holder, WaitReason } from "../core/admission/types.js";
import { formatDuration } from "../define/duration.js";

/** A duration in words (`1m 30s`), never negative. */
export function ms(value: number): string {
  return formatDuration(Math.max(0, Math.round(value)));
}

/** `1 worker`, `2 workers`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** `— held by a.b (run 3), …`: at most four holders, then how many more. */
export function holders(list: readonly Holder[]): string {
  if (list.length === 0) return "";
  const shown = list.slice(0, 4).map((h) => {
    // An attempt that ended but whose function still runs: say so, it is why the slot is not free.
    const draining = h.draining ? `, attempt ${h.draining.attemptId} ${h.draining.why} ${ms(Date.now() - h.draining.since)} ago, still running` : "";
    return `${h.pipeline}.${h.task} (run ${h.run}${h.amount > 1 ? `, ${h.amount}` : ""}${draining})`;
  });
  return ` — held by ${shown.join(", ")}${list.length > 4 ? ` and ${list.length - 4} more` : ""}`;
}

/**
 * One line of plain English for a wait reason. `now` places times such as a rate limit's next
 * token ("in ~200ms"); `null` leaves them out (a simulation's reasons are in its virtual time).
 */
export function describeReason(r: WaitReason, now: number | null = Date.now()): string {
  switch (r.kind) {
    case "dependency":
      return `waiting for upstream task(s): ${r.waitingFor.join(", ")}`;
    case "retryDelay":
      return `waiting to retry at ${new Date(r.until).toISOString()}`;
    case "runQueued":
      return r.message;
    case "pool": {
      const adaptive = r.adaptive ? ` (adaptive limit, now ${r.capacity}, between ${r.adaptive.min} and ${r.adaptive.max}, ${r.adaptive.algorithm})` : "";
      return `pool ${r.name}: needs ${r.need} slot(s), ${r.free} of ${r.capacity} free${adaptive}${holders(r.holders)}`;
    }
    case "queue":
      if (r.name === "worker") return `worker slots: needs ${r.need}, ${r.free} of ${r.capacity} free${holders(r.holders)}`;
      if (r.capacity === 0) return `no worker serves queue ${r.name}: it starts when one does (sluice worker --queue ${r.name})`;
      if (r.workers !== undefined) return `waiting for a worker on queue ${r.name}: ${r.free} of ${r.capacity} slots free on ${plural(r.workers, "worker")}${holders(r.holders)}`;
      return `waiting for a worker on queue ${r.name}: needs ${r.need}, ${r.free} of ${r.capacity} slots free${holders(r.holders)}`;
    case "memory":
      if (r.queue === "worker") return `worker memory: needs ${r.needMb} MB, ${r.freeMb} of ${r.budgetMb} MB free${holders(r.holders)}`;
      if (r.largestFreeMb !== undefined) {
        return `needs ${r.needMb} MB, the largest free on any worker of queue ${r.queue} is ${r.largestFreeMb} MB (${r.freeMb} of ${r.budgetMb} MB free on ${plural(r.workers ?? 0, "worker")})${holders(r.holders)}`;
      }
      return `needs ${r.needMb} MB on queue ${r.queue}: ${r.freeMb} of ${r.budgetMb} MB free on its workers${holders(r.holders)}`;
    case "rate": {
      // Nothing offered and no next token: this process cannot read the budget (the embedded
      // store's buckets live in the `sluice run` process).
      if (r.available === 0 && r.nextTokenAt === undefined) return `rate limit ${r.name}: needs ${r.need} token(s) (${r.limit} per ${formatDuration(r.perMs)}, burst ${r.burst}); its budget is kept by the running Sluice, not readable from here`;
      const next = r.nextTokenAt === undefined || now === null ? "" : `; next token ${r.nextTokenAt <= now ? "now" : `in ~${ms(Math.max(1, r.nextTokenAt - now))}`}`;
      return `rate limit ${r.name}: needs ${r.need} token(s), ${r.available} available (${r.limit} per ${formatDuration(r.perMs)}, burst ${r.burst})${next}`;
    }
    case "parallelism":
      return `global parallelism: ${r.active} of ${r.limit} attempts running`;
    case "maxActiveTasks":
      return `pipeline ${r.pipeline} maxActiveTasks: ${r.active} of ${r.limit} running`;
    case "maxActivePerPipeline":
      return `${r.task} maxActivePerPipeline: ${r.active} of ${r.limit} running`;
    case "maxActivePerRun":
      return `${r.task} maxActivePerRun in run ${r.run}: ${r.active} of ${r.limit} running`;
    case "fit":
      return `needs ${r.needMb} MB, the largest memory budget of a live worker of queue ${r.queue} is ${r.largestMb} MB: it starts when one with room joins (sluice worker --queue ${r.queue} --memory-mb ${r.needMb})`;
    case "definition":
      return `no live worker of its queue runs this definition of ${r.task}${r.workers.length > 0 ? ` (${r.workers.join(", ")} run different code)` : ""}: deploy the scheduler's config to a worker`;
    case "reserved":
      return `${r.resourceKind} ${r.resource}: capacity is held for higher-ranked task(s) that waited past the reservation threshold: ${r.for.join(", ")}${r.forTotal > r.for.length ? ` and ${r.forTotal - r.for.length} more` : ""}`;
    case "behind":
      return `${r.ahead} earlier instance(s) of the same task wait ahead of it (head: ${r.head})`;
    case "neverFits":
      return `${r.resource}: needs ${r.need} but the capacity is ${r.capacity}; it can never run`;
    case "pending":
      return r.message;
    default: {
      const never: never = r;
      return JSON.stringify(never);
    }
  }
}

