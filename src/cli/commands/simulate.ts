import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { DEFAULT_SIMULATION_START, simulate, type SimulationResult } from "../../core/simulate.js";
import { parseDuration } from "../../define/duration.js";
import type { ResolvedConfig } from "../../define/resolved.js";
import { CliError } from "../errors.js";
import { clock, describeReason, isolationOf, ms, offset, table } from "../format.js";
import { loadConfig } from "../load-config.js";
import { CONFIG_OPTION, JSON_OPTION, configArg, type ConfigOption } from "../options.js";

interface SimulateOptions extends ConfigOption {
  until: string;
  durations?: string;
  start?: string;
  json?: boolean;
  limit: string;
}

// On the command line a bare number is refused (`--until 30` is more likely 30 minutes than 30 ms),
// so only the JSON file's hint offers milliseconds.
function durationOption(value: string | number, flag: string, hint = "use e.g. 30s, 15m or 24h"): number {
  try {
    return parseDuration(value as never, flag);
  } catch {
    throw new CliError(`${flag}: ${JSON.stringify(value)} is not a duration; ${hint}`);
  }
}

/** Read `{"pipeline.task": "5m"}`; every key must name a task of the config. */
export function readDurations(file: string, config: ResolvedConfig): Record<string, number> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`--durations ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CliError(`--durations ${file}: expected an object like {"daily_sales.extract": "5m"}`);
  }
  const known = new Set(config.pipelines.flatMap((p) => p.tasks.map((t) => t.key)));
  const result: Record<string, number> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!known.has(key)) throw new CliError(`--durations ${file}: unknown task "${key}"; tasks are named pipeline.task: ${[...known].join(", ")}`);
    if (typeof value !== "string" && typeof value !== "number") throw new CliError(`--durations ${file}: "${key}" must be a duration like "5m"`);
    // A JSON number is milliseconds, as in the config; String() would turn 500 into "500", which has no unit.
    result[key] = durationOption(value, `--durations ${file}: "${key}"`, 'use e.g. "30s", "15m", "24h" or a number of milliseconds');
  }
  return result;
}

/** Tasks that run isolated, with the memory limit enforced on them: `simulate` lists them. */
function isolatedTasks(config: ResolvedConfig): Array<{ task: string; isolation: "thread" | "process"; memoryMb: number | null }> {
  return config.pipelines.flatMap((p) => p.tasks.flatMap((t) => (t.isolation ? [{ task: t.key, isolation: t.isolation, memoryMb: t.memoryMb ?? null }] : [])));
}

function printText(result: SimulationResult, limit: number, config: ResolvedConfig): string {
  const out: string[] = [`Simulated ${ms(result.end - result.start)} from ${new Date(result.start).toISOString()} on a virtual clock`];
  if (result.assumedDurations.length > 0) out.push(`(no estimate for ${result.assumedDurations.join(", ")}: assumed 1m each; set \`estimate\` or pass --durations)`);
  out.push("", "Timeline (start, run, task, ran, waited, why)");
  const rows = result.attempts.slice(0, limit).map((a) => [
    offset(a.startedAt, result.start),
    `run ${a.run}`,
    `${a.pipeline}.${a.task}`,
    a.endedAt === null ? "running at end" : `ran ${ms(a.endedAt - a.startedAt)}`,
    `waited ${ms(a.waitedMs)}`,
    a.waitReasons.map((r) => describeReason(r, null)).join("; "),
  ]);
  out.push(table(rows) || "  (no attempts)");
  if (result.attempts.length > limit) out.push(`  … ${result.attempts.length - limit} more attempts (use --limit or --json)`);
  out.push("", "Peak pool usage");
  out.push(table(Object.entries(result.pools).map(([name, p]) => [name, `${p.peak}/${p.capacity}`])) || "  (no pools)");
  if (Object.keys(result.rateLimits).length > 0) {
    out.push("", "Rate limits (tokens tasks took at admission; ctx.take in task bodies is not simulated)");
    out.push(table(Object.entries(result.rateLimits).map(([name, r]) => [name, `${r.limit} per ${ms(r.perMs)}, burst ${r.burst}`, `${r.taken} token(s) taken`, `tasks waited ${ms(r.waitedMs)} in all`])));
  }
  out.push("", "Runs per pipeline");
  const per = new Map<string, { started: number; skipped: number; buffered: number; unfinished: number }>();
  for (const r of result.runs) {
    const s = per.get(r.pipeline) ?? { started: 0, skipped: 0, buffered: 0, unfinished: 0 };
    if (r.state === "skipped") s.skipped++;
    else {
      if (r.startedAt !== null) s.started++;
      if (r.buffered) s.buffered++;
      if (r.state === "running" || r.state === "queued") s.unfinished++;
    }
    per.set(r.pipeline, s);
  }
  out.push(table([...per].map(([p, s]) => [p, `${s.started} started`, `${s.skipped} skipped`, `${s.buffered} buffered`, `${s.unfinished} unfinished at end`])) || "  (no runs)");
  const longest = [...result.attempts].sort((a, b) => b.waitedMs - a.waitedMs).filter((a) => a.waitedMs > 0).slice(0, 10);
  out.push("", "Longest waits");
  out.push(table(longest.map((a) => [ms(a.waitedMs), `${a.pipeline}.${a.task}`, `run ${a.run}`, `ready ${clock(a.readyAt)}`, a.waitReasons.map(describeReason).join("; ")])) || "  (nothing waited)");
  if (result.slaMisses.length > 0) {
    out.push("", `SLA misses predicted (${result.slaMisses.length})`);
    out.push(table(result.slaMisses.slice(0, 20).map((m) => [offset(m.dueAt, result.start), m.task === null ? `${m.pipeline} (deadline)` : `${m.pipeline}.${m.task}`, `run ${m.run}`, m.message])));
    if (result.slaMisses.length > 20) out.push(`  … ${result.slaMisses.length - 20} more (use --json)`);
  }
  const isolated = isolatedTasks(config);
  if (isolated.length > 0) {
    // The simulation runs on estimates: isolation changes nothing in it but what a real run enforces.
    out.push("", "Isolated tasks (a real run enforces their memory; the simulation only uses their memoryMb for admission)");
    out.push(table(isolated.map((t) => [t.task, isolationOf({ isolation: t.isolation, memoryMb: t.memoryMb ?? undefined }), t.memoryMb === null ? "no memoryMb: no memory limit, killable after the grace" : t.isolation === "thread" ? "stopped at it: SLUICE_MEMORY_LIMIT" : "killed past it: SLUICE_MEMORY_LIMIT"])));
  }
  if (result.warnings.length > 0) out.push("", "Warnings", ...result.warnings.slice(0, 20).map((w) => `  ${w}`));
  return out.join("\n") + "\n";
}

