import { describe } from "./words.js";

/**
 * Sizes in bytes. Decimal units are powers of 1000 (`kB`, `MB`, `GB`, `TB`), binary ones powers of
 * 1024 (`KiB`, `MiB`, `GiB`, `TiB`), as in the SI/IEC convention `df -H` and `df -h` follow; `B`
 * is bytes. A bare number is bytes.
 */
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** The hint every size message ends with, so they all read the same. */
export const SIZE_HINT = 'write it like "512KiB", "100MB", "1.5GiB" or as a number of bytes';

const PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/**
 * Bytes for a size, or the reason it is not one (used by the schemas, which turn the reason into
 * a config problem instead of throwing). Whole bytes: fractions round down.
 */
export function sizeBytes(value: unknown): { ok: true; bytes: number } | { ok: false; reason: string } {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return { ok: false, reason: `${value} is not a number of bytes ≥ 0` };
    return { ok: true, bytes: Math.floor(value) };
  }
  if (typeof value !== "string") return { ok: false, reason: `expected a string or a number, got ${describe(value)}` };
  const m = PATTERN.exec(value.trim());
  if (!m) return { ok: false, reason: `${JSON.stringify(value)} is not a size` };
  const [, amount = "", unit = ""] = m;
  const factor = unit === "" ? 1 : UNIT_BYTES[unit.toLowerCase()];
  if (factor === undefined) return { ok: false, reason: `${JSON.stringify(value)} has an unknown unit ${JSON.stringify(unit)}; units are B, kB, MB, GB, TB, KiB, MiB, GiB and TiB` };
  // "100mb" is read as megabytes, but "100Mb" (megabits) is a different quantity: refuse it.
  if (/^[KMGT]b$/.test(unit)) return { ok: false, reason: `${JSON.stringify(value)} looks like bits ("${unit}"); sizes are in bytes: write "${amount}${unit.slice(0, 1)}B"` };
  const bytes = Math.floor(Number(amount) * factor);
  if (!Number.isSafeInteger(bytes)) return { ok: false, reason: `${JSON.stringify(value)} is too large` };
  return { ok: true, bytes };
}

/**
 * Bytes for a size such as `"100MB"` (100,000,000), `"1.5GiB"` (1,610,612,736) or `4096`.
 *
 * @param where - named in the error message, e.g. `"bandwidth.disk_io.bytesPerSecond"`.
 * @throws RangeError when the value is not a size.
 *
 * @example
 * parseSize("100MB", "bytesPerSecond"); // 100_000_000
 * parseSize("1.5GiB", "limit"); // 1_610_612_736
 */
export function parseSize(value: number | string, where: string): number {
  const r = sizeBytes(value);
  if (!r.ok) throw new RangeError(`${where}: ${r.reason}; ${SIZE_HINT}`);
  return r.bytes;
}

/**
 * A size for people: in decimal units when it is a whole number of kilobytes and not of kibibytes
 * (`"100MB"` prints as it was written), else in binary ones; the largest unit that keeps a number ≥ 1.
 *
 * @example
 * formatSize(1_610_612_736); // "1.5GiB"
 * formatSize(100_000_000); // "100MB"
 */
export function formatSize(bytes: number): string {
  const decimal = bytes % 1000 === 0 && bytes % 1024 !== 0;
  const units = decimal
    ? ([["TB", 1e12], ["GB", 1e9], ["MB", 1e6], ["kB", 1e3]] as const)
    : ([["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const);
  for (const [unit, f] of units) {
    if (bytes >= f) return `${Number((bytes / f).toFixed(2))}${unit}`;
  }
  return `${bytes}B`;
}
