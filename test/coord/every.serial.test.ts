/**
 * every() in one process with real timers: a 10 ms interval and 100 ms of work never runs two
 * cycles at once, counts skipped ticks (metric and onSkip), logs WARN on skips and long cycles;
 * queueOne runs exactly one cycle after a long one; stop waits for the cycle in flight.
 * (Serial: it relies on timers firing roughly on time.)
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CoordOptionsError, every, Mutex, memoryBackend } from "../../src/coord/index.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function captureLogger(): { warn: (fields: Record<string, unknown>, message: string) => void; lines: Array<{ fields: Record<string, unknown>; message: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { lines, warn: (fields, message) => lines.push({ fields, message }) };
}

async function counterValue(registry: Registry, metric: string, name: string): Promise<number> {
  const m = await registry.getSingleMetric(metric)?.get();
  return m?.values.find((v) => v.labels.name === name)?.value ?? 0;
}

describe("every()", () => {
  it("10 ms interval, 100 ms work: never two cycles at once, skips counted and logged", async () => {
    const registry = new Registry();
    const logger = captureLogger();
    const stop = new AbortController();
    let inside = 0;
    let maxInside = 0;
    let cycles = 0;
    const skips: number[] = [];
    const loop = every(
      10,
      async () => {
        inside += 1;
        maxInside = Math.max(maxInside, inside);
        cycles += 1;
        await sleep(100);
        inside -= 1;
      },
      { name: "slow", signal: stop.signal, logger, registry, onSkip: ({ skipped }) => skips.push(skipped) },
    );
    await sleep(1_000);
    stop.abort();
    await loop.stopped;
    expect(inside).toBe(0); // stopped only after the cycle in flight finished
    expect(maxInside).toBe(1);
    expect(cycles).toBeGreaterThanOrEqual(3);
    expect(loop.skipped).toBeGreaterThan(cycles); // ~9 ticks skipped per cycle
    expect(skips.length).toBe(loop.skipped);
    expect(await counterValue(registry, "sluice_skipped_cycles_total", "slow")).toBe(loop.skipped);
    const histogram = await registry.getSingleMetric("sluice_cycle_duration_seconds")?.get();
    expect((histogram?.values as Array<{ metricName?: string; value: number }> | undefined)?.find((v) => v.metricName === "sluice_cycle_duration_seconds_count")?.value).toBe(cycles);
    expect(logger.lines.some((l) => l.fields.reason === "overlap" && /skipped/.test(l.message))).toBe(true);
    expect(logger.lines.some((l) => typeof l.fields.durationMs === "number" && /longer than its 10 ms interval/.test(l.message))).toBe(true);
  });

  it("queueOne runs one cycle right after a long one, not one per missed tick", async () => {
    const registry = new Registry();
    const starts: number[] = [];
    const loop = every(
      20,
      async () => {
        starts.push(performance.now());
        if (starts.length === 1) await sleep(200);
      },
      { name: "queued", overlap: "queueOne", registry },
    );
    await sleep(210);
    await loop.stop();
    // The second cycle started right when the first ended (queued), not 10 cycles to catch up.
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(195);
    expect(loop.skipped).toBeGreaterThan(0);
  });

  it("immediate: false waits one interval before the first cycle", async () => {
    let cycles = 0;
    const loop = every(300, () => void (cycles += 1), { immediate: false, registry: new Registry() });
    await sleep(100);
    expect(cycles).toBe(0);
    await loop.stop();
  });

  it("stop() waits for the cycle in flight and passes it an aborted signal", async () => {
    let finished = false;
    let sawAbort = false;
    const loop = every(
      1_000,
      async ({ signal }) => {
        await sleep(150);
        sawAbort = signal.aborted;
        finished = true;
      },
      { registry: new Registry() },
    );
    await sleep(20);
    await loop.stop();
    expect(finished).toBe(true);
    expect(sawAbort).toBe(true);
  });

  it("exclusive: a tick whose mutex is held elsewhere is skipped with reason exclusive", async () => {
    const backend = memoryBackend();
    const mutex = new Mutex({ backend, name: "job" });
    const other = await mutex.acquire();
    const reasons: string[] = [];
    let cycles = 0;
    const loop = every(10, () => void (cycles += 1), { exclusive: mutex, registry: new Registry(), onSkip: ({ reason }) => reasons.push(reason) });
    await sleep(100);
    expect(cycles).toBe(0);
    expect(reasons.length).toBeGreaterThan(0);
    expect(new Set(reasons)).toEqual(new Set(["exclusive"]));
    await other.release();
    await sleep(100);
    expect(cycles).toBeGreaterThan(0);
    await loop.stop();
  });

  it("rejects a bad interval or overlap with CoordOptionsError", () => {
    expect(() => every(0, () => {})).toThrow(CoordOptionsError);
    expect(() => every(10, () => {}, { overlap: "bufferAll" as "skip" })).toThrow(CoordOptionsError);
  });
});
