import { InvalidArgumentError, Option, type Command } from "commander";
export { describeReason, ms } from "../observe/describe.js";

/** The machine's time zone (`TZ` if set), the default of `--tz`. */
export function machineZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** True for an IANA time zone name Node knows (`Europe/Paris`, `UTC`). */
export function isTimeZone(tz: string): boolean {
  if (tz.trim() === "") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function partsIn(t: number, tz: string): Record<string, string> {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "longOffset" });
    formatters.set(tz, f);
  }
  return Object.fromEntries(f.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
}

/**
 * A time for a table: `2026-11-25 09:30:05` in `tz` (an IANA zone, default the machine's). Tables
 * say which zone they use with {@link zoneCaption}; JSON output stays ISO 8601 in UTC.
 *
 * @example
 * formatTime(Date.UTC(2026, 10, 25, 8, 30, 5), "Europe/Paris"); // "2026-11-25 09:30:05"
 */
export function formatTime(t: number, tz: string = machineZone()): string {
  const p = partsIn(t, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/**
 * The time of day only, `09:30:05`, in `tz`.
 *
 * @example
 * timeOfDay(Date.UTC(2026, 10, 25, 8, 30, 5), "Europe/Paris"); // "09:30:05"
 */
export function timeOfDay(t: number, tz: string = machineZone()): string {
  const p = partsIn(t, tz);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** `UTC+01:00` (at time `t`: offsets change with daylight saving). */
export function zoneOffset(tz: string, t = Date.now()): string {
  const name = partsIn(t, tz).timeZoneName ?? "GMT";
  return name === "GMT" ? "UTC+00:00" : name.replace("GMT", "UTC");
}

/**
 * The line a table of times opens or ends with, naming its zone.
 *
 * @example
 * zoneCaption("Europe/Paris", Date.UTC(2026, 10, 25)); // "times in Europe/Paris (UTC+01:00)"
 */
export function zoneCaption(tz: string, t = Date.now()): string {
  return `times in ${tz} (${zoneOffset(tz, t)})`;
}

/** What `--tz` parsed to. */
export interface TzOption {
  tz?: string;
}

/**
 * The `--tz <zone>` option, for `.addOption(tzFlag())` in a command's chain: the IANA zone its
 * tables print times in (default the machine's); an unknown zone is a usage error (exit 2) that
 * says how to write one. Read the value with `opts.tz ?? machineZone()`.
 */
export function tzFlag(): Option {
  return new Option("--tz <zone>", `time zone of the times in tables, e.g. Europe/Paris or UTC (default: this machine's, ${machineZone()}; JSON is always UTC)`).argParser((value: string) => {
    if (!isTimeZone(value)) throw new InvalidArgumentError(`"${value}" is not an IANA time zone; write it like Europe/Paris, America/New_York or UTC.`);
    return value;
  });
}

/**
 * Adds `--tz <zone>` ({@link tzFlag}) to a command and returns it.
 *
 * @example
 * tzOption(program.command("pipelines")).action((opts: TzOption) => print(formatTime(t, opts.tz ?? machineZone())));
 */
export function tzOption(command: Command): Command {
  return command.addOption(tzFlag());
}

/** `12:00:05.250` of an epoch-ms time, in UTC. */
export function clock(t: number): string {
  return new Date(t).toISOString().slice(11, 23);
}

/** `+1h 02m 03s` offset from a start time. */
export function offset(t: number, start: number): string {
  const s = Math.floor((t - start) / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `+${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}

/**
 * Bytes as people read memory: `812 KB`, `48.0 MB`, `1.20 GB`; empty for `null`.
 *
 * @example
 * bytes(50_331_648); // "48.0 MB"
 */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return "";
  if (value < 1024 * 1024) return `${Math.round(value / 1024)} KB`;
  if (value < 1024 ** 3) return `${(value / 1024 ** 2).toFixed(1)} MB`;
  return `${(value / 1024 ** 3).toFixed(2)} GB`;
}

/** How a task's attempts run, in words: `process ≤ 512 MB`, `thread ≤ 64 MB heap`, `inline`. */
export function isolationOf(task: { isolation?: "thread" | "process"; memoryMb: number | undefined }): string {
  const iso = task.isolation ?? "inline";
  if (iso === "inline" || task.memoryMb === undefined) return iso;
  return iso === "thread" ? `thread ≤ ${task.memoryMb} MB heap` : `process ≤ ${task.memoryMb} MB`;
}

/** Left-aligned columns. */
export function table(rows: readonly (readonly string[])[], indent = "  "): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}
