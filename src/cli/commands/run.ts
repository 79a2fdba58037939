import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type { Logger } from "pino";
import type { Sluice } from "../../runtime/sluice.js";
import { setLongTimeout } from "../../worker/long-timeout.js";
import { boundHeapGrowth } from "../heap.js";
import { EXIT } from "../errors.js";
import { tzFlag, type TzOption } from "../format.js";
import { configArg, durationOption, intOption, withConfig, withDb, withLogLevel, type LogOption, type StoreOption } from "../options.js";

interface RunOptions extends StoreOption, LogOption, TzOption {
  leaseTtl: string;
  concurrency?: string;
  shutdownTimeout: string;
  for?: string;
  live?: boolean;
  metricsPort?: string;
  port?: string;
  host?: string;
  token?: string;
  ui: boolean;
}

/**
 * Two-stage shutdown: the first SIGINT/SIGTERM drains (no new attempts; running ones get until
 * the deadline, then are aborted and recorded lost); a second one exits at once — the store is
 * consistent either way, since every decision is committed before it is acted on.
 */
export function onSignals(drain: (signal: string) => Promise<void>, alreadyStopping: () => boolean = () => false): void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    // Draining already (a signal, --for, a lost lease or store): this signal forces the exit.
    if (draining || alreadyStopping()) {
      process.stderr.write(`sluice: second ${signal}: exiting now\n`);
      process.exit(130);
    }
    draining = true;
    void drain(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

/**
 * `SLUICE_TIMEOUT_GRACE_MS`: how long a timed-out task may take to stop after its signal aborts
 * before the attempt is ended anyway (default 5 s). Tests shorten it.
 */
export function timeoutGraceFromEnv(): { timeoutGrace?: number } {
  const text = process.env.SLUICE_TIMEOUT_GRACE_MS;
  if (text === undefined || text.trim() === "") return {};
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`SLUICE_TIMEOUT_GRACE_MS: "${text}" must be a whole number of milliseconds ≥ 0`);
  return { timeoutGrace: n };
}

export function registerRun(program: Command): void {
  registerScheduling(program, "run", "run the scheduler and a local worker (the main job; on PostgreSQL, more `sluice worker`s may join)", true);
  registerScheduling(program, "scheduler", "run the scheduler only: worker processes (`sluice worker`) run the tasks; needs PostgreSQL (--db postgres://…)", false);
}

