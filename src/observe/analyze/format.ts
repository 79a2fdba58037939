import type { AnalysisReport } from "./analyze.js";
import type { TimelineStep } from "./types.js";

/** Memory for people: `36 GB`, `512 MB`. */
export function memory(mb: number): string {
  return mb >= 1024 ? `${Math.round((mb / 1024) * 10) / 10} GB` : `${Math.round(mb)} MB`;
}

/** A duration for people: `1h 30m`, `45m`, `20s`. */
export function span(msValue: number): string {
  const sign = msValue < 0 ? "-" : "";
  if (Math.abs(msValue) < 1000) return `${sign}${Math.round(Math.abs(msValue))}ms`;
  let s = Math.round(Math.abs(msValue) / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [h ? `${h}h` : "", m ? `${m}m` : "", s && !h ? `${s}s` : ""].filter(Boolean);
  return sign + (parts.join(" ") || "0s");
}

const iso = (t: number) => new Date(t).toISOString().replace(".000Z", "Z");
const window = (w: { from: number; to: number }) => `${iso(w.from)} → ${iso(w.to)} (${span(w.to - w.from)})`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => "  " + r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n");
}

const HOUR = 3_600_000;

/**
 * The highest memory and concurrency seen in each hour of the day (UTC) over the whole history:
 * for nightly jobs, the shape of a night. Hours with nothing running are left out.
 */
export function hourlyProfile(steps: readonly TimelineStep[]): Array<{ hour: number; memoryMb: number; concurrency: number }> {
  const byHour = new Map<number, { memoryMb: number; concurrency: number }>();
  for (let i = 0; i + 1 < steps.length; i++) {
    const s = steps[i]!;
    if (s.concurrency === 0) continue;
    const end = steps[i + 1]!.at;
    // A step longer than a day covers every hour; walk at most 24 of them.
    for (let t = Math.floor(s.at / HOUR) * HOUR, n = 0; t < end && n < 24; t += HOUR, n++) {
      const hour = new Date(t).getUTCHours();
      const h = byHour.get(hour) ?? { memoryMb: 0, concurrency: 0 };
      byHour.set(hour, { memoryMb: Math.max(h.memoryMb, s.memoryMb), concurrency: Math.max(h.concurrency, s.concurrency) });
    }
  }
  return [...byHour].sort(([a], [b]) => a - b).map(([hour, h]) => ({ hour, ...h }));
}

/**
 * The terminal report: the peaks with their windows, saturated pools, overlapping groups, and
 * the suggested offsets with before → after figures.
 */
export function formatReport(report: AnalysisReport, options: { overlaps?: number } = {}): string {
  if (report.jobs === 0) return "No jobs in this history (widen --since, or check --from).\n";
  const { peaks, plan } = report;
  const sim = report.simulation;
  const out: string[] = [`Analysed ${report.jobs} job runs from ${iso(report.from!)} to ${iso(report.to!)} (times in UTC)`, ""];
  out.push("Peaks");
  out.push(table([
    ["memory", memory(peaks.memoryMb.value), window(peaks.memoryMb.window), peaks.memoryMb.jobs.join(", ") + (peaks.memoryMb.windows > 1 ? `  (${peaks.memoryMb.windows} windows)` : "")],
    ["concurrency", String(peaks.concurrency.value), window(peaks.concurrency.window), peaks.concurrency.jobs.join(", ") + (peaks.concurrency.windows > 1 ? `  (${peaks.concurrency.windows} windows)` : "")],
  ]));
  const before = new Map(hourlyProfile(report.series.before).map((h) => [h.hour, h]));
  const after = new Map(hourlyProfile(report.series.after).map((h) => [h.hour, h]));
  const hours = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a - b);
  const top = Math.max(1, ...[...before.values()].map((h) => h.memoryMb));
  if (hours.length > 0) {
    out.push("", "By hour of day (UTC; the highest on any day, before → after the suggested offsets)");
    out.push(table([
      ["hour", "memory", "", "running"],
      ...hours.map((hour) => {
        const none = { memoryMb: 0, concurrency: 0 };
        const h = before.get(hour) ?? none;
        const a = after.get(hour) ?? none;
        return [`${String(hour).padStart(2, "0")}:00`, `${memory(h.memoryMb)} → ${memory(a.memoryMb)}`, "█".repeat(Math.round((h.memoryMb / top) * 20)).padEnd(20, "·"), `${h.concurrency} → ${a.concurrency}`];
      }),
    ]));
  }
  out.push("", "Pools at capacity");
  out.push(report.pools.length === 0 ? "  (no pool data: pools come from store history)" : table([
    ["pool", "peak/slots", "saturated", "first window"],
    ...report.pools.map((p) => [p.pool, `${p.peak}/${p.capacity}`, p.saturatedMs > 0 ? `${span(p.saturatedMs)} in ${p.windows.length} window(s)` : "never", p.windows[0] ? window(p.windows[0]) : ""]),
  ]));
  const pairs = report.overlaps.slice(0, options.overlaps ?? 10);
  out.push("", "Overlapping most");
  out.push(pairs.length === 0 ? "  (nothing ran at the same time)" : table([["", "", "together", "memory together"], ...pairs.map((o) => [o.a, o.b, span(o.overlapMs), memory(o.peakMemoryMb)])]));
  out.push("", `Suggested offsets (every ${span(plan.periodMs)}, searched in ${span(plan.stepMs)} steps, checked by replaying the history)`);
  if (plan.suggestions.length === 0) out.push("  none: no shift within the period lowers the peaks");
  else {
    out.push(table([
      ["shift", "by", "peak memory", "peak concurrency", ...(sim ? ["simulated"] : [])],
      ...plan.suggestions.map((s, i) => [
        s.group,
        `${s.offsetMs > 0 ? "+" : ""}${span(s.offsetMs)}`,
        `${memory(s.before.peakMemoryMb)} → ${memory(s.after.peakMemoryMb)}`,
        `${s.before.peakConcurrency} → ${s.after.peakConcurrency}`,
        ...(sim ? [`${memory((i === 0 ? sim.before : sim.steps[i - 1]!).peakMemoryMb)} → ${memory(sim.steps[i]!.peakMemoryMb)}, ${(i === 0 ? sim.before : sim.steps[i - 1]!).peakConcurrency} → ${sim.steps[i]!.peakConcurrency}`] : []),
      ]),
    ]));
    out.push("", `All together: peak memory ${memory(plan.before.peakMemoryMb)} → ${memory(plan.after.peakMemoryMb)}, peak concurrency ${plan.before.peakConcurrency} → ${plan.after.peakConcurrency}`);
    if (sim) out.push(`Simulated (sluice's scheduler on a typical day, daily cron at the shifted times): peak memory ${memory(sim.before.peakMemoryMb)} → ${memory(sim.after.peakMemoryMb)}, peak concurrency ${sim.before.peakConcurrency} → ${sim.after.peakConcurrency}`);
  }
  if (report.simulationNote) out.push(`(${report.simulationNote})`);
  return out.join("\n") + "\n";
}
