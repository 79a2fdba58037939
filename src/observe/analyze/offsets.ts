import { peakOf, timeline } from "./timeline.js";
import type { JobRecord } from "./types.js";

/** The figures a schedule is judged by. */
export interface LoadFigures {
  peakMemoryMb: number;
  peakConcurrency: number;
}

/** Shift every record of a group by its offset (ms); groups without one stay. */
export function shift(records: readonly JobRecord[], offsets: Readonly<Record<string, number>>): JobRecord[] {
  return records.map((r) => {
    const d = offsets[r.group] ?? 0;
    return d === 0 ? r : { ...r, start: r.start + d, end: r.end + d };
  });
}

/**
 * Replay a history on a shifted schedule: every job keeps its measured run time and memory and
 * starts `offset` later (or earlier), and the timeline is swept again. This is the check each
 * suggestion gets; it is what the simulator would compute for jobs that are not held back by a
 * pool (a file of job records has no pools; see the command's note for store history).
 *
 * @example
 * ```ts
 * replay(records, { nightly_export: 45 * 60_000 }); // { peakMemoryMb: 28672, peakConcurrency: 2 }
 * ```
 */
export function replay(records: readonly JobRecord[], offsets: Readonly<Record<string, number>> = {}): LoadFigures {
  const shifted = shift(records, offsets);
  const steps = timeline(shifted);
  return {
    peakMemoryMb: peakOf(steps, (s) => s.memoryMb, shifted).value,
    peakConcurrency: peakOf(steps, (s) => s.concurrency, shifted).value,
  };
}

/**
 * The period jobs repeat with: the median gap between consecutive cycle starts of each group
 * (a cycle is a run: its earliest task start; a file record is a cycle of its own), the shortest
 * over groups; `fallbackMs` (a day) when no group ran twice.
 */
export function detectPeriod(records: readonly JobRecord[], fallbackMs = 86_400_000): number {
  const cycles = new Map<string, Map<string, number>>();
  records.forEach((r, i) => {
    const runs = cycles.get(r.group) ?? new Map<string, number>();
    const key = r.run ?? `#${i}`;
    runs.set(key, Math.min(runs.get(key) ?? Infinity, r.start));
    cycles.set(r.group, runs);
  });
  let best = Infinity;
  for (const runs of cycles.values()) {
    const sorted = [...new Set(runs.values())].sort((a, b) => a - b);
    const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!).sort((a, b) => a - b);
    if (gaps.length > 0) best = Math.min(best, gaps[Math.floor(gaps.length / 2)]!);
  }
  return Number.isFinite(best) ? best : fallbackMs;
}

/** Options of {@link suggestOffsets}. */
export interface OffsetSearchOptions {
  /** The jobs' period (ms); offsets stay within ±period/2. @defaultValue detected by {@link detectPeriod} */
  periodMs?: number;
  /** Largest shift tried, either way (ms). @defaultValue half the period */
  maxShiftMs?: number;
  /** Granularity of shifts (ms). @defaultValue period/96 (15 minutes for daily jobs), at least 10 ms */
  stepMs?: number;
  /** Passes over all groups before giving up on improving. @defaultValue 4 */
  passes?: number;
}

/** Defaults of {@link OffsetSearchOptions}: 96 steps a period (15 minutes a day), 10 ms at least. */
export const OFFSET_SEARCH_DEFAULTS = { stepsPerPeriod: 96, minStepMs: 10, passes: 4 } satisfies Record<string, number>;

/** One proposed shift and what it does, checked by {@link replay}. */
export interface OffsetSuggestion {
  group: string;
  /** Positive: start later. */
  offsetMs: number;
  /** Figures with the suggestions before this one applied… */
  before: LoadFigures;
  /** …and with this one too. */
  after: LoadFigures;
}

/** The search's answer: the suggestions in the order to apply them, and the whole effect. */
export interface OffsetPlan {
  periodMs: number;
  stepMs: number;
  offsets: Record<string, number>;
  suggestions: OffsetSuggestion[];
  before: LoadFigures;
  after: LoadFigures;
}

const better = (a: LoadFigures, b: LoadFigures): number => a.peakMemoryMb - b.peakMemoryMb || a.peakConcurrency - b.peakConcurrency;

