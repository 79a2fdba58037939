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
    // Compound forms: parts add up, with or without spaces, in any order.
    ["2d4h", 187_200_000],
    ["1m30s", 90_000],
    ["1h30m15s", 5_415_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["1.5h30m", 7_200_000],
    ["30m1h", 5_400_000],
    ["  1h30m  ", 5_400_000],
    ["1d 2h 3m", 93_780_000],
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

describe("why a string is not a duration", () => {
  it.each<[string, RegExp]>([
    ["1h30", /"1h30" is not a duration: "30" has no unit; add one of ms, s, m, h, d \(e\.g\. "30s"\)/],
    ["15 minutes", /a space between "15" and its unit; write "15m"/],
    ["10 sec", /write "10s"/],
    ["1h 30mins", /unknown unit "mins" \(write "30m"\)/],
    ["2 hours", /write "2h"/],
    ["1H", /unknown unit "H" \(write "1h"\)/],
    ["5x", /unknown unit "x"; units are ms, s, m, h and d/],
    ["h", /"h" does not start with a number/],
    ["1.h", /"1\." is not a number/],
    ["-5s", /it is negative/],
    ["", /it is empty/],
    ["25d".repeat(30), /too long/],
  ])("%j: %s", (input, reason) => {
    expect(() => parseDuration(input as Duration, "tasks.t.timeout")).toThrow(reason);
    expect(() => parseDuration(input as Duration, "tasks.t.timeout")).toThrow(/^tasks\.t\.timeout: .*; write it like .*"1h30m"/);
  });
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
