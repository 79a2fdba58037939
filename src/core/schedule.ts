import { Cron } from "croner";
import type { ResolvedSchedule } from "../define/resolved.js";

/**
 * Schedule arithmetic. `every` ticks are aligned to multiples of the interval since the epoch,
 * so the same instants come due whenever the process starts (a restart never invents a new
 * time, and the store's unique (pipeline, scheduledFor) catches a repeat).
 */
export class ScheduleClock {
  private readonly cron: Cron | undefined;

  constructor(readonly schedule: ResolvedSchedule) {
    this.cron = schedule.kind === "cron" ? new Cron(schedule.cron, { timezone: schedule.timezone, paused: true }) : undefined;
  }

  /** The first tick strictly after `t`. */
  nextAfter(t: number): number {
    if (this.schedule.kind === "every") {
      const every = this.schedule.everyMs;
      return (Math.floor(t / every) + 1) * every;
    }
    const next = this.cron?.nextRun(new Date(t));
    if (!next) return Number.POSITIVE_INFINITY;
    return next.getTime();
  }

  /** The interval a run scheduled at `t` is expected to fit in. */
  intervalAt(t: number): number {
    return this.nextAfter(t) - t;
  }
}
