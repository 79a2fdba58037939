import type { Command } from "commander";
import type { Engine } from "../../core/engine/engine.js";
import type { RunRecord } from "../../core/records.js";
import type { ResolvedConfig } from "../../define/resolved.js";
import type { Store } from "../../store/types.js";
import { STORED, awaitRequest, configFor, restoredEngine, storeCwd, storeFrom, withLocalControl } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { durationOption, withConfig, withDb, withJson, withLogLevel, type LogOption, type StoreOption } from "../options.js";
import { timeoutGraceFromEnv } from "./run.js";

interface ControlOptions extends StoreOption {
  timeout: string;
}

export const TIMEOUT_OPTION = ["--timeout <duration>", "how long to wait for a running scheduler's answer; past it the request is withdrawn and never takes effect", "15s"] as const;

interface TriggerOptions extends ControlOptions, LogOption {
  params?: string;
  wait?: boolean;
  json?: boolean;
}

const FINAL = new Set(["success", "failed", "cancelled"]);

/** Limits of `--params`: run parameters are a handful of values, not a data set. */
const MAX_PARAMS_DEPTH = 32;
const MAX_PARAMS_BYTES = 256 * 1024;

/** Nesting depth of a JSON value, without recursion (a hostile value must not overflow the stack). */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    max = Math.max(max, d);
    if (max > MAX_PARAMS_DEPTH) return max;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** `--params` must be a JSON object. */
export function parseParams(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--params is not valid JSON (${err instanceof Error ? err.message : String(err)}); pass an object, e.g. --params '{"day":"2024-06-01"}'`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError(`--params must be a JSON object, e.g. --params '{"day":"2024-06-01"}' (got ${JSON.stringify(value)})`);
  }
  if (depthOf(value) > MAX_PARAMS_DEPTH) throw new CliError(`--params nests deeper than ${MAX_PARAMS_DEPTH} levels; pass flatter parameters (or a path to a file your task reads)`);
  if (text.length > MAX_PARAMS_BYTES) throw new CliError(`--params is larger than ${MAX_PARAMS_BYTES / 1024} KB; pass a path to a file your task reads instead`);
  return value as Record<string, unknown>;
}

/** Parse `17` or `17/extract`. */
export function parseRunRef(ref: string): { runId: number; task: string | undefined } {
  const [run, ...rest] = ref.split("/");
  const runId = Number(run);
  if (!Number.isInteger(runId) || runId < 1) throw new CliError(`"${ref}" is not a run: use a run id like 17, or 17/extract for one task (see \`sluice runs\`)`);
  const task = rest.length > 0 ? rest.join("/") : undefined;
  return { runId, task };
}

/** Apply an engine decision made in this process (no scheduler runs on the store). */
export async function decideLocally<T>(config: ResolvedConfig, store: Store, decide: (engine: Engine, now: number) => T): Promise<T> {
  const now = Date.now();
  const engine = await restoredEngine(config, store, now);
  engine.stopAdmitting();
  const result = decide(engine, now);
  await store.apply(engine.advance(now).changes);
  return result;
}

