/**
 * The everyday verbs of operating pipelines: `pipelines` (what is scheduled, paused, when next),
 * `pause` / `resume`, and `backfill` (runs for past schedule times). Each works with or without a
 * scheduler running: with one, the request goes through the store's inbox and is answered in
 * milliseconds; without one, this process makes the change itself under the scheduler lease.
 */
import type { Command } from "commander";
import type { RunRecord, RunState } from "../../core/records.js";
import { formatDuration } from "../../define/duration.js";
import { MAX_BACKFILL_RUNS, RetryRefusedError } from "../../core/engine/engine.js";
import type { ResolvedPipeline } from "../../define/resolved.js";
import type { RequestType, Store } from "../../store/types.js";
import { describeSchedule, pipelineStatus } from "../../store/status.js";
export type { PipelineStatus } from "../../store/status.js";
import { answerRequest } from "../../scheduler/scheduler.js";
import { backfilledRuns, ticksBetween, ticksWithoutRun } from "../../scheduler/backfill.js";
import { awaitRequest, configFor, storeFrom, withLocalControl } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { durationOption, intOption, withConfig, withDb, withJson, type StoreOption } from "../options.js";
import { formatTime, machineZone, table, tzFlag, zoneCaption } from "../format.js";
import { TIMEOUT_OPTION, decideLocally, parseRunRef } from "./control.js";

interface OperateOptions extends StoreOption {
  timeout: string;
  json?: boolean;
}

interface BackfillOptions extends OperateOptions {
  from: string;
  to: string;
  maxActive: string;
  wait?: boolean;
  dryRun?: boolean;
}


const iso = (t: number | null | undefined): string => (t === null || t === undefined ? "" : new Date(t).toISOString().replace("T", " ").slice(0, 16) + "Z");
const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + "\n");

/**
 * Sends `type` to the running scheduler, or decides it here when none runs. Returns the answer;
 * throws a one-line {@link CliError} when it was refused.
 */
async function control(opts: OperateOptions, store: Store, type: RequestType, pipeline: string, params: Record<string, unknown> = {}): Promise<{ runId: number | null; local: boolean }> {
  const { config } = await configFor(opts, store);
  const known = config.pipelines.map((p) => p.id);
  if (!known.includes(pipeline)) throw new CliError(`unknown pipeline "${pipeline}"; known: ${known.join(", ") || "(none)"}`);
  const answerMs = await durationOption(opts.timeout, "--timeout");
  // Decided here, runs are recorded queued: nothing runs them until a scheduler starts.
  const request = { type, pipeline, runId: null, params: { ...params, queued: true } };
  const local = await withLocalControl(store, () => decideLocally(config, store, (engine, now) => answerRequest(engine, request, now)));
  const answer = local ?? (await awaitRequest(store, await store.addRequest({ type, pipeline, params, at: Date.now() }), answerMs));
  if (answer.error !== null) throw new CliError(answer.error, EXIT.failure);
  return { runId: answer.runId, local: local !== undefined };
}

/** Like {@link control}, for a request about a finished run (`retry`, `mark`). */
async function runControl(opts: OperateOptions, store: Store, type: "retry" | "mark", runId: number, params: Record<string, unknown>): Promise<{ local: boolean }> {
  const { config } = await configFor(opts, store);
  const answerMs = await durationOption(opts.timeout, "--timeout");
  const request = { type, pipeline: null, runId, params };
  const local = await withLocalControl(store, async () => {
    const loaded = { run: await store.getRun(runId), tasks: await store.listTasks(runId) };
    try {
      return await decideLocally(config, store, (engine, now) => answerRequest(engine, request, now, loaded));
    } catch (err) {
      if (err instanceof RetryRefusedError) return { runId, error: err.message };
      throw err;
    }
  });
  const answer = local ?? (await awaitRequest(store, await store.addRequest({ type, runId, params, at: Date.now() }), answerMs));
  if (answer.error !== null) throw new CliError(answer.error, EXIT.failure);
  return { local: local !== undefined };
}

