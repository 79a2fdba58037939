import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { formatDuration, parseDuration } from "../../define/duration.js";
import type { ResolvedConfig } from "../../define/resolved.js";
import { createLogger, taskLoggerFrom, type Logger } from "../../observe/logger.js";
import { Scheduler, SchedulerBusyError } from "../../scheduler/scheduler.js";
import { resolveStoreUrl } from "../../store/open.js";
import type { Store } from "../../store/types.js";
import { LocalWorker } from "../../worker/local-worker.js";
import { intOption, storeFrom, type StoreOption } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { loadConfig } from "../load-config.js";
import { LiveView } from "../live-view.js";

interface RunOptions extends StoreOption {
  concurrency?: string;
  shutdownTimeout: string;
  for?: string;
  live?: boolean;
}

function duration(value: string, flag: string): number {
  try {
    return parseDuration(value as never, flag);
  } catch {
    throw new CliError(`${flag}: "${value}" is not a duration; use e.g. 500ms, 30s, 15m or 2h`);
  }
}

export interface EmbeddedRuntime {
  scheduler: Scheduler;
  worker: LocalWorker;
  store: Store;
  logger: Logger;
}

/**
 * `SLUICE_TIMEOUT_GRACE_MS`: how long a timed-out task may take to stop after its signal aborts
 * before the attempt is failed anyway (LocalWorker's default when unset). Tests shorten it.
 */
function timeoutGraceFromEnv(): { timeoutGraceMs?: number } {
  const text = process.env.SLUICE_TIMEOUT_GRACE_MS;
  if (text === undefined || text.trim() === "") return {};
  const n = Number(text);
  // Not a CliError: `trigger --wait` reads a CliError from startEmbedded as "a scheduler is running".
  if (!Number.isInteger(n) || n < 0) throw new Error(`SLUICE_TIMEOUT_GRACE_MS: "${text}" must be a whole number of milliseconds ≥ 0`);
  return { timeoutGraceMs: n };
}

/** Scheduler + local worker on one store, logging its events; used by `run` and `trigger --wait`. */
export async function startEmbedded(config: ResolvedConfig, store: Store, logger: Logger, schedules: boolean): Promise<EmbeddedRuntime> {
  const grace = timeoutGraceFromEnv();
  const scheduler = new Scheduler({ config, store, schedules });
  const worker = new LocalWorker({ config, channel: scheduler.channel, taskLogger: taskLoggerFrom(logger), ...grace });
  scheduler.on("event", (e) => logger[e.level]({ event: e.type, pipeline: e.pipeline, run: e.runId, task: e.task, ...e.data }, e.message));
  scheduler.on("refused", (r) => logger.warn(r, `refused a worker report: ${r.reason}`));
  scheduler.on("error", (err) => logger.error({ err }, err.message));
  try {
    await scheduler.start(worker);
  } catch (err) {
    if (err instanceof SchedulerBusyError) throw new CliError(err.message);
    throw err;
  }
  return { scheduler, worker, store, logger };
}

/**
 * Two-stage shutdown: the first SIGINT/SIGTERM drains (no new attempts; running ones get until
 * the deadline, then are aborted and recorded lost); a second one exits at once — the store is
 * consistent either way, since every decision is committed before it is acted on.
 */
export function onSignals(drain: (signal: string) => Promise<void>): void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) {
      process.stderr.write(`sluice: second ${signal}: exiting now\n`);
      process.exit(130);
    }
    draining = true;
    void drain(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run the scheduler and a local worker on the embedded store (the main job)")
    .argument("[config]", "config file (default ./sluice.config.ts)")
    .option("--db <url>", "store: file:path (default .sluice/sluice.db, or SLUICE_DATABASE_URL)")
    .option("--concurrency <n>", "attempts the local worker runs at once (default: the config's worker.concurrency)")
    .option("--shutdown-timeout <duration>", "on SIGINT/SIGTERM, how long running attempts may finish before they are aborted", "30s")
    .option("--for <duration>", "stop gracefully after this long (demos, tests)")
    .option("--no-live", "plain log lines even on a terminal")
    .action(async (file: string | undefined, opts: RunOptions) => {
      const loaded = await loadConfig(file);
      const config = loaded.config;
      if (opts.concurrency !== undefined) config.worker.concurrency = intOption(opts.concurrency, "--concurrency");
      const shutdownMs = duration(opts.shutdownTimeout, "--shutdown-timeout");
      const runFor = opts.for !== undefined ? duration(opts.for, "--for") : undefined;
      const store = await storeFrom(opts);
      const live = Boolean(process.stdout.isTTY) && opts.live !== false;
      const location = resolveStoreUrl(opts.db);
      const logFile = location.path === ":memory:" ? resolve(".sluice/sluice.log") : resolve(dirname(location.path), "sluice.log");
      const logger = createLogger({ destination: live ? logFile : 1 });
      const rt = await startEmbedded(config, store, logger, true);
      const view = live ? new LiveView(rt.scheduler, config, store, logFile) : undefined;
      view?.start();
      let stopped: () => void = () => {};
      const done = new Promise<void>((r) => (stopped = r));
      let draining = false;
      const drain = async (why: string) => {
        if (draining) return;
        draining = true;
        logger.info({ running: rt.scheduler.running }, `${why}: stopping; running attempts have ${formatDuration(shutdownMs)} to finish (send the signal again to exit now)`);
        view?.stop(`${why}: draining ${rt.scheduler.running} running attempt(s)…`);
        await rt.scheduler.stop(Date.now() + shutdownMs);
        logger.info("sluice run stopped");
        logger.flush();
        await store.close();
        stopped();
      };
      onSignals(drain);
      // Logged once the signal handlers are in place: from here a SIGINT/SIGTERM drains (before,
      // it would kill the process at once), so scripts may wait for this line before signalling.
      logger.info({ config: loaded.path, store: location.path, concurrency: config.worker.concurrency, pipelines: config.pipelines.map((p) => p.id) }, "sluice run started");
      rt.scheduler.on("error", (err) => {
        const code = (err as { code?: string }).code;
        if (code === "SLUICE_LEASE_LOST" || code === "SLUICE_STORE_UNAVAILABLE") {
          process.exitCode = EXIT.failure;
          void drain(code === "SLUICE_LEASE_LOST" ? "lease lost" : "store unavailable");
        }
      });
      if (runFor !== undefined) setTimeout(() => void drain(`--for ${opts.for}`), runFor).unref();
      await done;
    });
}
