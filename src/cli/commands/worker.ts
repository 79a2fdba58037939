import { hostname } from "node:os";
import type { Command } from "commander";
import { setLongTimeout } from "../../worker/long-timeout.js";
import { configArg, durationOption, intOption, withConfig, withDb, withJson, withLogLevel, type LogOption, type StoreOption } from "../options.js";
import { onSignals, timeoutGraceFromEnv } from "./run.js";

interface WorkerOptions extends StoreOption, LogOption {
  queue?: string;
  concurrency?: string;
  prefetch?: string;
  memoryMb?: string;
  name?: string;
  leaseTtl: string;
  shutdownTimeout: string;
  for?: string;
  metricsPort?: string;
}

export function registerWorker(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run tasks the scheduler dispatches to this worker's queues (PostgreSQL: --db postgres://…)")
    .argument("[config]", "config file (same as -c): the task functions this worker runs");
  withConfig(cmd);
  withDb(cmd);
  withLogLevel(cmd)
    .option("--queue <names>", "queues to serve, comma-separated (default: default)")
    .option("--concurrency <n>", "attempts run at once (default: the config's worker.concurrency)")
    .option("--prefetch <n>", "attempts taken ahead of free slots, queued here and started the moment a slot frees: for many short tasks (they hold their pools while queued)", "0")
    .option("--memory-mb <mb>", "budget for tasks' declared memory; a task is taken only when it fits (default: the config's worker.memoryMb, else 75% of this host's memory or its cgroup limit)")
    .option("--name <name>", "unique among the store's workers (default: host:pid)")
    .option("--lease-ttl <duration>", "an attempt of a worker silent this long is retried elsewhere; heartbeats every third of it", "15s")
    .option("--shutdown-timeout <duration>", "on SIGINT/SIGTERM, how long running attempts may finish before they are aborted and handed back", "30s")
    .option("--for <duration>", "stop gracefully after this long (demos, tests)")
    .option("--metrics-port <port>", "serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0: any free port, logged)")
    .action(async (file: string | undefined, opts: WorkerOptions) => {
      (await import("../heap.js")).boundHeapGrowth();
      const [{ loadConfig }, { storeFrom }, { WorkerProcess }, { createLogger, taskLoggerFrom }, { CliError }, { isWorkerStore }, stored] = await Promise.all([
        import("../load-config.js"),
        import("../context.js"),
        import("../../worker/remote-worker.js"),
        import("../../observe/logger.js"),
        import("../errors.js"),
        import("../../store/types.js"),
        import("../../define/stored.js"),
      ]);
      const named = { ...opts, config: configArg(file, opts) };
      const loaded = await loadConfig({ file: named.config });
      const config = loaded.config;
      const queues = (opts.queue ?? "default").split(",").map((q) => q.trim()).filter((q) => q !== "");
      if (queues.length === 0) throw new CliError(`--queue: "${opts.queue}" names no queue; e.g. --queue etl,default`);
      const slots = opts.concurrency !== undefined ? intOption(opts.concurrency, "--concurrency") : config.worker.concurrency;
      const prefetch = intOption(opts.prefetch ?? "0", "--prefetch", 0);
      const memoryMb = opts.memoryMb !== undefined ? intOption(opts.memoryMb, "--memory-mb") : (config.worker.memoryMb ?? (await import("../../worker/memory-budget.js")).defaultMemoryBudgetMb());
      const leaseTtlMs = await durationOption(opts.leaseTtl, "--lease-ttl");
      const shutdownMs = await durationOption(opts.shutdownTimeout, "--shutdown-timeout");
      const runFor = opts.for !== undefined ? await durationOption(opts.for, "--for") : undefined;
      const logger = createLogger({ ...(opts.logLevel ? { level: opts.logLevel } : {}) });
      const served = new Set(config.pipelines.flatMap((p) => p.tasks.map((t) => t.queue)));
      const unknown = queues.filter((q) => !served.has(q));
      if (unknown.length > 0) logger.warn({ queues: unknown }, `no task of ${loaded.path} runs on queue ${unknown.join(", ")}; this worker will take nothing from it`);

      const store = await storeFrom(named);
      if (!isWorkerStore(store)) {
        await store.close();
        throw new CliError(`sluice worker needs a store it can share with the scheduler; the ${store.kind} store is not one: use PostgreSQL (--db postgres://…), or sluice run for one process`);
      }
      const mine = stored.definitionsOf(config);
      const theirs = await store.loadDefinitions();
      const differ = theirs ? stored.differingTasks(mine, theirs.config as ReturnType<typeof stored.definitionsOf>) : [];
      for (const d of differ) logger.warn({ task: d.task }, `${d.task}: not taken by this worker: its definition differs from the scheduler's (${d.why}); deploy the same config to both`);
      const name = opts.name ?? `${hostname()}:${process.pid}`;
      const grace = timeoutGraceFromEnv().timeoutGrace;
      const { TaskLogSink } = await import("../../observe/task-logs.js");
      const taskLogs = new TaskLogSink(store, (err) => logger.warn({ err }, "could not store ctx.log lines"));
      const worker = new WorkerProcess({
        config,
        store,
        name,
        host: hostname(),
        queues,
        slots,
        prefetch,
        memoryMb,
        fingerprint: stored.fingerprintOf(mine),
        avoid: differ.map((d) => d.task),
        leaseTtlMs,
        taskLogger: taskLoggerFrom(logger, taskLogs),
        taskLogs,
        ...(grace !== undefined ? { timeoutGraceMs: grace } : {}),
        configPath: loaded.path,
      });
      worker.on("refused", (r) => logger.warn(r, r.reason));
      const logError = (await import("../../observe/throttle.js")).throttledErrors(logger);
      worker.on("error", logError);
      worker.on("retrying", ({ error }) => logError(new Error(`the store is unreachable (${error.message}); results are kept and retried`)));
      worker.on("disconnected", ({ error }) => logger.error({ err: error }, `lost the store for longer than the lease (${opts.leaseTtl}): running attempts were aborted (they are retried elsewhere); taking no work until it answers`));
      worker.on("reconnected", ({ downMs }) => logger.info({ downMs }, "the store answers again; taking work"));
      const metrics = (await import("../../observe/metrics.js")).attachWorkerMetrics(worker);
      if (opts.metricsPort !== undefined) {
        const served = await (await import("../../observe/metrics-server.js")).serveMetrics(metrics, { port: intOption(opts.metricsPort, "--metrics-port", 0) });
        logger.info({ metricsPort: served.port }, `metrics at http://127.0.0.1:${served.port}/metrics`);
      }
      // Signals are handled from before the worker registers: work may be given to it, and start,
      // the moment it does; a SIGTERM then must drain it, not kill it mid-task.
      const starting = worker.start();
      let draining: Promise<void> | undefined;
      const drain = (why: string): Promise<void> =>
        (draining ??= (async () => {
          logger.info({ running: worker.runningCount }, `${why}: stopping; running attempts have ${opts.shutdownTimeout} to finish (send the signal again to exit now)`);
          if (!(await starting.then(() => true, () => false))) return;
          await worker.stop(Date.now() + shutdownMs);
          await store.close();
          logger.info("sluice worker stopped");
        })());
      onSignals(drain);
      try {
        await starting;
      } catch (err) {
        await store.close();
        throw new CliError(err instanceof Error ? err.message : String(err));
      }
      if (!draining) logger.info({ name, queues, slots, prefetch, memoryMb, config: loaded.path }, "sluice worker started");
      if (runFor !== undefined) setLongTimeout(() => void drain(`--for ${opts.for}`), runFor).unref();
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (draining) {
            clearInterval(check);
            void draining.then(resolve);
          }
        }, 100);
      });
      logger.flush();
    });

  const list = program.command("workers").description("list the worker processes of a store: queues, slots in use, declared memory in use of its budget, last heartbeat");
  withConfig(list);
  withDb(list);
  withJson(list).action(async (opts: StoreOption & { json?: boolean }) => {
    const [{ storeFrom }, { isWorkerStore }, { CliError }, { table }] = await Promise.all([import("../context.js"), import("../../store/types.js"), import("../errors.js"), import("../format.js")]);
    const store = await storeFrom(opts, { readonly: true });
    try {
      if (!isWorkerStore(store)) throw new CliError(`the ${store.kind} store has no worker processes: sluice run runs every task in its own process`);
      const workers = await store.listWorkers();
      const running = await store.listAttempts({ limit: 10_000 });
      const now = Date.now();
      const rows = workers.map((w) => {
        const mine = running.filter((a) => a.state === "running" && a.workerId === w.name);
        // What its attempts declared of their queue's memory (as admission counts it against the budget).
        const memoryUsedMb = mine.reduce((sum, a) => sum + (a.resources.find((r) => r.key.startsWith("memory:"))?.amount ?? 0), 0);
        return { ...w, running: mine.map((a) => `${a.pipeline}.${a.task} (run ${a.runId})`), memoryUsedMb, state: w.stoppedAt !== null ? "stopped" : now - w.heartbeatAt > 15_000 ? "silent" : (w.drainingAt ?? null) !== null ? "stopping" : "live" };
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows) + "\n");
        return;
      }
      if (rows.length === 0) {
        process.stdout.write("no workers have registered with this store (start one: sluice worker --db …)\n");
        return;
      }
      process.stdout.write(
        table([
          ["name", "state", "queues", "slots", "memory", "last heartbeat", "running"],
          ...rows.map((r) => [r.name, r.state, r.queues.join(","), `${r.running.length}/${r.slots}${r.prefetch > 0 ? ` +${r.prefetch} prefetch` : ""}`, r.memoryMb === null ? (r.memoryUsedMb > 0 ? `${r.memoryUsedMb} MB, no budget` : "-") : `${r.memoryUsedMb}/${r.memoryMb} MB`, `${Math.round((now - r.heartbeatAt) / 1000)}s ago`, r.running.join(", ")]),
        ]) + "\n",
      );
    } finally {
      await store.close();
    }
  });
}
