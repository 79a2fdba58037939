/**
 * A history file `sluice analyze --from` cannot read: which file, which line, what to fix.
 *
 * @example
 * ```ts
 * try { parseHistoryCsv(text, "h.csv"); } catch (e) { if (e instanceof AnalyzeInputError) console.error(e.line); }
 * ```
 */
export class AnalyzeInputError extends Error {
  readonly code = "SLUICE_ANALYZE_INPUT";
  constructor(
    readonly file: string,
    /** 1-based line (CSV) or record index + 1 (JSON); 0 for the file as a whole. */
    readonly line: number,
    what: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ""}: ${what}`);
    this.name = "AnalyzeInputError";
  }
}
