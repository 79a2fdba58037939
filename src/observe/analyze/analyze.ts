import { suggestOffsets, shift, type OffsetPlan, type OffsetSearchOptions } from "./offsets.js";
import { overlapMatrix, peakOf, poolSaturation, timeline, type OverlapPair, type PoolSaturation } from "./timeline.js";
import { simulateDaily, type SimulatedFigures } from "./simulate-check.js";
import type { JobRecord, Peak, TimelineStep } from "./types.js";

/** The suggestions as the simulator ran them: the whole plan, and each step with the ones before it. */
export interface SimulationCheck {
  before: SimulatedFigures;
  after: SimulatedFigures;
  /** One per suggestion, in order (cumulative, like the plan's steps). */
  steps: SimulatedFigures[];
}

/**
 * Run the simulator on the shifted schedule when it can stand for the history: daily jobs, one
 * job per group (a file's records, or one-task pipelines). Otherwise `null` (and why).
 */
function simulationCheck(records: readonly JobRecord[], plan: OffsetPlan): { check: SimulationCheck | null; note: string | null } {
  if (records.length === 0) return { check: null, note: null };
  if (plan.periodMs !== 86_400_000) return { check: null, note: `jobs repeat every ${plan.periodMs} ms, not daily: checked by replay only` };
  const names = new Map<string, Set<string>>();
  for (const r of records) names.set(r.group, (names.get(r.group) ?? new Set()).add(r.name));
  if ([...names.values()].some((n) => n.size > 1)) return { check: null, note: "pipelines with several tasks: checked by replaying their measured runs (the simulator needs one job per pipeline here)" };
  const applied: Record<string, number> = {};
  const steps = plan.suggestions.map((s) => {
    applied[s.group] = s.offsetMs;
    return simulateDaily(records, applied);
  });
  return { check: { before: simulateDaily(records), after: simulateDaily(records, plan.offsets), steps }, note: null };
}

/** Options of {@link analyzeHistory}. */
export interface AnalyzeOptions extends OffsetSearchOptions {
  /** Only jobs that ended within this long before `now` (ms); all when unset. */
  sinceMs?: number;
  /** The clock, for `sinceMs`. @defaultValue Date.now */
  now?: () => number;
  /** Pool capacities (slots), from the stored definitions. */
  poolCapacities?: Record<string, number>;
}

/** Everything `sluice analyze` reports; see docs/analyze.md for the JSON form. */
export interface AnalysisReport {
  /** Records analysed (after `sinceMs`). */
  jobs: number;
  from: number | null;
  to: number | null;
  peaks: { memoryMb: Peak; concurrency: Peak };
  pools: PoolSaturation[];
  overlaps: OverlapPair[];
  plan: OffsetPlan;
  /** The plan run through `core/simulate` on a typical day; `null` when it cannot stand for the history (see `simulationNote`). */
  simulation: SimulationCheck | null;
  simulationNote: string | null;
  /** Timelines before and after the suggested offsets (for charts). */
  series: { before: TimelineStep[]; after: TimelineStep[] };
}

/**
 * Analyse a history of job records: timeline, peaks and their windows, saturated pools, the
 * groups that overlap most, and offsets that lower the peaks (each replayed).
 *
 * @example
 * ```ts
 * const report = analyzeHistory(parseHistoryCsv(text), { now: () => Date.now() });
 * report.peaks.memoryMb.value; // 36864
 * ```
 */
export function analyzeHistory(all: readonly JobRecord[], options: AnalyzeOptions = {}): AnalysisReport {
  const now = (options.now ?? Date.now)();
  const records = options.sinceMs === undefined ? [...all] : all.filter((r) => r.end >= now - options.sinceMs!);
  const before = timeline(records);
  const plan = suggestOffsets(records, options);
  const shifted = shift(records, plan.offsets);
  const { check, note } = simulationCheck(records, plan);
  return {
    jobs: records.length,
    from: records.length ? Math.min(...records.map((r) => r.start)) : null,
    to: records.length ? Math.max(...records.map((r) => r.end)) : null,
    peaks: {
      memoryMb: peakOf(before, (s) => s.memoryMb, records),
      concurrency: peakOf(before, (s) => s.concurrency, records),
    },
    pools: poolSaturation(before, options.poolCapacities ?? {}),
    overlaps: overlapMatrix(records),
    plan,
    simulation: check,
    simulationNote: note,
    series: { before, after: timeline(shifted) },
  };
}

/**
 * The stable JSON shape of `sluice analyze --json` (version 1): times as ISO strings, durations
 * in ms, memory in MB. Fields are only ever added.
 */
export function reportJson(report: AnalysisReport): unknown {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const win = (w: { from: number; to: number }) => ({ from: iso(w.from), to: iso(w.to), durationMs: w.to - w.from });
  const peak = (p: Peak) => ({ value: p.value, window: win(p.window), windows: p.windows, jobs: p.jobs });
  const step = (s: TimelineStep) => ({ at: iso(s.at), concurrency: s.concurrency, memoryMb: s.memoryMb, pools: s.pools });
  return {
    version: 1,
    jobs: report.jobs,
    from: iso(report.from),
    to: iso(report.to),
    peaks: { memoryMb: peak(report.peaks.memoryMb), concurrency: peak(report.peaks.concurrency) },
    pools: report.pools.map((p) => ({ pool: p.pool, capacity: p.capacity, peak: p.peak, saturatedMs: p.saturatedMs, windows: p.windows.map(win) })),
    overlaps: report.overlaps.map((o) => ({ a: o.a, b: o.b, overlapMs: o.overlapMs, peakMemoryMb: o.peakMemoryMb })),
    suggestions: {
      periodMs: report.plan.periodMs,
      stepMs: report.plan.stepMs,
      offsets: report.plan.offsets,
      steps: report.plan.suggestions,
      before: report.plan.before,
      after: report.plan.after,
      verifiedBy: report.simulation ? "simulator+replay" : "replay",
      simulated: report.simulation,
      simulationNote: report.simulationNote,
    },
    series: { before: report.series.before.map(step), after: report.series.after.map(step) },
  };
}
