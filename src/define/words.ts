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

/** `"a", "b", "c"`, or `(none)` for an empty list. */
export function quoteList(names: readonly string[]): string {
  return names.length === 0 ? "(none)" : names.map((n) => JSON.stringify(n)).join(", ");
}

/** Case, `_` and `-` do not count: `depends_on` and `DependsOn` both match `dependsOn`. */
const normalize = (s: string): string => s.toLowerCase().replace(/[_-]/g, "");

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
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
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(target, normalize(name));
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  const allowed = Math.max(1, Math.floor(Math.max(target.length, 1) / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** `' Did you mean "slots"?'`, or `""` when nothing is close. */
export function didYouMean(input: string, known: readonly string[]): string {
  const match = closest(input, known);
  return match === undefined ? "" : ` Did you mean ${JSON.stringify(match)}?`;
}
