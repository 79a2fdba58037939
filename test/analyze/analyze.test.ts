import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AnalyzeInputError, analyzeHistory, hourlyProfile, overlapMatrix, parseHistoryCsv, parseHistoryJson, replay, suggestOffsets, timeline, type JobRecord,
} from "../../src/observe/analyze/index.js";

const H = 3_600_000;
const job = (name: string, start: number, end: number, memoryMb: number): JobRecord => ({ name, group: name, start, end, memoryMb, pools: {} });

describe("parse", () => {
  it("reads a header in any order, quoted fields, ISO, epoch seconds and ms", () => {
    const r = parseHistoryCsv('memory_mb,name,start_time,end_time\n16384,"load, ""big""",2025-01-06T02:00:00Z,1736132400\n8,b,1736128800000,2025-01-06 03:00\n', "h.csv");
    expect(r).toEqual([
      job('load, "big"', Date.UTC(2025, 0, 6, 2), Date.UTC(2025, 0, 6, 3), 16384),
      job("b", Date.UTC(2025, 0, 6, 2), Date.UTC(2025, 0, 6, 3), 8),
    ]);
  });
  it("names the line of a bad row", () => {
    const bad: Array<[string, RegExp]> = [
      ["name,start_time,end_time,memory_mb\na,2025-01-06T02:00Z,2025-01-06T03:00Z,1\nb,yesterday,2025-01-06T03:00Z,1\n", /h\.csv:3: start_time "yesterday" is not a time/],
      ["a,2025-01-06T02:00Z,2025-01-06T01:00Z,1\n", /h\.csv:1: end_time is not after start_time/],
      ["a,2025-01-06T02:00Z,2025-01-06T03:00Z,lots\n", /h\.csv:1: memory_mb "lots" is not a number/],
      ['x,1,2,3\n"a\nb,1,2,3\n', /h\.csv:2: a quoted field is never closed/],
      ["name,start,end\n", /h\.csv:1: the header has no start_time, end_time column/],
      ["a,1\n", /h\.csv:1: 2 field\(s\)/],
      ["", /no records/],
    ];
    for (const [text, message] of bad) {
      const err = (() => { try { parseHistoryCsv(text, "h.csv"); } catch (e) { return e; } return undefined; })();
      expect(err, text).toBeInstanceOf(AnalyzeInputError);
      expect((err as Error).message).toMatch(message);
      expect((err as AnalyzeInputError).code).toBe("SLUICE_ANALYZE_INPUT");
    }
  });
  it("reads JSON records and names a bad one", () => {
    expect(parseHistoryJson('[{"name":"a","start_time":"2025-01-06T02:00:00Z","end_time":1736132400,"memory_mb":5}]', "h.json")).toEqual([job("a", Date.UTC(2025, 0, 6, 2), Date.UTC(2025, 0, 6, 3), 5)]);
    expect(() => parseHistoryJson('[{"name":"a","start_time":1,"end_time":2},{"name":""}]', "h.json")).toThrow(/h\.json record:2: name is empty/);
    expect(() => parseHistoryJson("{}", "h.json")).toThrow(/expected an array/);
  });
});

const arbRecords = fc.array(
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 64 }))
    .map(([g, s, d, m]) => job(`j${g}`, s * 60_000, (s + d) * 60_000, m * 256)),
  { maxLength: 25 },
);

describe("timeline", () => {
  it("matches a brute-force count at every instant (half-open intervals)", () => {
    fc.assert(fc.property(arbRecords, (records) => {
      const steps = timeline(records);
      for (let t = 0; t <= 160 * 60_000; t += 30_000) {
        const running = records.filter((r) => r.start <= t && t < r.end);
        const step = [...steps].reverse().find((s) => s.at <= t);
        expect(step?.concurrency ?? 0).toBe(running.length);
        expect(step?.memoryMb ?? 0).toBe(running.reduce((m, r) => m + r.memoryMb, 0));
      }
    }), { numRuns: 200 });
  });
  it("overlap matrix equals pairwise brute force", () => {
    fc.assert(fc.property(arbRecords, (records) => {
      const pairs = overlapMatrix(records);
      for (const p of pairs) {
        let together = 0;
        for (let t = 0; t < 160 * 60_000; t += 60_000) {
          if (records.some((r) => r.group === p.a && r.start <= t && t < r.end) && records.some((r) => r.group === p.b && r.start <= t && t < r.end)) together += 60_000;
        }
        expect(p.overlapMs).toBe(together);
      }
    }), { numRuns: 100 });
  });
});