/** The JSON shape of `simulate --json`: times as ISO strings. */
export function simulationJson(result: SimulationResult, config?: ResolvedConfig): unknown {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    start: iso(result.start),
    end: iso(result.end),
    attempts: result.attempts.map((a) => ({ ...a, readyAt: iso(a.readyAt), startedAt: iso(a.startedAt), endedAt: iso(a.endedAt) })),
    pools: result.pools,
    ...(Object.keys(result.rateLimits).length > 0 ? { rateLimits: result.rateLimits } : {}),
    runs: result.runs.map((r) => ({ ...r, scheduledFor: iso(r.scheduledFor), startedAt: iso(r.startedAt), endedAt: iso(r.endedAt) })),
    assumedDurations: result.assumedDurations,
    slaMisses: result.slaMisses.map((m) => ({ ...m, scheduledFor: iso(m.scheduledFor), dueAt: iso(m.dueAt) })),
    warnings: result.warnings,
    ...(config ? { isolated: isolatedTasks(config) } : {}),
  };
}

export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description("run the admission core and the scheduler on a virtual clock, using each task's estimate as its run time")
    .argument("[config]", "config file (same as -c)")
    .option(...CONFIG_OPTION)
    .option("--until <duration>", "how much virtual time to simulate", "24h")
    .option("--durations <file>", 'JSON file of run times: {"pipeline.task": "5m"}')
    .option("--start <iso>", "virtual start time", new Date(DEFAULT_SIMULATION_START).toISOString())
    .option("--limit <n>", "timeline rows to print", "200")
    .option(...JSON_OPTION)
    .action(async (file: string | undefined, opts: SimulateOptions) => {
      const { config } = await loadConfig({ file: configArg(file, opts) });
      const durationMs = durationOption(opts.until, "--until");
      const start = opts.start ? Date.parse(opts.start) : DEFAULT_SIMULATION_START;
      if (Number.isNaN(start)) throw new CliError(`--start: "${opts.start}" is not a date; use ISO 8601, e.g. 2025-01-06T00:00:00Z`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new CliError(`--limit: "${opts.limit}" must be a whole number`);
      const durations = opts.durations ? readDurations(opts.durations, config) : undefined;
      const result = simulate(config, { start, durationMs, ...(durations ? { durations } : {}) });
      process.stdout.write(opts.json ? JSON.stringify(simulationJson(result, config), null, 2) + "\n" : printText(result, limit, config));
    });
}
