/**
 * The store side of a backfill, shared by `sluice backfill` and `Sluice.backfill()`: which schedule
 * times still need a run, and which runs a backfill created.
 */
import { ScheduleClock } from "../core/schedule.js";
import type { ResolvedSchedule } from "../define/resolved.js";
import type { Store } from "../store/types.js";

/** The schedule's ticks in [from, to], oldest first; `undefined` when there are more than `max`. */
export function ticksBetween(schedule: ResolvedSchedule, from: number, to: number, max: number): number[] | undefined {
  const clock = new ScheduleClock(schedule);
  const ticks: number[] = [];
  for (let t = clock.nextAfter(from - 1); t <= to; t = clock.nextAfter(t)) {
    if (ticks.length === max) return undefined;
    ticks.push(t);
  }
  return ticks;
}

/** The ticks that have no scheduled or backfilled run yet (the store's unique tick index allows one). */
export async function ticksWithoutRun(store: Store, pipeline: string, ticks: readonly number[]): Promise<number[]> {
  if (ticks.length === 0) return [];
  const first = ticks[0] as number;
  const last = ticks[ticks.length - 1] as number;
  const existing = new Set(
    (await store.listRuns({ pipeline, limit: 1_000_000 })).filter((r) => r.trigger !== "manual" && r.scheduledFor >= first && r.scheduledFor <= last).map((r) => r.scheduledFor),
  );
  return ticks.filter((t) => !existing.has(t));
}

/** The ids of the runs a backfill answered with `firstId` created for `times`, oldest first. */
export async function backfilledRuns(store: Store, pipeline: string, firstId: number | null, times: readonly number[]): Promise<number[]> {
  if (firstId === null) return [];
  const wanted = new Set(times);
  return (await store.listRuns({ pipeline, limit: Math.max(1000, times.length * 2) }))
    .filter((r) => r.id >= firstId && r.trigger === "catchup" && wanted.has(r.scheduledFor))
    .map((r) => r.id)
    .sort((a, b) => a - b);
}