/**
 * A `--from`/`--to` bound: an ISO date (`2026-10-01`, the whole day in UTC) or date-time
 * (`2026-10-01T02:00`, UTC unless it names an offset).
 */
export function parseBound(text: string, flag: "--from" | "--to"): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const t = Date.parse(dateOnly ? `${text}T00:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(text) ? text : `${text}Z`);
  if (!Number.isFinite(t)) throw new CliError(`${flag}: "${text}" is not a date; use 2026-10-01 or 2026-10-01T02:00 (UTC unless an offset is given)`);
  // A date as --to means "through that day".
  return dateOnly && flag === "--to" ? t + 86_400_000 - 1 : t;
}

/** The schedule ticks of `p` in [from, to], oldest first. */
function backfillTicks(p: ResolvedPipeline, from: number, to: number): number[] {
  if (!p.schedule) throw new CliError(`pipeline "${p.id}" has no schedule, so it has no past schedule times to backfill; use \`sluice trigger ${p.id} --params …\` for one-off runs`);
  const ticks = ticksBetween(p.schedule, from, to, MAX_BACKFILL_RUNS);
  if (!ticks) throw new CliError(`the range holds more than ${MAX_BACKFILL_RUNS.toLocaleString("en-US")} ticks of ${describeSchedule(p.schedule)}; backfill a shorter range at a time`);
  return ticks;
}

const FINAL: ReadonlySet<RunState> = new Set(["success", "failed", "cancelled"]);
const FINAL_TASK: ReadonlySet<string> = new Set(["success", "failed", "upstream_failed", "cancelled"]);