/**
 * Suggest schedule offsets that lower peak memory, then peak concurrency.
 *
 * Method — greedy coordinate descent over offsets, starting from "no change":
 * 1. The unit shifted is a group (a pipeline: its tasks move together, so their dependencies
 *    and order inside the pipeline hold by construction; in a file, each job name).
 * 2. Groups keep their order: a group that started strictly before another in the history
 *    (by its earliest start) never starts after it once shifted. Ties may be reordered.
 * 3. For each group in turn (heaviest memory × run time first), every offset on a grid of
 *    `stepMs` within ±min(maxShift, period/2) is replayed with the other offsets fixed; the one
 *    with the lowest (peak memory, peak concurrency), then the smallest shift, is kept.
 * 4. Passes repeat until none changes anything (at most `passes`).
 * A change is kept only when it strictly lowers the figures, and "no change" is always a
 * candidate, so the result is never worse than the history: offsets never raise a peak.
 * The search space is tiny (groups × grid), so this takes milliseconds for days of nightly jobs
 * and a few seconds for 10,000 attempts; a global optimum (a bin-packing problem) is not sought.
 *
 * @example
 * ```ts
 * const plan = suggestOffsets(records);
 * plan.before.peakMemoryMb; // 36864
 * plan.after.peakMemoryMb;  // 16384
 * ```
 */
export function suggestOffsets(records: readonly JobRecord[], options: OffsetSearchOptions = {}): OffsetPlan {
  const periodMs = options.periodMs ?? detectPeriod(records);
  const stepMs = options.stepMs ?? Math.max(OFFSET_SEARCH_DEFAULTS.minStepMs, Math.round(periodMs / OFFSET_SEARCH_DEFAULTS.stepsPerPeriod));
  const limit = Math.min(options.maxShiftMs ?? Infinity, periodMs / 2);
  const passes = options.passes ?? OFFSET_SEARCH_DEFAULTS.passes;
  const first = new Map<string, number>();
  const weight = new Map<string, number>();
  for (const r of records) {
    first.set(r.group, Math.min(first.get(r.group) ?? Infinity, r.start));
    weight.set(r.group, (weight.get(r.group) ?? 0) + (r.memoryMb + 1) * (r.end - r.start));
  }
  const groups = [...first.keys()].sort((a, b) => weight.get(b)! - weight.get(a)! || a.localeCompare(b));
  const orderKept = (offsets: Record<string, number>): boolean => {
    for (const a of groups) {
      for (const b of groups) {
        if (first.get(a)! < first.get(b)! && first.get(a)! + (offsets[a] ?? 0) > first.get(b)! + (offsets[b] ?? 0)) return false;
      }
    }
    return true;
  };
  const grid: number[] = [0];
  for (let d = stepMs; d <= limit; d += stepMs) grid.push(d, -d);

  const offsets: Record<string, number> = {};
  const before = replay(records);
  let current = before;
  for (let pass = 0; pass < passes; pass++) {
    let changed = false;
    for (const g of groups) {
      const mine = offsets[g] ?? 0;
      let best = { figures: current, offset: mine };
      for (const d of grid) {
        if (d === mine) continue;
        const trial = { ...offsets, [g]: d };
        if (!orderKept(trial)) continue;
        const figures = replay(records, trial);
        const cmp = better(figures, best.figures);
        if (cmp < 0 || (cmp === 0 && better(best.figures, current) < 0 && Math.abs(d) < Math.abs(best.offset))) best = { figures, offset: d };
      }
      if (best.offset !== mine && better(best.figures, current) < 0) {
        if (best.offset === 0) delete offsets[g];
        else offsets[g] = best.offset;
        current = best.figures;
        changed = true;
      }
    }
    if (!changed) break;
  }

  // Each suggestion with the ones before it applied, so the list reads as steps and each is replayed.
  const suggestions: OffsetSuggestion[] = [];
  const applied: Record<string, number> = {};
  let figures = before;
  for (const g of groups.filter((x) => offsets[x] !== undefined)) {
    applied[g] = offsets[g]!;
    const after = replay(records, applied);
    suggestions.push({ group: g, offsetMs: offsets[g]!, before: figures, after });
    figures = after;
  }
  return { periodMs, stepMs, offsets, suggestions, before, after: replay(records, offsets) };
}