describe("offsets", () => {
  it("never increase peak memory or concurrency, and the replay agrees with the plan", () => {
    fc.assert(fc.property(arbRecords, (records) => {
      const plan = suggestOffsets(records, { periodMs: 4 * H, stepMs: 10 * 60_000 });
      expect(plan.after.peakMemoryMb).toBeLessThanOrEqual(plan.before.peakMemoryMb);
      if (plan.after.peakMemoryMb === plan.before.peakMemoryMb) expect(plan.after.peakConcurrency).toBeLessThanOrEqual(plan.before.peakConcurrency);
      expect(replay(records, plan.offsets)).toEqual(plan.after);
      for (const d of Object.values(plan.offsets)) expect(Math.abs(d)).toBeLessThanOrEqual(2 * H);
    }), { numRuns: 60 });
  });

  it("three nightly jobs of 16, 8 and 12 GB overlapping at 02:00: finds the 36 GB peak and lowers it", () => {
    const records: JobRecord[] = [];
    for (let d = 6; d <= 12; d++) {
      const at = (h: number, m = 0) => Date.UTC(2025, 0, d, h, m);
      records.push(job("warehouse_load", at(2), at(3, 30), 16 * 1024), job("crm_sync", at(1, 45), at(2, 40), 8 * 1024), job("search_reindex", at(2), at(2, 50), 12 * 1024));
    }
    const report = analyzeHistory(records, { now: () => Date.UTC(2025, 0, 13), sinceMs: 7 * 24 * H });
    expect(report.jobs).toBe(21);
    expect(report.peaks.memoryMb.value).toBe(36 * 1024);
    expect(report.peaks.memoryMb.window).toEqual({ from: Date.UTC(2025, 0, 6, 2), to: Date.UTC(2025, 0, 6, 2, 40) });
    expect(report.peaks.memoryMb.windows).toBe(7);
    expect(report.peaks.memoryMb.jobs).toEqual(["crm_sync", "search_reindex", "warehouse_load"]);
    expect(report.plan.periodMs).toBe(24 * H);
    expect(report.plan.before.peakMemoryMb).toBe(36 * 1024);
    expect(report.plan.after.peakMemoryMb).toBeLessThan(36 * 1024);
    expect(report.plan.suggestions.length).toBeGreaterThan(0);
    // Verified by replaying the shifted schedule, independently of the search.
    const shifted = timeline(records.map((r) => ({ ...r, start: r.start + (report.plan.offsets[r.group] ?? 0), end: r.end + (report.plan.offsets[r.group] ?? 0) })));
    expect(Math.max(...shifted.map((s) => s.memoryMb))).toBe(report.plan.after.peakMemoryMb);
    // And by the simulator (core/simulate, daily crons at the shifted times): the same before/after.
    expect(report.simulation).not.toBeNull();
    expect(report.simulation!.before.peakMemoryMb).toBe(36 * 1024);
    expect(report.simulation!.after.peakMemoryMb).toBe(report.plan.after.peakMemoryMb);
    expect(report.simulation!.steps).toHaveLength(report.plan.suggestions.length);
    expect(report.simulation!.after.attempts).toBeGreaterThanOrEqual(3);
    // crm_sync started first and still does.
    const first = (g: string) => Date.UTC(2025, 0, 6, g === "crm_sync" ? 1 : 2, g === "crm_sync" ? 45 : 0) + (report.plan.offsets[g] ?? 0);
    expect(first("crm_sync")).toBeLessThanOrEqual(Math.min(first("warehouse_load"), first("search_reindex")));
    // By hour of day: 02:00 held the 36 GB before, less after.
    const hours = new Map(hourlyProfile(report.series.before).map((h) => [h.hour, h]));
    expect(hours.get(2)).toEqual({ hour: 2, memoryMb: 36 * 1024, concurrency: 3 });
    expect(hourlyProfile(report.series.after).find((h) => h.hour === 2)?.memoryMb ?? 0).toBeLessThan(36 * 1024);
    // The clock bounds --since: from a week later, nothing is left.
    expect(analyzeHistory(records, { now: () => Date.UTC(2025, 0, 30), sinceMs: 7 * 24 * H }).jobs).toBe(0);
  });
});
