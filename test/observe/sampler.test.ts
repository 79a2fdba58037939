/** The /proc sampler: parsers on known text, and live reads against what Node reports. */
import { totalmem, freemem } from "node:os";
import { describe, expect, it } from "vitest";
import { CpuSampler, PeakMemory, parseMeminfo, parseProcStat, readCpuTimes, readHostMemory, readRssBytes } from "../../src/observe/sampler.js";

describe("/proc parsers", () => {
  it("reads the cpu line of /proc/stat in seconds per mode (USER_HZ 100)", () => {
    const t = parseProcStat("cpu  1000 10 500 8000 200 0 50 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n");
    expect(t).toEqual({ user: 10, nice: 0.1, system: 5, idle: 80, iowait: 2, irq: 0, softirq: 0.5, steal: 0 });
    expect(parseProcStat("intr 1 2 3\n")).toBeUndefined();
    expect(parseProcStat("cpu  a b c d\n")).toBeUndefined();
  });

  it("reads MemTotal and MemAvailable (kB) as bytes, falling back to free + cached", () => {
    expect(parseMeminfo("MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    400 kB\n")).toEqual({ totalBytes: 1_024_000, availableBytes: 409_600 });
    expect(parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 50 kB\n")).toEqual({ totalBytes: 1_024_000, availableBytes: 153_600 });
    expect(parseMeminfo("nothing here")).toBeUndefined();
  });

  it("busy and iowait shares between two reads", () => {
    const cpu = new CpuSampler();
    cpu.sample({ user: 10, nice: 0, system: 0, idle: 80, iowait: 10, irq: 0, softirq: 0, steal: 0 });
    const s = cpu.sample({ user: 16, nice: 0, system: 2, idle: 90, iowait: 12, irq: 0, softirq: 0, steal: 0 });
    // 20 s passed: 8 busy, 10 idle, 2 iowait.
    expect(s?.busy).toBeCloseTo(0.4);
    expect(s?.iowait).toBeCloseTo(0.1);
  });
});

describe.runIf(process.platform === "linux")("live /proc reads", () => {
  it("host memory total equals os.totalmem(); available is between free and total", () => {
    const m = readHostMemory();
    expect(m?.totalBytes).toBe(totalmem());
    expect(m?.availableBytes).toBeLessThanOrEqual(totalmem());
    // MemAvailable counts reclaimable cache on top of free memory (read a moment apart: 10% slack).
    expect(m?.availableBytes).toBeGreaterThanOrEqual(freemem() * 0.9);
  });

  it("CPU times grow, shares stay within 0…1", async () => {
    const a = readCpuTimes();
    const cpu = new CpuSampler();
    cpu.sample(a);
    let x = 0;
    for (let i = 0; i < 5e6; i++) x += i;
    expect(x).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    const b = readCpuTimes();
    expect(a && b).toBeTruthy();
    expect((b?.user ?? 0) + (b?.system ?? 0)).toBeGreaterThanOrEqual((a?.user ?? 0) + (a?.system ?? 0));
    const s = cpu.sample(b);
    expect(s?.busy).toBeGreaterThanOrEqual(0);
    expect(s?.busy).toBeLessThanOrEqual(1);
    expect(s?.iowait).toBeGreaterThanOrEqual(0);
    expect(s?.iowait).toBeLessThanOrEqual(1);
  });

  it("this process's RSS from /proc/self matches process.memoryUsage().rss within 10%", () => {
    const rss = readRssBytes();
    const node = process.memoryUsage().rss;
    expect(rss).toBeDefined();
    expect(Math.abs((rss ?? 0) - node) / node).toBeLessThan(0.1);
    expect(readRssBytes(2 ** 22 + 12345)).toBeUndefined();
  });

  it("PeakMemory keeps the highest heap seen while an attempt runs", async () => {
    const peaks = new PeakMemory(10);
    const before = process.memoryUsage().heapUsed;
    peaks.begin(1);
    let big: number[][] | undefined = Array.from({ length: 200 }, () => Array.from({ length: 10_000 }, (_, i) => i));
    await new Promise((r) => setTimeout(r, 50));
    const during = process.memoryUsage().heapUsed;
    big = undefined;
    expect(big).toBeUndefined();
    const peak = peaks.end(1);
    expect(peak).toBeGreaterThanOrEqual(Math.min(during, before));
    expect(peak).toBeGreaterThan(before + 8_000_000);
    expect(peaks.size).toBe(0);
    expect(peaks.end(1)).toBeUndefined();
  });
});
