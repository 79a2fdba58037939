import type { Duration } from "./types.js";
import { describe } from "./words.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
/** One or more parts, largest first or not: "90s", "1h30m", "1d 2h", "2m 30s" (what formatDuration prints). */
const PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d)\s*)+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * The longest duration Sluice accepts anywhere (365 days): every timer is chained below Node's
 * 24.8-day limit, and anything longer is a typo more often than a plan.
 */
export const MAX_DURATION_MS = 365 * UNIT_MS.d;

/** The hint every duration message ends with, so they all read the same. */
export const DURATION_HINT = 'write it like "250ms", "30s", "15m", "1h30m", "1d" or as a number of milliseconds (at most 365d)';

/**
 * Milliseconds for a duration, or the reason it is not one. Used by {@link parseDuration} and by
 * the schemas, which turn the reason into a config problem instead of throwing.
 */
export function durationMs(value: unknown): { ok: true; ms: number } | { ok: false; reason: string } {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { ok: false, reason: `${value} is not a finite number of milliseconds` };
    if (value < 0) return { ok: false, reason: `${value} is negative` };
    if (value > MAX_DURATION_MS) return { ok: false, reason: `${value} ms is longer than the maximum of 365d` };
    return { ok: true, ms: value };
  }
  if (typeof value !== "string") return { ok: false, reason: `expected a string or a number, got ${describe(value)}` };
  const text = value.trim();
  if (text.length > 64) return { ok: false, reason: `${JSON.stringify(`${value.slice(0, 40)}…`)} is not a duration (too long)` };
  if (!PATTERN.test(text)) return { ok: false, reason: `${JSON.stringify(value)} is not a duration: ${whyNot(text)}` };
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit as Unit];
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) return { ok: false, reason: `${JSON.stringify(value)} is longer than the maximum of 365d` };
  return { ok: true, ms: Math.round(ms) };
}

/** Words people write for units, and the unit Sluice spells them with. */
const UNIT_WORDS: Record<string, Unit> = {
  msec: "ms", millis: "ms", millisecond: "ms", milliseconds: "ms",
  sec: "s", secs: "s", second: "s", seconds: "s",
  min: "m", mins: "m", minute: "m", minutes: "m",
  hr: "h", hrs: "h", hour: "h", hours: "h",
  day: "d", days: "d",
};

/** What is wrong with a string that is not a duration, pointing at the first bad part. */
function whyNot(text: string): string {
  if (text === "") return "it is empty";
  if (text.startsWith("-")) return "it is negative";
  let rest = text;
  while (rest !== "") {
    const m = /^(\d*\.\d*|\d+)?(\s*)([^\d\s.]*)\s*/.exec(rest)!;
    const [whole, amount, space = "", unit = ""] = m;
    if (amount === undefined || amount === "") return `${JSON.stringify(rest)} does not start with a number`;
    if (!/^\d+(\.\d+)?$/.test(amount)) return `${JSON.stringify(amount)} is not a number`;
    if (unit === "") return `${JSON.stringify(amount)} has no unit; add one of ms, s, m, h, d (e.g. "${amount}s")`;
    const known = unit in UNIT_MS ? (unit as Unit) : (UNIT_WORDS[unit.toLowerCase()] ?? (unit.toLowerCase() in UNIT_MS ? (unit.toLowerCase() as Unit) : undefined));
    if (space !== "" && known) return `a space between ${JSON.stringify(amount)} and its unit; write "${amount}${known}"`;
    if (!(unit in UNIT_MS)) return `unknown unit ${JSON.stringify(unit)}${known ? ` (write "${amount}${known}")` : "; units are ms, s, m, h and d"}`;
    rest = rest.slice(whole.length);
  }
  return "it is not a number with a unit";
}

/**
 * Milliseconds for a {@link Duration}. Numbers are milliseconds (finite, ≥ 0); strings are one or
 * more parts, each a number with a unit — `ms`, `s`, `m`, `h` or `d`, decimals allowed — added up:
 * `"90s"`, `"1h30m"`, `"2d4h"`, `"1m30s"`, `"1d 2h"` (spaces between parts allowed, as
 * {@link formatDuration} prints them). Whether 0 is acceptable is the caller's call.
 *
 * @param where - named in the error message, e.g. `"pipelines.daily.schedule.every"`.
 * @throws RangeError when the value is not a duration.
 *
 * @example
 * parseDuration("1.5h", "timeout"); // 5_400_000
 * parseDuration("1h30m", "timeout"); // 5_400_000
 * parseDuration(250, "retryDelay"); // 250
 */
export function parseDuration(value: Duration, where: string): number {
  const result = durationMs(value);
  if (!result.ok) throw new RangeError(`${where}: ${result.reason}; ${DURATION_HINT}`);
  return result.ms;
}

/**
 * A duration for people: the non-zero units from days down to milliseconds.
 *
 * @example
 * formatDuration(150_000); // "2m 30s"
 * formatDuration(250); // "250ms"
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? "-" : "";
  let rest = Math.round(Math.abs(ms));
  const parts: string[] = [];
  for (const unit of ["d", "h", "m", "s", "ms"] as const) {
    const amount = Math.floor(rest / UNIT_MS[unit]);
    rest -= amount * UNIT_MS[unit];
    if (amount > 0) parts.push(`${amount}${unit}`);
  }
  return parts.length === 0 ? "0ms" : sign + parts.join(" ");
}
