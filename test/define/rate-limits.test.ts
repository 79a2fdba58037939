/** `rateLimits`, `bandwidth` and a task's `rate`: what is accepted, defaults, and every bad input reported where it is, with what to do. */
import { describe, expect, it } from "vitest";
import { defineConfig, formatProblems, parseSize, pipeline, resolveConfig, resolveConfigOrThrow, type ConfigProblem, type TaskFn } from "../../src/define/index.js";
import { formatSize, sizeBytes } from "../../src/define/bytes.js";

const noop: TaskFn = () => undefined;

function problemsOf(config: unknown): ConfigProblem[] {
  const result = resolveConfig(config);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
}

function at(problems: ConfigProblem[], path: string): ConfigProblem {
  const found = problems.filter((p) => p.path === path);
  expect(found, `problems at ${path} among:\n${formatProblems(problems)}`).toHaveLength(1);
  return found[0]!;
}

describe("sizes", () => {
  it.each([
    ["100MB", 100_000_000],
    ["1.5GiB", 1_610_612_736],
    ["512KiB", 524_288],
    ["200kB", 200_000],
    ["64 KiB", 65_536],
    ["1TB", 1e12],
    ["42B", 42],
    ["42", 42],
    [4096, 4096],
  ] as const)("%s is %d bytes", (text, bytes) => {
    expect(parseSize(text, "x")).toBe(bytes);
  });

  it.each([
    ["100Mb", /looks like bits/],
    ["ten MB", /is not a size/],
    ["10 parsecs", /unknown unit "parsecs"/],
    ["-5MB", /is not a size/],
    [Number.NaN, /not a number of bytes/],
  ] as const)("%s is refused: %s", (text, reason) => {
    const r = sizeBytes(text);
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.reason).toMatch(reason);
    expect(() => parseSize(text as string, "bandwidth.disk_io.bytesPerSecond")).toThrow(/^bandwidth\.disk_io\.bytesPerSecond: .*; write it like "512KiB", "100MB"/);
  });

  it("prints sizes in the units they were likely written in", () => {
    expect(formatSize(1_610_612_736)).toBe("1.5GiB");
    expect(formatSize(100_000_000)).toBe("100MB");
    expect(formatSize(100_000)).toBe("100kB");
    expect(formatSize(524_288)).toBe("512KiB");
    expect(formatSize(100)).toBe("100B");
  });
});

describe("rateLimits, bandwidth and rate", () => {
  it("resolves them with their defaults: burst is the limit; a bandwidth burst is a tenth of a second's budget", () => {
    const p = pipeline("sync");
    p.task("pull", { rate: { partner_api: 2 } }, noop);
    const config = resolveConfigOrThrow(
      defineConfig({
        rateLimits: { partner_api: { limit: 100, per: "1m", burst: 10 }, other: { limit: 5, per: "1s" } },
        bandwidth: { disk_io: { bytesPerSecond: "100MB" }, net: { bytesPerSecond: 1000, burst: "2kB" } },
        pipelines: [p],
      }),
    );
    expect(config.rateLimits).toEqual({
      partner_api: { name: "partner_api", limit: 100, perMs: 60_000, burst: 10, description: undefined },
      other: { name: "other", limit: 5, perMs: 1000, burst: 5, description: undefined },
    });
    expect(config.bandwidth).toEqual({
      disk_io: { name: "disk_io", bytesPerSecond: 100_000_000, burst: 10_000_000, description: undefined },
      net: { name: "net", bytesPerSecond: 1000, burst: 2000, description: undefined },
    });
    expect(config.pipelines[0]!.tasks[0]!.rate).toEqual({ partner_api: 2 });
  });

  it("a config without them resolves as before (no empty objects: the definitions' fingerprint does not change)", () => {
    const p = pipeline("plain");
    p.task("t", noop);
    const config = resolveConfigOrThrow(defineConfig({ pipelines: [p] }));
    expect("rateLimits" in config).toBe(false);
    expect("bandwidth" in config).toBe(false);
    expect("rate" in config.pipelines[0]!.tasks[0]!).toBe(false);
  });

  it("reports every bad option at its path, saying what is wrong and how to fix it", () => {
    const p = pipeline("sync");
    p.task("typo", { rate: { partner_apl: 1 } }, noop);
    p.task("greedy", { rate: { partner_api: 11 } }, noop);
    p.task("zero", { rate: { partner_api: 0 } }, noop);
    const problems = problemsOf(
      defineConfig({
        rateLimits: { partner_api: { limit: 100, per: "1m", burst: 10 }, broken: { limit: 0, per: "0s", brust: 3 } as never },
        bandwidth: { disk_io: { bytesPerSecond: "100Mb" }, empty: { bytesPerSecond: 0 }, worded: { bytesPerSecond: "fast" } },
        pipelines: [p],
      }),
    );
    expect(at(problems, "rateLimits.broken.limit").message).toMatch(/must be a whole number of at least 1 \(got 0\); give the tokens allowed per `per`/);
    expect(at(problems, "rateLimits.broken.per").message).toMatch(/must be a positive duration/);
    expect(at(problems, "rateLimits.broken.brust").message).toMatch(/burst/);
    expect(at(problems, "bandwidth.disk_io.bytesPerSecond").message).toMatch(/looks like bits \("Mb"\); sizes are in bytes: write "100MB"/);
    expect(at(problems, "bandwidth.empty.bytesPerSecond").message).toMatch(/at least 1 byte \(0 would let nothing through\)/);
    expect(at(problems, "bandwidth.worded.bytesPerSecond").message).toMatch(/"fast" is not a size\); write it like "512KiB", "100MB", "1.5GiB"/);
    expect(at(problems, "pipelines.sync.tasks.typo.rate.partner_apl").message).toMatch(
      /takes tokens of rate limit "partner_apl", which is not declared\. Did you mean "partner_api"\?.*declare it: defineConfig\(\{ rateLimits: \{ partner_apl: \{ limit: 100, per: "1m" \} \} \}\)/,
    );
    expect(at(problems, "pipelines.sync.tasks.greedy.rate.partner_api").message).toMatch(/takes 11 tokens of rate limit "partner_api" at once, more than its burst \(10\), so it could never be admitted; raise rateLimits\.partner_api\.burst to at least 11/);
    expect(at(problems, "pipelines.sync.tasks.zero.rate.partner_api").message).toMatch(/at least 1 token/);
  });
});
