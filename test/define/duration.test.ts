import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/define/index.js";
import type { Duration } from "../../src/define/index.js";

describe("parseDuration", () => {
  it.each<[Duration, number]>([
    ["250ms", 250],
    ["30s", 30_000],
    ["15m", 900_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1.5h", 5_400_000],
    ["0s", 0],
    [0, 0],
    [1234, 1234],
    ["1h30m", 5_400_000],
    ["1d 2h", 93_600_000],
    ["2m 30s", 150_000],
    ["365d", 365 * 86_400_000],
  ])("%s → %d ms", (input, ms) => {
    expect(parseDuration(input, "x")).toBe(ms);
  });

  it.each<unknown>(["15 minutes", "10", "-5s", "5x", "h", "", "1.h", "1h30", "30s-", -1, Number.NaN, Infinity, null, {}, "366d", 366 * 86_400_000, `${"9".repeat(400)}d`, "25d".repeat(30)])(
    "rejects %s, naming where and showing the accepted forms",
    (input) => {
      expect(() => parseDuration(input as Duration, "pipelines.p.schedule.every")).toThrow(RangeError);
      expect(() => parseDuration(input as Duration, "pipelines.p.schedule.every")).toThrow(/pipelines\.p\.schedule\.every: .*"30s"/);
    },
  );
});

describe("formatDuration", () => {
  it.each<[number, string]>([
    [0, "0ms"],
    [250, "250ms"],
    [150_000, "2m 30s"],
    [3_600_000, "1h"],
    [90_061_001, "1d 1h 1m 1s 1ms"],
    [-30_000, "-30s"],
  ])("%d → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("parses what it prints", () => {
    for (const ms of [1, 999, 1000, 61_000, 86_400_000, 90_061_001]) expect(parseDuration(formatDuration(ms) as Duration, "x")).toBe(ms);
  });

  it("round-trips through parseDuration for whole units", () => {
    for (const ms of [1, 999, 1000, 61_000, 86_400_000]) {
      const parts = formatDuration(ms).split(" ") as Duration[];
      expect(parts.reduce<number>((sum, part) => sum + parseDuration(part, "x"), 0)).toBe(ms);
    }
  });
});