function registerScheduling(program: Command, name: "run" | "scheduler", description: string, localWorker: boolean): void {
  const cmd = program
    .command(name)
    .description(description)
    .argument("[config]", "config file (same as -c)");
  withConfig(cmd);
  withDb(cmd);
  withLogLevel(cmd)
    .option("--concurrency <n>", "attempts the local worker runs at once (default: the config's worker.concurrency)")
    .option("--shutdown-timeout <duration>", "on SIGINT/SIGTERM, how long running attempts may finish before they are aborted", "30s")
    .option("--for <duration>", "stop gracefully after this long (demos, tests)")
    .option("--lease-ttl <duration>", "scheduler lease: after a crash or pause this long, another scheduler may take over the store", "15s")
    .option("--no-live", "plain log lines even on a terminal")
    .option("--metrics-port <port>", "serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0: any free port, logged)")
    .option("--port <port>", "the dashboard, the HTTP API (/api) and /metrics on this port (0: any free one; default 7070; SLUICE_PORT)")
    .option("--host <address>", "the address the HTTP server listens on (default 127.0.0.1; SLUICE_HOST); other than loopback, it needs --token")
    .option("--token <token>", "require this token on every HTTP request (Authorization: Bearer …, or open /?token=… once); SLUICE_TOKEN")
    .option("--no-ui", "serve no dashboard and no HTTP API")
    .addOption(tzFlag())
    .action(async (file: string | undefined, opts: RunOptions) => {
      boundHeapGrowth();
      const [{ loadConfig }, { storeLocation, storeCwd, describeLocation }, { startResolved, FATAL_CODES }, { createLogger }, { SchedulerBusyError }, { CliError }, { formatDuration }] = await Promise.all([
        import("../load-config.js"),
        import("../context.js"),
        import("../../runtime/sluice.js"),
        import("../../observe/logger.js"),
        import("../../scheduler/scheduler.js"),
        import("../errors.js"),
        import("../../define/duration.js"),
      ]);
      const named = { ...opts, config: configArg(file, opts) };
      const loaded = await loadConfig({ file: named.config });
      const concurrency = opts.concurrency !== undefined ? intOption(opts.concurrency, "--concurrency") : undefined;
      const shutdownMs = await durationOption(opts.shutdownTimeout, "--shutdown-timeout");
      const runFor = opts.for !== undefined ? await durationOption(opts.for, "--for") : undefined;
      const location = storeLocation(named);
      const live = Boolean(process.stdout.isTTY) && opts.live !== false;
      const logFile = location.kind === "postgres" || location.path === ":memory:" ? resolve(dirname(loaded.path), ".sluice", "sluice.log") : resolve(dirname(location.path), "sluice.log");
      const logger = createLogger({ destination: live ? logFile : 1, ...(opts.logLevel ? { level: opts.logLevel } : {}) });
      // Standing by (or starting), there is nothing to drain yet: a signal just ends the process.
      const early = (signal: NodeJS.Signals) => {
        process.stderr.write(`sluice: ${signal} before this scheduler became active; exiting\n`);
        process.exit(0);
      };
      process.on("SIGINT", early);
      process.on("SIGTERM", early);
      const sluice = await startResolved(loaded.config, {
        configFile: loaded.path,
        ...(named.db !== undefined ? { db: named.db } : {}),
        cwd: storeCwd(named),
        logger,
        shutdownTimeout: shutdownMs,
        leaseTtl: await durationOption(opts.leaseTtl, "--lease-ttl"),
        ...timeoutGraceFromEnv(),
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(localWorker ? {} : { worker: false, standby: true }),
      }).catch((err: unknown) => {
        const code = (err as { code?: unknown }).code;
        if (err instanceof SchedulerBusyError || code === "SLUICE_STORE_CORRUPT" || code === "SLUICE_BAD_OPTION") throw new CliError((err as Error).message);
        throw err;
      });
      process.off("SIGINT", early);
      process.off("SIGTERM", early);
      if (opts.metricsPort !== undefined) {
        const port = intOption(opts.metricsPort, "--metrics-port", 0);
        const served = await (await import("../../observe/metrics-server.js")).serveMetrics(sluice.metrics, { port }).catch((err: unknown) => {
          void sluice.stop();
          throw new CliError(`--metrics-port ${port}: cannot listen on 127.0.0.1:${port} (${err instanceof Error ? err.message : String(err)}); pick another port, or 0 for any free one`);
        });
        logger.info({ metricsPort: served.port }, `metrics at http://127.0.0.1:${served.port}/metrics`);
      }
      const http = opts.ui ? await startHttp(sluice, opts, logger).catch((err: unknown) => {
        void sluice.stop();
        throw err;
      }) : undefined;
      const view = live ? new (await import("../live-view.js")).LiveView(sluice.scheduler, sluice.config, sluice.store, logFile, { ...(opts.tz !== undefined ? { tz: opts.tz } : {}), ...(http ? { dashboard: http.url } : {}) }) : undefined;
      view?.start();
      let draining: Promise<void> | undefined;
      const drain = (why: string): Promise<void> =>
        (draining ??= (async () => {
          logger.info({ running: sluice.running }, `${why}: stopping; running attempts have ${formatDuration(shutdownMs)} to finish (send the signal again to exit now)`);
          view?.stop(`${why}: draining ${sluice.running} running attempt(s)…`);
          await Promise.all([sluice.stop(), http?.close()]);
          logger.info(`sluice ${name} stopped`);
        })());
      onSignals(drain, () => sluice.isStopping);
      // Logged once the signal handlers are in place: from here a SIGINT/SIGTERM drains (before,
      // it would kill the process at once), so scripts may wait for this line before signalling.
      for (const w of loaded.warnings) logger.warn({ path: w.path }, `config: ${w.path || "(config)"}: ${w.message}`);
      logger.info({ config: loaded.path, store: describeLocation(location), concurrency: sluice.config.worker.concurrency, pipelines: sluice.config.pipelines.map((p) => p.id) }, `sluice ${name} started`);
      sluice.on("error", (err) => {
        const code = (err as { code?: string }).code;
        if (code !== undefined && FATAL_CODES.has(code)) {
          process.exitCode = EXIT.failure;
          process.stderr.write(`sluice: ${err.message}\n`);
          void drain(code === "SLUICE_LEASE_LOST" ? "lease lost" : code === "SLUICE_STORE_GONE" ? "store file gone" : "store unavailable");
        }
      });
      if (runFor !== undefined) setLongTimeout(() => void drain(`--for ${opts.for}`), runFor).unref();
      await sluice.stopped;
      await draining;
      view?.finish(`sluice ${name}`);
      logger.flush();
    });
}

/**
 * The dashboard and API server: `--port`/`SLUICE_PORT` (default 7070), `--host`/`SLUICE_HOST`,
 * `--token`/`SLUICE_TOKEN`. A port given explicitly must be free; the default one, when taken (a
 * second project's `sluice run`), is only warned about, and Sluice runs on without the dashboard.
 */
async function startHttp(sluice: Sluice, opts: RunOptions, logger: Logger): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const [{ serve, SERVE_DEFAULTS }, { CliError }] = await Promise.all([import("../../server/server.js"), import("../errors.js")]);
  const portText = opts.port ?? nonEmpty(process.env.SLUICE_PORT);
  const port = portText !== undefined ? intOption(portText, opts.port !== undefined ? "--port" : "SLUICE_PORT", 0) : SERVE_DEFAULTS.port;
  const host = opts.host ?? nonEmpty(process.env.SLUICE_HOST) ?? SERVE_DEFAULTS.host;
  const token = opts.token ?? nonEmpty(process.env.SLUICE_TOKEN);
  try {
    const served = await serve(sluice, { port, host, ...(token !== undefined ? { token } : {}), logger });
    logger.info({ url: served.url }, `dashboard at ${served.url}${token !== undefined ? "/?token=…" : ""}`);
    return served;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "SLUICE_BAD_OPTION") throw new CliError((err as Error).message);
    const why = code === "EADDRINUSE" ? "it is in use" : code === "EADDRNOTAVAIL" ? "no such address on this machine" : (err as Error).message;
    if (portText === undefined && code === "EADDRINUSE") {
      logger.warn(`dashboard not started: ${host}:${port} is in use (another sluice run?); pass --port <n> (0: any free port), or --no-ui`);
      return undefined;
    }
    throw new CliError(`cannot serve the dashboard on ${host}:${port}: ${why}; pick another --port (0: any free one), or --no-ui`);
  }
}

const nonEmpty = (text: string | undefined): string | undefined => (text === undefined || text.trim() === "" ? undefined : text.trim());
