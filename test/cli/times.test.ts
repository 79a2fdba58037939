/**
 * Times in the CLI: tables print in the zone of `--tz` (default the machine's, i.e. `TZ`) and say
 * which; JSON stays ISO 8601 / epoch ms in UTC; a bad zone is a usage error. The helpers are
 * checked on their own, across a daylight-saving change.
 */
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { formatTime, isTimeZone, timeOfDay, tzOption, zoneCaption, zoneOffset } from "../../src/cli/format.js";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

describe("time helpers", () => {
  const t = Date.UTC(2026, 10, 25, 8, 30, 5); // winter in Paris (UTC+1)
  const summer = Date.UTC(2026, 6, 1, 8, 30, 5); // summer (UTC+2)

  it("format in the given zone, with the offset in force at that time", () => {
    expect(formatTime(t, "Europe/Paris")).toBe("2026-11-25 09:30:05");
    expect(formatTime(summer, "Europe/Paris")).toBe("2026-07-01 10:30:05");
    expect(formatTime(t, "UTC")).toBe("2026-11-25 08:30:05");
    expect(formatTime(t, "Asia/Kolkata")).toBe("2026-11-25 14:00:05");
    expect(formatTime(Date.UTC(2026, 10, 25, 23, 59, 59), "Pacific/Kiritimati")).toBe("2026-11-26 13:59:59");
    expect(timeOfDay(t, "America/New_York")).toBe("03:30:05");
    expect(zoneOffset("Europe/Paris", t)).toBe("UTC+01:00");
    expect(zoneOffset("Europe/Paris", summer)).toBe("UTC+02:00");
    expect(zoneOffset("UTC", t)).toBe("UTC+00:00");
    expect(zoneCaption("Asia/Kolkata", t)).toBe("times in Asia/Kolkata (UTC+05:30)");
  });

  it("tzOption accepts IANA zones and refuses anything else with how to write one", () => {
    expect(isTimeZone("Europe/Paris")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
    expect(isTimeZone("")).toBe(false);
    const parse = (args: string[]) => {
      const errors: string[] = [];
      const cmd = tzOption(new Command("x").exitOverride().configureOutput({ writeErr: (s) => void errors.push(s) }));
      try {
        cmd.parse(args, { from: "user" });
      } catch {
        /* reported in errors */
      }
      return { tz: cmd.opts<{ tz?: string }>().tz, errors };
    };
    expect(parse(["--tz", "America/Sao_Paulo"])).toEqual({ tz: "America/Sao_Paulo", errors: [] });
    expect(parse([]).tz).toBeUndefined();
    expect(parse(["--tz", "Mars/Olympus"]).errors.join("")).toMatch(/"Mars\/Olympus" is not an IANA time zone; write it like Europe\/Paris/);
  });
});

describe("read commands and --tz", () => {
  it("runs, history and explain print in --tz (default TZ) and say so; --json stays UTC; a bad --tz exits 2", async () => {
    const box = await sandbox();
    const CONFIG = fixture("control");
    const triggered = await box.cli(["trigger", "quick", "-c", CONFIG, "--wait"]);
    expect(triggered.code, triggered.stderr).toBe(0);
    const [run] = await box.json<RunRecord[]>(["runs"]);
    expect(run).toBeDefined();
    // JSON: epoch ms, untouched by any zone.
    const inTokyo = await box.cli(["runs", "--json", "--tz", "Asia/Tokyo"]);
    expect((JSON.parse(inTokyo.stdout) as RunRecord[])[0]?.scheduledFor).toBe(run!.scheduledFor);

    const kolkata = await box.cli(["runs", "--tz", "Asia/Kolkata"]);
    expect(kolkata.code, kolkata.stderr).toBe(0);
    expect(kolkata.stdout).toContain(`times in Asia/Kolkata (${zoneOffset("Asia/Kolkata", run!.scheduledFor)})`);
    expect(kolkata.stdout).toContain(formatTime(run!.scheduledFor, "Asia/Kolkata"));

    // No --tz: the machine's zone, which TZ sets.
    const machine = await box.cli(["runs"], { env: { TZ: "America/New_York" } });
    expect(machine.stdout).toContain("times in America/New_York (UTC-0");
    expect(machine.stdout).toContain(formatTime(run!.scheduledFor, "America/New_York"));

    const history = await box.cli(["history", "--tz", "UTC"]);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain("times in UTC (UTC+00:00)");
    const explain = await box.cli(["explain", String(run!.id), "-c", CONFIG, "--tz", "Europe/Paris"]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/times in Europe\/Paris \(UTC\+0[12]:00\)/);
    expect(explain.stdout).toContain(formatTime(run!.startedAt!, "Europe/Paris"));

    const bad = await box.cli(["runs", "--tz", "Mars/Olympus"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"Mars\/Olympus" is not an IANA time zone/);
  }, 60_000);
});
