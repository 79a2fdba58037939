import { DEFAULT_SIMULATION_START, simulate } from "../../core/simulate.js";
import { pipeline } from "../../define/pipeline.js";
import { resolveConfigOrThrow } from "../../define/validate.js";
import type { LoadFigures } from "./offsets.js";
import { peakOf, timeline } from "./timeline.js";
import type { JobRecord } from "./types.js";

const DAY = 86_400_000;

/** One group's typical day: when it starts (ms after midnight UTC), how long it runs, its memory. */
interface TypicalJob {
  group: string;
  startOfDayMs: number;
  durationMs: number;
  memoryMb: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** A group's typical daily run: the median start time of day, the median run time, the highest memory. */
function typicalDay(records: readonly JobRecord[]): TypicalJob[] {
  const by = new Map<string, JobRecord[]>();
  for (const r of records) by.set(r.group, [...(by.get(r.group) ?? []), r]);
  return [...by].map(([group, rs]) => ({
    group,
    startOfDayMs: median(rs.map((r) => ((r.start % DAY) + DAY) % DAY)),
    durationMs: Math.max(60_000, median(rs.map((r) => r.end - r.start))),
    memoryMb: Math.max(...rs.map((r) => r.memoryMb)),
  }));
}

/** What {@link simulateDaily} found for one schedule. */
export interface SimulatedFigures extends LoadFigures {
  /** Attempts the simulator started. */
  attempts: number;
}

/**
 * Check offsets with the real simulator (`core/simulate`, the same engine `sluice simulate`
 * runs): each group becomes a pipeline with one task on a daily cron at its typical start time
 * plus its offset (rounded to the minute, as cron is), taking its median run time and declaring
 * its memory; two virtual days are simulated (so a job that runs past midnight meets the next
 * day's jobs) and the peaks of the simulated attempts are measured. Only for daily jobs: the
 * caller uses the replay for other periods.
 *
 * @example
 * ```ts
 * simulateDaily(records, { warehouse_load: 3_600_000 }); // { peakMemoryMb: 20480, peakConcurrency: 2, attempts: 6 }
 * ```
 */
export function simulateDaily(records: readonly JobRecord[], offsets: Readonly<Record<string, number>> = {}): SimulatedFigures {
  const jobs = typicalDay(records);
  const memory = new Map<string, number>();
  const pipelines = jobs.map((j, i) => {
    const at = Math.round(((((j.startOfDayMs + (offsets[j.group] ?? 0)) % DAY) + DAY) % DAY) / 60_000);
    // Pipeline ids must be identifiers; the group's name is kept in `memory` by index.
    const id = `job_${i}`;
    memory.set(id, j.memoryMb);
    const p = pipeline(id, { schedule: { cron: `${at % 60} ${Math.floor(at / 60) % 24} * * *` }, overlap: "allow" });
    p.task("run", { estimate: j.durationMs, ...(j.memoryMb > 0 ? { memoryMb: Math.ceil(j.memoryMb) } : {}) }, () => undefined);
    return p;
  });
  const config = resolveConfigOrThrow({ parallelism: Math.max(1, jobs.length * 2), worker: { concurrency: Math.max(1, jobs.length * 2) }, pipelines });
  const durationMs = 2 * DAY;
  const result = simulate(config, { start: DEFAULT_SIMULATION_START, durationMs });
  const end = DEFAULT_SIMULATION_START + durationMs;
  const simulated: JobRecord[] = result.attempts
    .filter((a) => (a.endedAt ?? end) > a.startedAt)
    .map((a) => ({ name: a.pipeline, group: a.pipeline, start: a.startedAt, end: a.endedAt ?? end, memoryMb: memory.get(a.pipeline) ?? 0, pools: {} }));
  const steps = timeline(simulated);
  return {
    peakMemoryMb: peakOf(steps, (s) => s.memoryMb, simulated).value,
    peakConcurrency: peakOf(steps, (s) => s.concurrency, simulated).value,
    attempts: simulated.length,
  };
}
