import type { Duration } from "./types.js";
import { describe } from "./words.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** The hint every duration message ends with, so they all read the same. */
export const DURATION_HINT = 'write it like "250ms", "30s", "15m", "1.5h", "1d" or as a number of milliseconds';

/**
 * Milliseconds for a duration, or the reason it is not one. Used by {@link parseDuration} and by
 * the schemas, which turn the reason into a config problem instead of throwing.
 */
export function durationMs(value: unknown): { ok: true; ms: number } | { ok: false; reason: string } {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { ok: false, reason: `${value} is not a finite number of milliseconds` };
    if (value < 0) return { ok: false, reason: `${value} is negative` };
    return { ok: true, ms: value };
  }
  if (typeof value !== "string") return { ok: false, reason: `expected a string or a number, got ${describe(value)}` };
  const match = PATTERN.exec(value.trim());
  if (!match) return { ok: false, reason: `${JSON.stringify(value)} is not a duration` };
  const unit = match[2] as Unit;
  return { ok: true, ms: Math.round(Number(match[1]) * UNIT_MS[unit]) };
}

/**
 * Milliseconds for a {@link Duration}. Numbers are milliseconds (finite, ≥ 0); strings are a
 * number with a unit: `ms`, `s`, `m`, `h` or `d` (decimals allowed). Whether 0 is acceptable is
 * the caller's call.
 *
 * @param where - named in the error message, e.g. `"pipelines.daily.schedule.every"`.
 * @throws RangeError when the value is not a duration.
 *
 * @example
 * parseDuration("1.5h", "timeout"); // 5_400_000
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
