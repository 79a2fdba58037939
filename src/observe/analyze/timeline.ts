import type { JobRecord, Peak, TimelineStep, Window } from "./types.js";

/**
 * Concurrency, memory and pool use over time by a sweep line: every job adds itself at its
 * start and removes itself at its end; sorting the 2n events once gives every step in
 * O(n log n). Intervals are half-open `[start, end)`, so a job that starts exactly when
 * another ends does not overlap it (ends sort before starts at the same instant).
 *
 * @example
 * ```ts
 * timeline([{ name: "a", group: "a", start: 0, end: 10, memoryMb: 8, pools: {} }]);
 * // [{ at: 0, concurrency: 1, memoryMb: 8, pools: {} }, { at: 10, concurrency: 0, memoryMb: 0, pools: {} }]
 * ```
 */
export function timeline(records: readonly JobRecord[]): TimelineStep[] {
  const events: Array<{ at: number; sign: 1 | -1; r: JobRecord }> = [];
  for (const r of records) events.push({ at: r.start, sign: 1, r }, { at: r.end, sign: -1, r });
  events.sort((a, b) => a.at - b.at || a.sign - b.sign);
  const steps: TimelineStep[] = [];
  let concurrency = 0;
  let memoryMb = 0;
  const pools: Record<string, number> = {};
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    concurrency += e.sign;
    memoryMb += e.sign * e.r.memoryMb;
    for (const [p, n] of Object.entries(e.r.pools)) pools[p] = (pools[p] ?? 0) + e.sign * n;
    if (i + 1 < events.length && events[i + 1]!.at === e.at) continue;
    steps.push({ at: e.at, concurrency, memoryMb: Math.round(memoryMb * 1000) / 1000, pools: { ...pools } });
  }
  return steps;
}

/** The peak of one measure of the timeline (first window where it held, and how many windows did). */
export function peakOf(steps: readonly TimelineStep[], value: (s: TimelineStep) => number, records: readonly JobRecord[]): Peak {
  let best = 0;
  for (const s of steps) best = Math.max(best, value(s));
  const windows = windowsWhere(steps, (s) => best > 0 && value(s) === best);
  const first = windows[0] ?? { from: steps[0]?.at ?? 0, to: steps[0]?.at ?? 0 };
  const jobs = records.filter((r) => r.start <= first.from && r.end > first.from).map((r) => r.name);
  return { value: best, window: first, windows: windows.length, jobs: [...new Set(jobs)].sort() };
}

/** The maximal windows in which `holds` is true of the step in force. */
export function windowsWhere(steps: readonly TimelineStep[], holds: (s: TimelineStep) => boolean): Window[] {
  const out: Window[] = [];
  for (let i = 0; i + 1 < steps.length; i++) {
    if (!holds(steps[i]!)) continue;
    const last = out[out.length - 1];
    if (last && last.to === steps[i]!.at) last.to = steps[i + 1]!.at;
    else out.push({ from: steps[i]!.at, to: steps[i + 1]!.at });
  }
  return out;
}

/** How long, in total, each pool was at (or over) its capacity, and its windows. */
export interface PoolSaturation {
  pool: string;
  capacity: number;
  peak: number;
  saturatedMs: number;
  windows: Window[];
}

/**
 * Pools at capacity over time. Only pools with a known capacity (from the stored definitions)
 * are reported: a file of job records names no pools.
 */
export function poolSaturation(steps: readonly TimelineStep[], capacities: Record<string, number>): PoolSaturation[] {
  return Object.entries(capacities).map(([pool, capacity]) => {
    const windows = windowsWhere(steps, (s) => capacity > 0 && (s.pools[pool] ?? 0) >= capacity);
    const peak = Math.max(0, ...steps.map((s) => s.pools[pool] ?? 0));
    return { pool, capacity, peak, saturatedMs: windows.reduce((t, w) => t + w.to - w.from, 0), windows };
  }).sort((a, b) => b.saturatedMs - a.saturatedMs || a.pool.localeCompare(b.pool));
}

/** Two groups (pipelines, or jobs of a file) and how long they ran at the same time. */
export interface OverlapPair {
  a: string;
  b: string;
  overlapMs: number;
  /** Memory running at once when both ran, at its highest (MB), from these two groups only. */
  peakMemoryMb: number;
}

/**
 * Which groups overlap most: for every pair of groups, the total time at least one job of each
 * ran. Computed on the same sweep, visiting only the groups active in each segment (so the cost
 * follows the real concurrency, not n²). Sorted by overlap, longest first.
 */
export function overlapMatrix(records: readonly JobRecord[]): OverlapPair[] {
  const events: Array<{ at: number; sign: 1 | -1; r: JobRecord }> = [];
  for (const r of records) events.push({ at: r.start, sign: 1, r }, { at: r.end, sign: -1, r });
  events.sort((x, y) => x.at - y.at || x.sign - y.sign);
  const active = new Map<string, { count: number; memoryMb: number }>();
  const pairs = new Map<string, OverlapPair>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const g = active.get(e.r.group) ?? { count: 0, memoryMb: 0 };
    g.count += e.sign;
    g.memoryMb += e.sign * e.r.memoryMb;
    if (g.count === 0) active.delete(e.r.group);
    else active.set(e.r.group, g);
    const next = events[i + 1];
    if (!next || next.at === e.at) continue;
    const groups = [...active.keys()].sort();
    for (let x = 0; x < groups.length; x++) {
      for (let y = x + 1; y < groups.length; y++) {
        const key = `${groups[x]}\u0000${groups[y]}`;
        const p = pairs.get(key) ?? { a: groups[x]!, b: groups[y]!, overlapMs: 0, peakMemoryMb: 0 };
        p.overlapMs += next.at - e.at;
        p.peakMemoryMb = Math.max(p.peakMemoryMb, active.get(groups[x]!)!.memoryMb + active.get(groups[y]!)!.memoryMb);
        pairs.set(key, p);
      }
    }
  }
  return [...pairs.values()].sort((a, b) => b.overlapMs - a.overlapMs || b.peakMemoryMb - a.peakMemoryMb || a.a.localeCompare(b.a));
}