/** The first SIGINT/SIGTERM calls `first`; a second one exits at once (130). */
function onInterrupt(first: (signal: NodeJS.Signals) => void): { readonly signal: NodeJS.Signals | undefined; dispose(): void } {
  const state: { signal: NodeJS.Signals | undefined } = { signal: undefined };
  const handler = (signal: NodeJS.Signals) => {
    if (state.signal) {
      process.stderr.write(`sluice: second ${signal}: exiting now\n`);
      process.exit(130);
    }
    state.signal = signal;
    first(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    get signal() {
      return state.signal;
    },
    dispose() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

async function waitForRun(store: Store, runId: number): Promise<RunRecord> {
  for (;;) {
    const run = await store.getRun(runId);
    if (run && FINAL.has(run.state)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function report(run: RunRecord, json: boolean | undefined): void {
  if (json) process.stdout.write(JSON.stringify(run) + "\n");
  else process.stdout.write(`run ${run.id} of ${run.pipeline}: ${run.state}${run.startedAt && run.endedAt ? ` in ${run.endedAt - run.startedAt} ms` : ""}\n`);
  process.exitCode = run.state === "success" ? EXIT.ok : EXIT.failure;
}

export function registerControl(program: Command): void {
  const trigger = program
    .command("trigger")
    .description("create a run of a pipeline now; with --wait, wait for it and exit 0 on success, 1 on failure")
    .argument("<pipeline>", "pipeline id");
  withConfig(trigger);
  withDb(trigger);
  withJson(withLogLevel(trigger))
    .option("--params <json>", "run parameters, a JSON object (ctx.params)")
    .option("--wait", "wait for the run to end; runs it in this process when no `sluice run` is running")
    .option(...TIMEOUT_OPTION)
    .action(async (pipeline: string, opts: TriggerOptions) => {
      const params = parseParams(opts.params);
      const answerMs = await durationOption(opts.timeout, "--timeout");
      const store = await storeFrom(opts);
      try {
        // The definitions (the config file, else those the scheduler recorded): their size, never the
        // number of active runs, is what a trigger costs.
        const definitions = async () => {
          const found = await configFor(opts, store);
          const known = found.config.pipelines.map((p) => p.id);
          if (!known.includes(pipeline)) throw new CliError(`unknown pipeline "${pipeline}"; ${found.source !== STORED ? "the config defines" : "the store's recorded definitions have"}: ${known.join(", ") || "(none)"}`);
          return { config: found.config, hasCode: found.source !== STORED, path: found.source };
        };
        // Read before taking the store's lease below: 50 triggers at once each hold it for a moment
        // only, never while a config compiles.
        const { config, hasCode, path } = await definitions();
        if (opts.wait && hasCode) {
          // No scheduler running: be one, with schedules off.
          const [{ startResolved }, { createLogger }, { SchedulerBusyError }] = await Promise.all([import("../../runtime/sluice.js"), import("../../observe/logger.js"), import("../../scheduler/scheduler.js")]);
          const logger = createLogger({ destination: 2, ...(opts.logLevel ? { level: opts.logLevel } : {}) });
          const local = await startResolved(config, { ...(opts.db !== undefined ? { db: opts.db } : {}), cwd: storeCwd(opts), logger, schedules: false, configFile: path, ...timeoutGraceFromEnv() }).catch((err: unknown) => {
            if (err instanceof SchedulerBusyError) return undefined;
            throw err;
          });
          if (local) {
            // The run lives in this process: an interrupt cancels it (its tasks' signals abort, the
            // store records it cancelled) instead of leaving it "running" with nobody to run it.
            // Listening before the trigger: its first task may start before `trigger` returns.
            let runId: number | undefined;
            const cancel = (id: number, signal: NodeJS.Signals) => void local.cancel(id, `cancelled: sluice trigger --wait was interrupted (${signal})`);
            const interrupted = onInterrupt((signal) => {
              if (runId !== undefined) cancel(runId, signal);
            });
            try {
              // Being the scheduler, this process also runs the runs already waiting in the store: say which.
              const waiting = await store.listRuns({ states: ["queued", "running"], limit: 1000 });
              if (waiting.length > 0) {
                process.stderr.write(`sluice: no scheduler is running, so this process runs the new run and also ${waiting.length} run(s) already waiting in the store: ${waiting.map((r) => `${r.id} (${r.pipeline})`).join(", ")}\n`);
              }
              runId = await local.trigger(pipeline, { params });
              if (interrupted.signal) cancel(runId, interrupted.signal);
              const run = await local.waitForRun(runId);
              await local.stop();
              if (interrupted.signal) {
                process.stderr.write(`sluice: ${interrupted.signal}: run ${runId} cancelled\n`);
                process.exitCode = 130;
                return;
              }
              report(run, opts.json);
            } finally {
              interrupted.dispose();
              await local.stop();
            }
            return;
          }
        }
        const local = await withLocalControl(store, async () => {
          // No scheduler runs, and without the code this process cannot run the run itself.
          if (opts.wait) throw new CliError("--wait: no scheduler is running on this store, and without the config (-c) this process cannot run the run itself; start `sluice run`, or pass -c");
          // Recorded queued, not running: nothing runs it until a scheduler starts.
          return decideLocally(config, store, (engine, now) => engine.trigger(pipeline, now, { params, queued: true }));
        });
        let runId = local;
        if (runId === undefined) {
          const id = await store.addRequest({ type: "trigger", pipeline, params, at: Date.now() });
          const answer = await awaitRequest(store, id, answerMs);
          if (answer.error !== null || answer.runId === null) throw new CliError(`the scheduler refused: ${answer.error ?? "no run created"}`);
          runId = answer.runId;
        }
        if (opts.wait) {
          // A scheduler runs it: an interrupt only stops this wait.
          const waiting = runId;
          const interrupted = onInterrupt((signal) => {
            process.stderr.write(`sluice: ${signal}: stopped waiting; run ${waiting} goes on (\`sluice cancel ${waiting}\` stops it)\n`);
            process.exit(130);
          });
          try {
            return report(await waitForRun(store, runId), opts.json);
          } finally {
            interrupted.dispose();
          }
        }
        const run = await store.getRun(runId);
        if (opts.json) process.stdout.write(JSON.stringify(run) + "\n");
        else process.stdout.write(`run ${runId} of ${pipeline} ${run?.state ?? "created"}${local !== undefined ? " (no scheduler is running: it starts with `sluice run`)" : ""}\n`);
      } finally {
        await store.close();
      }
    });

  const cancel = program
    .command("cancel")
    .description("cancel a run: waiting tasks leave the queue, running attempts are aborted and their slots released at once")
    .argument("<run>", "run id");
  withConfig(cancel);
  withDb(cancel)
    .option(...TIMEOUT_OPTION)
    .action(async (ref: string, opts: ControlOptions) => {
      const { runId } = parseRunRef(ref);
      const answerMs = await durationOption(opts.timeout, "--timeout");
      const store = await storeFrom(opts, { mustExist: true });
      try {
        const run = await store.getRun(runId);
        if (!run) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        if (FINAL.has(run.state)) throw new CliError(`run ${runId} already ended (${run.state}); there is nothing to cancel`);
        const { config } = await configFor(opts, store);
        const local = await withLocalControl(store, () => decideLocally(config, store, (engine, now) => engine.cancelRun(runId, now, "cancelled with `sluice cancel`")));
        if (local === undefined) {
          const id = await store.addRequest({ type: "cancel", runId, at: Date.now() });
          const answer = await awaitRequest(store, id, answerMs);
          if (answer.error !== null) throw new CliError(answer.error, EXIT.failure);
        } else if (!local) {
          throw new CliError(`run ${runId} is not active in this config (its pipeline may have been removed)`, EXIT.failure);
        }
        process.stdout.write(`run ${runId} cancelled\n`);
      } finally {
        await store.close();
      }
    });
}
