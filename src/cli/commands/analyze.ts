import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import type { JobRecord } from "../../observe/analyze/types.js";
import type { DefinitionsJson } from "../../define/stored.js";
import { parseDuration } from "../../define/duration.js";
import { CliError } from "../errors.js";
import { CONFIG_OPTION, DB_OPTION, JSON_OPTION, type StoreOption } from "../options.js";

interface AnalyzeCliOptions extends StoreOption {
  since?: string;
  from?: string;
  html?: string;
  json?: boolean;
}

/** Finished attempts of the store, as job records (memory and pools from the stored definitions). */
async function storeRecords(opts: AnalyzeCliOptions): Promise<{ records: JobRecord[]; pools: Record<string, number> }> {
  const { storeFrom } = await import("../context.js");
  const store = await storeFrom(opts, { readonly: true });
  try {
    const stored = await store.loadDefinitions();
    const defs = stored?.config as DefinitionsJson | undefined;
    const memory = new Map<string, number>();
    for (const p of defs?.pipelines ?? []) for (const t of p.tasks) memory.set(t.key, t.memoryMb ?? 0);
    const pools: Record<string, number> = {};
    for (const [name, p] of Object.entries(defs?.pools ?? {})) pools[name] = p.slots;
    const attempts = await store.listAttempts({ limit: 1_000_000 });
    const records = attempts
      .filter((a) => a.endedAt !== null && a.endedAt > a.startedAt)
      .map((a) => ({
        name: `${a.pipeline}.${a.task}`,
        group: a.pipeline,
        run: String(a.runId),
        start: a.startedAt,
        end: a.endedAt!,
        memoryMb: memory.get(`${a.pipeline}.${a.task}`) ?? 0,
        pools: Object.fromEntries(a.resources.filter((r) => r.key.startsWith("pool:")).map((r) => [r.key.slice(5), r.amount])),
      }));
    return { records, pools };
  } finally {
    await store.close();
  }
}

export function registerAnalyze(program: Command): void {
  program
    .command("analyze")
    .description("find overlapping heavy jobs in history (the store, or --from a file) and suggest schedule offsets that lower the peaks")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option("--since <duration>", "only jobs that ended this long ago or later (default: 7d for the store, all of a --from file)")
    .option("--from <file>", "a file of job records instead of the store: CSV name,start_time,end_time,memory_mb or a JSON array of them")
    .option("--html <file>", "also write a self-contained HTML report with charts")
    .option(...JSON_OPTION)
    .action(async (opts: AnalyzeCliOptions) => {
      // The analysis is loaded only when the command runs, so `sluice --help` stays fast.
      const a = await import("../../observe/analyze/index.js");
      let sinceMs: number | undefined;
      const since = opts.since ?? (opts.from ? undefined : "7d");
      if (since !== undefined) {
        try {
          sinceMs = parseDuration(since as never, "--since");
        } catch {
          throw new CliError(`--since: ${JSON.stringify(since)} is not a duration; use e.g. 12h, 7d`);
        }
      }
      let records: JobRecord[];
      let pools: Record<string, number> = {};
      if (opts.from) {
        let text: string;
        try {
          text = readFileSync(opts.from, "utf8");
        } catch (err) {
          throw new CliError(`--from ${opts.from}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(err)}`);
        }
        try {
          records = /\.json$/i.test(opts.from) || /^\s*\[/.test(text) ? a.parseHistoryJson(text, opts.from) : a.parseHistoryCsv(text, opts.from);
        } catch (err) {
          if (err instanceof a.AnalyzeInputError) throw new CliError(err.message);
          throw err;
        }
      } else {
        ({ records, pools } = await storeRecords(opts));
      }
      const report = a.analyzeHistory(records, { ...(sinceMs !== undefined ? { sinceMs } : {}), poolCapacities: pools });
      if (opts.html) writeFileSync(opts.html, a.renderHtml(report));
      if (opts.json) process.stdout.write(JSON.stringify(a.reportJson(report), null, 2) + "\n");
      else process.stdout.write(a.formatReport(report) + (opts.html ? `\nHTML report: ${opts.html}\n` : ""));
    });
}
