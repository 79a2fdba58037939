/** Small helpers that make every config message read the same way. */

/** A short rendering of any input value: strings quoted, objects by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** `"a", "b", "c"`, or `(none)` for an empty list; past `max` names, `… and 9,990 more`. */
export function quoteList(names: readonly string[], max = 20): string {
  if (names.length === 0) return "(none)";
  const shown = names.slice(0, max).map((n) => JSON.stringify(n)).join(", ");
  return names.length > max ? `${shown} and ${(names.length - max).toLocaleString("en-US")} more` : shown;
}

/** Case, `_` and `-` do not count: `depends_on` and `DependsOn` both match `dependsOn`. */
const normalize = (s: string): string => s.toLowerCase().replace(/[_-]/g, "");

/** Levenshtein distance, or `limit + 1` as soon as it is known to exceed `limit`. */
function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      row.push(d);
      if (d < best) best = d;
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The known name closest to `input` when it is close enough to be a typo
 * (`slot` → `slots`, `depends_on` → `dependsOn`), else `undefined`.
 */
export function closest(input: string, known: readonly string[]): string | undefined {
  const target = normalize(input);
  const allowed = Math.max(1, Math.floor(Math.max(target.length, 1) / 3));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const name of known) {
    // Only names closer than the best so far count: most are dismissed by their length alone.
    const d = editDistance(target, normalize(name), bestDistance - 1);
    if (d < bestDistance) [best, bestDistance] = [name, d];
    if (bestDistance === 0) break;
  }
  return bestDistance <= allowed ? best : undefined;
}

/** `' Did you mean "slots"?'`, or `""` when nothing is close. */
export function didYouMean(input: string, known: readonly string[]): string {
  const match = closest(input, known);
  return match === undefined ? "" : ` Did you mean ${JSON.stringify(match)}?`;
}
