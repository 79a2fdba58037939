import type { Command } from "commander";
import type { ResolvedConfig } from "../../define/resolved.js";
import { formatSize } from "../../define/bytes.js";
import { formatProblems } from "../../define/errors.js";
import { CliError, EXIT } from "../errors.js";
import { ms, table } from "../format.js";
import { importConfig, requireConfig } from "../load-config.js";
import { CONFIG_OPTION, JSON_OPTION, configArg, type ConfigOption } from "../options.js";

/** The config as plain data (no functions), as `inspect --json` prints it. */
export function describeConfig(config: ResolvedConfig): Record<string, unknown> {
  return {
    parallelism: config.parallelism,
    worker: config.worker,
    aging: config.aging,
    reservation: config.reservation,
    pools: Object.values(config.pools),
    ...(config.rateLimits ? { rateLimits: Object.values(config.rateLimits) } : {}),
    ...(config.bandwidth ? { bandwidth: Object.values(config.bandwidth) } : {}),
    // Only when declared (configs without them print as before); URLs with their password hidden.
    ...(Object.keys(config.databases ?? {}).length > 0 ? { databases: Object.values(config.databases ?? {}).map((d) => ({ ...d, url: databaseUrl(d.url) })) } : {}),
    pipelines: config.pipelines.map((p) => ({
      id: p.id,
      description: p.description,
      schedule: p.schedule,
      overlap: p.overlap,
      maxActiveRuns: p.maxActiveRuns,
      maxActiveTasks: p.maxActiveTasks,
      catchup: p.catchup,
      tasks: p.tasks.map(({ fn: _fn, ...task }) => task),
    })),
  };
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show pipelines, their DAGs, each task's effective priority and demands; validate the config (exit 2 when invalid)")
    .argument("[config]", "config file (same as -c)")
    .option(...CONFIG_OPTION)
    .option(...JSON_OPTION)
    .action(async (file: string | undefined, opts: ConfigOption & { json?: boolean }) => {
      const path = requireConfig({ file: configArg(file, opts) });
      const raw = await importConfig(path);
      const { resolveConfig } = await import("../../define/validate.js");
      const result = resolveConfig(raw);
      if (!result.ok) {
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ok: false, config: path, problems: result.problems }, null, 2) + "\n");
          process.exitCode = EXIT.usage;
          return;
        }
        throw new CliError(`invalid config ${path}: ${result.problems.length} problem(s)\n${formatProblems(result.problems)}`);
      }
      const config = result.config;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ok: true, config: path, ...describeConfig(config), warnings: result.warnings }, null, 2) + "\n");
        return;
      }
      const out: string[] = [`Config ${path}: valid`];
      out.push(`parallelism ${config.parallelism} · worker ${config.worker.concurrency} slots${config.worker.memoryMb !== undefined ? `, ${config.worker.memoryMb} MB` : ""} · aging ${config.aging.pointsPerMinute} pt/min · reservation after ${ms(config.reservation.afterMs)}`);
      out.push("", "Pools");
      out.push(
        table(Object.values(config.pools).map((p) => [p.name, p.adaptive ? `${p.adaptive.min}–${p.adaptive.max} slots (adaptive, ${p.adaptive.algorithm}; starts at ${p.slots})` : `${p.slots} slot(s)`, p.description ?? ""])) || "  (none)",
      );
      if (config.rateLimits) {
        out.push("", "Rate limits");
        out.push(table(Object.values(config.rateLimits).map((r) => [r.name, `${r.limit} per ${ms(r.perMs)}, burst ${r.burst}`, r.description ?? ""])));
      }
      if (config.bandwidth) {
        out.push("", "Bandwidth");
        out.push(table(Object.values(config.bandwidth).map((b) => [b.name, `${formatSize(b.bytesPerSecond)}/s, burst ${formatSize(b.burst)}`, b.description ?? ""])));
      }
      const databases = Object.values(config.databases ?? {});
      if (databases.length > 0) {
        out.push("", "Databases (ctx.pg)");
        out.push(table(databases.map((d) => [d.name, databaseUrl(d.url), `pool ${d.pool}`, `connect ${ms(d.connectTimeoutMs)} · idle ${ms(d.idleTimeoutMs)} · lifetime ${ms(d.maxLifetimeMs)} · ${d.retries} retries`])));
      }
      for (const p of config.pipelines) {
        const schedule = p.schedule ? (p.schedule.kind === "every" ? `every ${ms(p.schedule.everyMs)}` : `cron "${p.schedule.cron}"${p.schedule.timezone ? ` ${p.schedule.timezone}` : ""}`) : "manual only";
        out.push("", `Pipeline ${p.id}: ${schedule} · overlap ${p.overlap} · maxActiveRuns ${p.maxActiveRuns}${p.maxActiveTasks !== undefined ? ` · maxActiveTasks ${p.maxActiveTasks}` : ""}${p.catchup ? " · catchup" : ""}`);
        out.push(
          table(
            p.tasks.map((t) => [
              t.id,
              `weight ${t.weight} (${t.weightRule}, own ${t.priority})`,
              Object.entries(t.pools).map(([k, v]) => `${k}:${v}`).join(" ") || "no pools",
              t.memoryMb !== undefined ? `${t.memoryMb} MB` : "",
              t.isolation ?? "",
              ...(config.rateLimits ? [Object.entries(t.rate ?? {}).map(([k, v]) => `${k}:${v} token(s)`).join(" ")] : []),
              t.dependsOn.length > 0 ? `after ${t.dependsOn.join(", ")}` : "root",
            ]),
          ),
        );
      }
      for (const w of result.warnings) out.push(`warning: ${w.path}: ${w.message}`);
      process.stdout.write(out.join("\n") + "\n");
    });
}

/** A database's URL for display: the password hidden, or the variable it is read from. */
function databaseUrl(url: NonNullable<ResolvedConfig["databases"]>[string]["url"]): string {
  if (url.kind === "env") return `$${url.env}`;
  try {
    const u = new URL(url.url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid URL)";
  }
}
