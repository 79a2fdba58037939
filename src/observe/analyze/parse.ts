import { AnalyzeInputError } from "./errors.js";
import type { JobRecord } from "./types.js";

const COLUMNS = ["name", "start_time", "end_time", "memory_mb"] as const;

/**
 * A time as teams export it: ISO 8601, or epoch seconds / milliseconds. A bare number below
 * 10^11 is seconds (10^11 s is the year 5138; 10^11 ms is 1973), so both read unambiguously
 * for any real history.
 */
export function parseTime(value: string): number | undefined {
  const v = value.trim();
  if (v === "") return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return Math.abs(n) < 1e11 ? Math.round(n * 1000) : Math.round(n);
  }
  // A date-time without a zone is read as UTC, not as the machine's zone, so the same file gives the same answer everywhere.
  const withZone = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v) ? `${v.replace(" ", "T")}Z` : v;
  const t = Date.parse(withZone);
  return Number.isNaN(t) ? undefined : t;
}

/** Split CSV text into rows of fields (RFC 4180: quoted fields, doubled quotes, newlines inside quotes), each with its 1-based line. */
export function splitCsv(text: string, file: string): Array<{ line: number; fields: string[] }> {
  const rows: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === "")) rows.push({ line: rowLine, fields });
    fields = [];
    field = "";
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else { if (c === "\n") line++; field += c; }
    } else if (c === '"') {
      if (field.trim() !== "") throw new AnalyzeInputError(file, line, 'a quote in the middle of a field; quote the whole field ("...") and double any quote inside it');
      field = "";
      quoted = true;
    } else if (c === ",") { fields.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
  }
  if (quoted) throw new AnalyzeInputError(file, rowLine, "a quoted field is never closed");
  endRow();
  return rows;
}

function record(file: string, line: number, raw: { name: unknown; start: unknown; end: unknown; memory: unknown }): JobRecord {
  const name = typeof raw.name === "string" ? raw.name.trim() : "";
  if (name === "") throw new AnalyzeInputError(file, line, "name is empty; every record names its job");
  const time = (v: unknown, column: string): number => {
    const t = typeof v === "number" ? parseTime(String(v)) : typeof v === "string" ? parseTime(v) : undefined;
    if (t === undefined) throw new AnalyzeInputError(file, line, `${column} ${JSON.stringify(v ?? "")} is not a time; use ISO 8601 (2025-01-06T02:00:00Z) or epoch seconds/milliseconds`);
    return t;
  };
  const start = time(raw.start, "start_time");
  const end = time(raw.end, "end_time");
  if (end <= start) throw new AnalyzeInputError(file, line, `end_time is not after start_time (${new Date(start).toISOString()} → ${new Date(end).toISOString()})`);
  const memoryText = typeof raw.memory === "number" ? String(raw.memory) : typeof raw.memory === "string" ? raw.memory.trim() : raw.memory == null ? "" : "?";
  const memoryMb = memoryText === "" ? 0 : Number(memoryText);
  if (!Number.isFinite(memoryMb) || memoryMb < 0) throw new AnalyzeInputError(file, line, `memory_mb ${JSON.stringify(raw.memory)} is not a number of megabytes (e.g. 16384); leave it empty if unknown`);
  return { name, group: name, start, end, memoryMb, pools: {} };
}

/**
 * Read `name,start_time,end_time,memory_mb` CSV. A header row is optional (recognised by its
 * column names, in any order); without one the columns are in this order.
 *
 * @example
 * ```ts
 * parseHistoryCsv("name,start_time,end_time,memory_mb\nload,2025-01-06T02:00Z,2025-01-06T03:00Z,8192\n", "h.csv");
 * ```
 */
export function parseHistoryCsv(text: string, file = "history.csv"): JobRecord[] {
  const rows = splitCsv(text.replace(/^\uFEFF/, ""), file);
  if (rows.length === 0) throw new AnalyzeInputError(file, 0, `no records; expected lines of ${COLUMNS.join(",")}`);
  let index: number[] = [0, 1, 2, 3];
  const first = rows[0]!.fields.map((f) => f.trim().toLowerCase());
  if (first.includes("name") || first.includes("start_time")) {
    index = COLUMNS.map((c) => first.indexOf(c));
    const missing = COLUMNS.filter((_, k) => index[k]! < 0 && COLUMNS[k] !== "memory_mb");
    if (missing.length > 0) throw new AnalyzeInputError(file, rows[0]!.line, `the header has no ${missing.join(", ")} column; expected ${COLUMNS.join(",")}`);
    rows.shift();
  }
  return rows.map(({ line, fields }) => {
    const need = Math.max(index[0]!, index[1]!, index[2]!) + 1;
    if (fields.length < need) throw new AnalyzeInputError(file, line, `${fields.length} field(s), expected ${COLUMNS.join(",")}`);
    const at = (k: number) => (index[k]! >= 0 ? fields[index[k]!] : undefined);
    return record(file, line, { name: at(0), start: at(1), end: at(2), memory: at(3) });
  });
}

/**
 * Read a JSON array of `{name, start_time, end_time, memory_mb}` (times as ISO strings or epoch
 * numbers). Errors name the record as `file:#n` (1-based index).
 *
 * @example
 * ```ts
 * parseHistoryJson('[{"name":"load","start_time":1736128800,"end_time":1736132400,"memory_mb":8192}]', "h.json");
 * ```
 */
export function parseHistoryJson(text: string, file = "history.json"): JobRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AnalyzeInputError(file, 0, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(raw)) throw new AnalyzeInputError(file, 0, "expected an array of {name, start_time, end_time, memory_mb}");
  return raw.map((r: unknown, k) => {
    if (typeof r !== "object" || r === null) throw new AnalyzeInputError(`${file} record`, k + 1, "not an object");
    const o = r as Record<string, unknown>;
    return record(`${file} record`, k + 1, { name: o.name, start: o.start_time, end: o.end_time, memory: o.memory_mb });
  });
}
