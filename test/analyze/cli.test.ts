import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { disposeSandboxes, sandbox } from "../cli/helpers.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/analyze/history.csv", import.meta.url));
const CONFIG = fileURLToPath(new URL("./nightly.config.ts", import.meta.url));

afterAll(async () => {
  await disposeSandboxes();
});

interface ReportJson {
  version: number;
  jobs: number;
  peaks: { memoryMb: { value: number; window: { from: string; to: string }; jobs: string[] }; concurrency: { value: number } };
  pools: Array<{ pool: string; capacity: number; peak: number; saturatedMs: number }>;
  overlaps: Array<{ a: string; b: string; overlapMs: number }>;
  suggestions: { offsets: Record<string, number>; steps: Array<{ group: string; offsetMs: number }>; before: { peakMemoryMb: number }; after: { peakMemoryMb: number }; verifiedBy: string; simulated: unknown; simulationNote: string | null };
  series: { before: unknown[]; after: unknown[] };
}

/** Every URL a browser would fetch from the page: src/href/url(...) attributes and @import. */
const fetchedUrls = (html: string) => [...html.matchAll(/(?:src|href)\s*=\s*["']?([^"'\s>]+)|url\(([^)]*)\)|@import\s+["']?([^"';]+)/gi)].map((m) => m[1] ?? m[2] ?? m[3]);

describe("sluice analyze (CLI, child process)", () => {
  it("on the example CSV: text, --json and a self-contained --html", async () => {
    const box = await sandbox();
    const html = join(box.dir, "report.html");
    const text = await box.cli(["analyze", "--from", EXAMPLE, "--html", html]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/memory\s+36 GB\s+2025-01-06T02:00:00Z → 2025-01-06T02:40:00Z \(40m\)\s+crm_sync, search_reindex, warehouse_load\s+\(7 windows\)/);
    expect(text.stdout).toMatch(/Suggested offsets/);
    expect(text.stdout).toMatch(/\n {2}02:00\s+36 GB → \d+ GB\s+█{20}\s+3 → \d/);
    expect(text.stdout).toMatch(/All together: peak memory 36 GB → \d+(\.\d)? GB/);
    expect(text.stdout).toMatch(/Simulated \(sluice's scheduler[^)]*\): peak memory 36 GB → \d+(\.\d)? GB/);
    const page = readFileSync(html, "utf8");
    expect(page).toMatch(/^<!doctype html>/);
    expect((page.match(/<svg /g) ?? []).length).toBe(2);
    expect(page).not.toMatch(/https?:\/\//);
    expect(fetchedUrls(page)).toEqual([]);
    expect(page).not.toMatch(/<script/);

    const json = await box.json<ReportJson>(["analyze", "--from", EXAMPLE]);
    expect(json.version).toBe(1);
    expect(json.jobs).toBe(28);
    expect(json.peaks.memoryMb).toMatchObject({ value: 36 * 1024, window: { from: "2025-01-06T02:00:00.000Z", to: "2025-01-06T02:40:00.000Z" } });
    expect(json.suggestions.before.peakMemoryMb).toBe(36 * 1024);
    expect(json.suggestions.after.peakMemoryMb).toBeLessThan(36 * 1024);
    expect(json.suggestions.verifiedBy).toBe("simulator+replay");
    expect(json.suggestions.simulated).toMatchObject({ before: { peakMemoryMb: 36 * 1024 }, after: { peakMemoryMb: json.suggestions.after.peakMemoryMb } });
    expect(json.series.after.length).toBeGreaterThan(0);
  });

  it("says which line of a file is bad, and exits 2", async () => {
    const box = await sandbox();
    const file = join(box.dir, "bad.csv");
    writeFileSync(file, "name,start_time,end_time,memory_mb\nload,2025-01-06T02:00:00Z,2025-01-06T03:00:00Z,100\nsync,2025-01-06T02:00:00Z,soon,100\n");
    const r = await box.cli(["analyze", "--from", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.csv:3: end_time "soon" is not a time/);
    const missing = await box.cli(["analyze", "--from", join(box.dir, "nope.csv")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.csv: no such file/);
  });

  it("on a real store history: memory from the definitions, the saturated pool, overlapping pipelines", async () => {
    const box = await sandbox();
    const run = await box.cli(["run", CONFIG, "--for", "4s"], { killAfterMs: 40_000 });
    expect(run.code, run.stderr).toBe(0);
    const json = await box.json<ReportJson>(["analyze", "--since", "1h"]);
    expect(json.jobs).toBeGreaterThanOrEqual(2);
    expect(json.peaks.memoryMb.value).toBe(500);
    expect(json.peaks.memoryMb.jobs).toEqual(["heavy.load", "light.sync"]);
    const pool = json.pools.find((p) => p.pool === "warehouse");
    expect(pool).toMatchObject({ capacity: 1, peak: 1 });
    expect(pool!.saturatedMs).toBeGreaterThan(0);
    expect(json.overlaps[0]).toMatchObject({ a: "heavy", b: "light" });
    expect(json.suggestions.after.peakMemoryMb).toBeLessThanOrEqual(json.suggestions.before.peakMemoryMb);
    // Jobs every second are not daily: the replay checks them, and the report says so.
    expect(json.suggestions.verifiedBy).toBe("replay");
    expect(json.suggestions.simulationNote).toMatch(/not daily/);
    const text = await box.cli(["analyze"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Pools at capacity\n\s+pool\s+peak\/slots\s+saturated[^\n]*\n\s+warehouse\s+1\/1\s+\d/);
    expect(text.stdout).toMatch(/heavy\s+light\s+\d/);
  }, 60_000);
});