/** Follows the backfill's runs until all have ended, printing progress; returns them. */
async function follow(store: Store, pipeline: string, ids: readonly number[], json: boolean | undefined): Promise<RunRecord[]> {
  const wanted = new Set(ids);
  let last = "";
  const tty = process.stderr.isTTY && !json;
  for (;;) {
    const runs = (await store.listRuns({ pipeline, limit: Math.max(1000, ids.length * 2) })).filter((r) => wanted.has(r.id));
    const count = (s: RunState) => runs.filter((r) => r.state === s).length;
    const done = runs.filter((r) => FINAL.has(r.state)).length;
    const line = `backfill ${pipeline}: ${done}/${ids.length} done (${count("success")} succeeded, ${count("failed")} failed, ${count("cancelled")} cancelled), ${count("running")} running, ${count("queued")} queued`;
    if (line !== last && !json) process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    last = line;
    if (done === ids.length) {
      if (tty) process.stderr.write("\n");
      return runs.sort((a, b) => a.scheduledFor - b.scheduledFor);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function registerOperate(program: Command): void {
  const pipelines = program.command("pipelines").description("each pipeline: its schedule and time zone, active or paused, next and last run, skipped ticks");
  withConfig(pipelines);
  withJson(withDb(pipelines)).addOption(tzFlag()).action(async (opts: StoreOption & { json?: boolean; tz?: string }) => {
    const tz = opts.tz ?? machineZone();
    const at = (iso: string) => formatTime(Date.parse(iso), tz).slice(0, 16);
    const store = await storeFrom(opts, { readonly: true });
    try {
      const { config } = await configFor(opts, store);
      const list = await pipelineStatus(store, config.pipelines, Date.now());
      if (opts.json) return print(list);
      process.stdout.write(`${zoneCaption(tz)}\n`);
      process.stdout.write(
        (table([
          ["pipeline", "schedule", "schedule tz", "state", "next run", "last run", "skipped", "active"],
          ...list.map((p) => [
            p.pipeline,
            p.schedule,
            p.timezone,
            p.state,
            p.nextRun ? at(p.nextRun) : p.state === "paused" ? "(paused)" : "",
            p.lastRun ? `${p.lastRun.id} ${p.lastRun.state} (${at(p.lastRun.scheduledFor)})` : "",
            String(p.skipped),
            String(p.activeRuns),
          ]),
        ]) || "  (no pipelines)") + "\n",
      );
    } finally {
      await store.close();
    }
  });

  for (const [verb, description] of [
    ["pause", "stop creating scheduled runs of a pipeline; runs in progress go on, manual triggers and backfills are still accepted"],
    ["resume", "create scheduled runs again; ticks missed while paused are caught up if the pipeline has catchup, else recorded as missed"],
  ] as const) {
    const cmd = program.command(verb).description(description).argument("<pipeline>", "pipeline id");
    withConfig(cmd);
    withDb(cmd)
      .option(...TIMEOUT_OPTION)
      .action(async (pipeline: string, opts: OperateOptions) => {
        // A new store is created: pausing a pipeline before its first deploy is a use.
        const store = await storeFrom(opts);
        try {
          await control(opts, store, verb, pipeline);
          process.stdout.write(`${pipeline} ${verb === "pause" ? "paused: its schedule creates no runs until `sluice resume " + pipeline + "`" : "resumed"}\n`);
        } finally {
          await store.close();
        }
      });
  }

  const retry = program
    .command("retry")
    .description("run tasks of a finished run again, as new attempts of the same run: the failed ones (or those named) and what depends on them")
    .argument("<run>", "run id, or run/task for one task")
    .option("--task <names>", "tasks to run again, comma-separated (default: those that failed, were cancelled or never ran)")
    .option("--downstream", "also run again every task downstream of them, even those that succeeded")
    .option("--wait", "wait for the run to end; exit 0 if it succeeds, 1 if not");
  withConfig(retry);
  withJson(withDb(retry))
    .option(...TIMEOUT_OPTION)
    .action(async (ref: string, opts: OperateOptions & { task?: string; downstream?: boolean; wait?: boolean }) => {
      const { runId, task } = parseRunRef(ref);
      const tasks = [...(task ? [task] : []), ...(opts.task ?? "").split(",").map((t) => t.trim()).filter(Boolean)];
      const store = await storeFrom(opts, { mustExist: true });
      try {
        if (!(await store.getRun(runId))) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        const { local } = await runControl(opts, store, "retry", runId, { tasks, downstream: opts.downstream === true });
        const reset = (await store.listTasks(runId)).filter((t) => !FINAL_TASK.has(t.state)).map((t) => t.task);
        if (!opts.wait) {
          const run = await store.getRun(runId);
          if (opts.json) return print({ run, retried: reset });
          process.stdout.write(`run ${runId} ${run?.state ?? "queued"}: ${reset.join(", ") || "(its tasks)"} run again${local ? " (no scheduler is running: it goes on with `sluice run`)" : ""}\n`);
          return;
        }
        if (local) process.stderr.write(`sluice: no scheduler is running on this store: run ${runId} waits for \`sluice run\` (Ctrl-C stops waiting; the retry stays)\n`);
        for (;;) {
          const run = await store.getRun(runId);
          if (run && FINAL.has(run.state)) {
            if (opts.json) print({ run, retried: reset });
            else process.stdout.write(`run ${runId} of ${run.pipeline}: ${run.state}\n`);
            process.exitCode = run.state === "success" ? EXIT.ok : EXIT.failure;
            return;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await store.close();
      }
    });

  const mark = program
    .command("mark")
    .description("set a task of a finished run to success or failed by hand (data fixed outside Sluice); the run's state follows")
    .argument("<run>", "run id")
    .argument("<task>", "task id")
    .argument("<state>", "success or failed");
  withConfig(mark);
  withDb(mark)
    .option(...TIMEOUT_OPTION)
    .action(async (ref: string, task: string, state: string, opts: OperateOptions) => {
      const { runId } = parseRunRef(ref);
      if (state !== "success" && state !== "failed") throw new CliError(`mark: the state must be success or failed (got "${state}")`);
      const store = await storeFrom(opts, { mustExist: true });
      try {
        if (!(await store.getRun(runId))) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        await runControl(opts, store, "mark", runId, { task, state });
        const run = await store.getRun(runId);
        process.stdout.write(`run ${runId}: ${task} marked ${state}; the run is ${run?.state ?? "?"}\n`);
      } finally {
        await store.close();
      }
    });

  const backfill = program
    .command("backfill")
    .description("create the runs of a pipeline's schedule times in a range (oldest first); runs that exist are not created again")
    .argument("<pipeline>", "pipeline id")
    .requiredOption("--from <date>", "first schedule time: 2026-10-01 (UTC day) or 2026-10-01T02:00")
    .requiredOption("--to <date>", "last schedule time, inclusive: 2026-10-31 (through that day) or a date-time")
    .option("--max-active <n>", "backfill runs at once (never more than the pipeline's maxActiveRuns)", "1")
    .option("--wait", "follow the runs to their end with progress, then print a summary; exit 1 if one failed")
    .option("--dry-run", "print the schedule times it would create runs for, and create none");
  withConfig(backfill);
  withJson(withDb(backfill))
    .option(...TIMEOUT_OPTION)
    .action(async (pipeline: string, opts: BackfillOptions) => {
      const from = parseBound(opts.from, "--from");
      const to = parseBound(opts.to, "--to");
      if (to < from) throw new CliError(`--to (${opts.to}) is before --from (${opts.from})`);
      const maxActive = intOption(opts.maxActive, "--max-active");
      const store = await storeFrom(opts);
      try {
        const { config } = await configFor(opts, store);
        const def = config.pipelines.find((p) => p.id === pipeline);
        if (!def) throw new CliError(`unknown pipeline "${pipeline}"; known: ${config.pipelines.map((p) => p.id).join(", ") || "(none)"}`);
        const ticks = backfillTicks(def, from, to);
        const times = await ticksWithoutRun(store, pipeline, ticks);
        const capped = Math.min(maxActive, def.maxActiveRuns);
        const plan = { pipeline, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ticks: ticks.length, existing: ticks.length - times.length, create: times.map((t) => new Date(t).toISOString()), maxActive: capped };
        if (opts.dryRun) {
          if (opts.json) return print(plan);
          process.stdout.write(`would create ${times.length} run(s) of ${pipeline} (${ticks.length - times.length} of ${ticks.length} schedule times have a run already), at most ${capped} at once:\n${times.map((t) => `  ${iso(t)}`).join("\n")}\n`);
          return;
        }
        if (!opts.json && maxActive > def.maxActiveRuns) process.stderr.write(`sluice: --max-active ${maxActive} is above ${pipeline}'s maxActiveRuns (${def.maxActiveRuns}): at most ${def.maxActiveRuns} run(s) at once\n`);
        if (times.length === 0) {
          if (opts.json) return print({ ...plan, runs: [] });
          process.stdout.write(`nothing to backfill: all ${ticks.length} schedule time(s) of ${pipeline} in the range have a run already\n`);
          return;
        }
        const answer = await control(opts, store, "backfill", pipeline, { times, maxActive });
        const ids = await backfilledRuns(store, pipeline, answer.runId, times);
        if (!opts.json) {
          process.stdout.write(`created ${ids.length} run(s) of ${pipeline} for ${iso(times[0])} … ${iso(times[times.length - 1])} (${ticks.length - times.length} existed already), at most ${capped} at once${answer.local ? "; no scheduler is running: they start with `sluice run`" : ""}\n`);
        }
        if (!opts.wait) {
          if (opts.json) print({ ...plan, runs: ids });
          return;
        }
        const t0 = Date.now();
        const runs = await follow(store, pipeline, ids, opts.json);
        const failed = runs.filter((r) => r.state !== "success");
        if (opts.json) print({ ...plan, runs: runs.map((r) => ({ id: r.id, scheduledFor: new Date(r.scheduledFor).toISOString(), state: r.state })) });
        else {
          process.stdout.write(`backfill of ${pipeline} ended in ${formatDuration(Date.now() - t0)}: ${runs.length - failed.length} of ${runs.length} succeeded\n`);
          for (const r of failed) process.stdout.write(`  run ${r.id} (${iso(r.scheduledFor)}) ${r.state}: \`sluice explain ${r.id}\`, \`sluice history --run ${r.id}\`\n`);
        }
        if (failed.length > 0) process.exitCode = EXIT.failure;
      } finally {
        await store.close();
      }
    });
}
