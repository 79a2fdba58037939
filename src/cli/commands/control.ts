import type { Command } from "commander";
import type { Engine } from "../../core/engine/engine.js";
import type { RunRecord } from "../../core/records.js";
import type { ResolvedConfig } from "../../define/resolved.js";
import { createLogger } from "../../observe/logger.js";
import type { Store } from "../../store/types.js";
import { awaitRequest, restoredEngine, storeFrom, withLocalControl, type StoreOption } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { loadConfig } from "../load-config.js";
import { startEmbedded } from "./run.js";

interface ControlOptions extends StoreOption {
  config?: string;
}

interface TriggerOptions extends ControlOptions {
  params?: string;
  wait?: boolean;
  json?: boolean;
}

const FINAL = new Set(["success", "failed", "cancelled"]);

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
async function decideLocally<T>(config: ResolvedConfig, store: Store, decide: (engine: Engine, now: number) => T): Promise<T> {
  const now = Date.now();
  const engine = await restoredEngine(config, store, now);
  engine.stopAdmitting();
  const result = decide(engine, now);
  await store.apply(engine.advance(now).changes);
  return result;
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
  program
    .command("trigger")
    .description("create a run of a pipeline now; with --wait, wait for it and exit 0 on success, 1 on failure")
    .argument("<pipeline>", "pipeline id")
    .option("-c, --config <file>", "config file (default ./sluice.config.ts)")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .option("--params <json>", "run parameters, a JSON object (ctx.params)")
    .option("--wait", "wait for the run to end; runs it in this process when no `sluice run` is running")
    .option("--json", "print the run as JSON")
    .action(async (pipeline: string, opts: TriggerOptions) => {
      const params = parseParams(opts.params);
      const { config } = await loadConfig(opts.config);
      const known = config.pipelines.map((p) => p.id);
      if (!known.includes(pipeline)) throw new CliError(`unknown pipeline "${pipeline}"; the config defines: ${known.join(", ") || "(none)"}`);
      const store = await storeFrom(opts);
      try {
        if (opts.wait) {
          // No scheduler running: be one, for this run only (schedules off).
          const rt = await startEmbedded(config, store, createLogger({ destination: 2 }), false).catch((err: unknown) => {
            if (err instanceof CliError) return undefined;
            throw err;
          });
          if (rt) {
            const runId = await rt.scheduler.trigger(pipeline, params);
            const run = await waitForRun(store, runId);
            await rt.scheduler.stop(Date.now() + 30_000);
            rt.logger.flush();
            report((await store.getRun(run.id)) ?? run, opts.json);
            return;
          }
        }
        const local = await withLocalControl(store, () => decideLocally(config, store, (engine, now) => engine.trigger(pipeline, now, { params })));
        let runId = local;
        if (runId === undefined) {
          const id = await store.addRequest({ type: "trigger", pipeline, params, at: Date.now() });
          const answer = await awaitRequest(store, id);
          if (answer.error !== null || answer.runId === null) throw new CliError(`the scheduler refused: ${answer.error ?? "no run created"}`);
          runId = answer.runId;
        }
        if (opts.wait) return report(await waitForRun(store, runId), opts.json);
        const run = await store.getRun(runId);
        if (opts.json) process.stdout.write(JSON.stringify(run) + "\n");
        else process.stdout.write(`run ${runId} of ${pipeline} ${run?.state ?? "created"}${local !== undefined ? " (no scheduler is running: it starts with `sluice run`)" : ""}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command("cancel")
    .description("cancel a run: waiting tasks leave the queue, running attempts are aborted and their slots released at once")
    .argument("<run>", "run id")
    .option("-c, --config <file>", "config file (default ./sluice.config.ts)")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .action(async (ref: string, opts: ControlOptions) => {
      const { runId } = parseRunRef(ref);
      const { config } = await loadConfig(opts.config);
      const store = await storeFrom(opts);
      try {
        const run = await store.getRun(runId);
        if (!run) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        if (FINAL.has(run.state)) throw new CliError(`run ${runId} already ended: ${run.state}`, EXIT.failure);
        const local = await withLocalControl(store, () => decideLocally(config, store, (engine, now) => engine.cancelRun(runId, now, "cancelled with `sluice cancel`")));
        if (local === undefined) {
          const id = await store.addRequest({ type: "cancel", runId, at: Date.now() });
          const answer = await awaitRequest(store, id);
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
