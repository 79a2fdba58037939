/**
 * `sluice logs <run>[/<task>] [--attempt n] [--follow]`: what tasks wrote with `ctx.log`, kept with
 * their attempts in the store, from any terminal with the store.
 */
import type { Command } from "commander";
import type { AttemptRecord } from "../../core/records.js";
import type { AttemptLogLine, Store } from "../../store/types.js";
import { storeFrom } from "../context.js";
import { CliError } from "../errors.js";
import { formatTime, machineZone, tzFlag, zoneCaption } from "../format.js";
import { intOption, withConfig, withDb, withJson, type StoreOption } from "../options.js";
import { parseRunRef } from "./control.js";

interface LogsOptions extends StoreOption {
  attempt?: string;
  attemptId?: string;
  follow?: boolean;
  json?: boolean;
  tz?: string;
}

/** How often `--follow` looks for new lines. */
const FOLLOW_MS = 500;

/** The attempts `ref` and the options name, oldest first. */
async function attemptsOf(store: Store, ref: string | undefined, opts: LogsOptions): Promise<AttemptRecord[]> {
  if (opts.attemptId !== undefined) {
    const a = await store.getAttempt(intOption(opts.attemptId, "--attempt-id"));
    if (!a) throw new CliError(`attempt ${opts.attemptId} does not exist (see \`sluice history\`)`);
    return [a];
  }
  if (ref === undefined) throw new CliError("name a run (17), a task of a run (17/extract), or an attempt (--attempt-id 42)");
  const { runId, task } = parseRunRef(ref);
  const run = await store.getRun(runId);
  if (!run) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
  let attempts = (await store.listAttempts({ runId, limit: 10_000, ...(task ? { task } : {}) })).sort((a, b) => a.id - b.id);
  if (task !== undefined && attempts.length === 0) {
    const tasks = await store.listTasks(runId);
    if (!tasks.some((t) => t.task === task)) throw new CliError(`run ${runId} has no task "${task}"; its tasks: ${tasks.map((t) => t.task).join(", ")}`);
  }
  if (opts.attempt !== undefined) {
    const n = intOption(opts.attempt, "--attempt");
    attempts = attempts.filter((a) => a.attempt === n);
    if (attempts.length === 0) throw new CliError(`run ${runId}${task ? `/${task}` : ""} has no attempt ${n}`);
  } else if (task !== undefined && !opts.follow) {
    // One task: its latest attempt (name another with --attempt).
    attempts = attempts.slice(-1);
  }
  return attempts;
}

const FINAL_TASK = new Set(["success", "failed", "upstream_failed", "cancelled"]);

/**
 * Whether what `--follow` follows will make no more attempts: the attempt named, or the task (the
 * run) once it has ended — a task not started yet, or waiting for its retry, is waited for.
 */
async function settled(store: Store, ref: string | undefined, opts: LogsOptions, attempts: readonly AttemptRecord[]): Promise<boolean> {
  if (opts.attemptId !== undefined || opts.attempt !== undefined || ref === undefined) return attempts.length > 0;
  const { runId, task } = parseRunRef(ref);
  if (task !== undefined) {
    const state = (await store.listTasks(runId)).find((t) => t.task === task)?.state;
    return state === undefined || FINAL_TASK.has(state);
  }
  const run = await store.getRun(runId);
  return run === undefined || (run.state !== "queued" && run.state !== "running");
}

function render(line: AttemptLogLine, tz: string): string {
  const data = line.data ? ` ${JSON.stringify(line.data)}` : "";
  return `${formatTime(line.at, tz)}.${String(line.at % 1000).padStart(3, "0")} ${line.level.toUpperCase().padEnd(5)} ${line.msg}${data}`;
}

export function registerLogs(program: Command): void {
  const cmd = program
    .command("logs")
    .description("what tasks wrote with ctx.log: a run's attempts, a task's latest (or --attempt n), or one attempt by id")
    .argument("[run]", "run id, or run/task (e.g. 17/extract)")
    .option("--attempt <n>", "that attempt of the task (1, 2, …)")
    .option("--attempt-id <id>", "one attempt by its id (as `sluice history` lists it)")
    .option("-f, --follow", "keep printing new lines until the task (or run) ends, waiting for it to start and for its retries")
    .addOption(tzFlag());
  withConfig(cmd);
  withJson(withDb(cmd)).action(async (ref: string | undefined, opts: LogsOptions) => {
    const store = await storeFrom(opts, { readonly: true, mustExist: true });
    const tz = opts.tz ?? machineZone();
    try {
      let attempts = await attemptsOf(store, ref, opts);
      const seen = new Map<number, number>();
      const header = new Set<number>();
      let quiet = 0;
      if (!opts.json && attempts.length > 0) process.stdout.write(`${zoneCaption(tz)}\n`);
      for (;;) {
        for (const a of attempts) {
          const lines = await store.listAttemptLogs(a.id, seen.get(a.id) ?? 0);
          if (lines.length === 0 && (header.has(a.id) || opts.follow)) continue;
          if (!opts.json && !header.has(a.id)) {
            process.stdout.write(`── ${a.pipeline}.${a.task} · run ${a.runId} · attempt ${a.attempt} (id ${a.id}, ${a.state}) ──\n`);
            header.add(a.id);
          }
          for (const l of lines) process.stdout.write(opts.json ? `${JSON.stringify({ ...l, at: new Date(l.at).toISOString(), pipeline: a.pipeline, task: a.task, runId: a.runId, attempt: a.attempt })}\n` : `${render(l, tz)}\n`);
          if (lines.length === 0 && !opts.json) process.stdout.write("  (no lines)\n");
          const last = lines.at(-1);
          if (last) seen.set(a.id, last.seq);
        }
        if (!opts.follow) return;
        // Following: stop once every attempt has ended and its last lines are read (a new attempt of
        // a followed run or task is picked up as it starts).
        const fresh = await attemptsOf(store, ref, { ...opts, follow: true });
        const ended = fresh.every((a) => a.state !== "running") && (await settled(store, ref, opts, fresh));
        if (ended && fresh.length === attempts.length) {
          let more = false;
          for (const a of fresh) if ((await store.listAttemptLogs(a.id, seen.get(a.id) ?? 0, 1)).length > 0) more = true;
          // Lines are written a moment after they are logged (in batches): quiet twice in a row, then done.
          if (!more && quiet++ > 0) return;
        } else {
          quiet = 0;
        }
        attempts = fresh;
        await new Promise((r) => setTimeout(r, FOLLOW_MS));
      }
    } finally {
      await store.close();
    }
  });
}
