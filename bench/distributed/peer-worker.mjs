// One worker process of a peer queue for bench/distributed.ts, at its best documented settings.
import process from "node:process";
import { URL } from "node:url";
//   node peer-worker.mjs <graphile|pgboss|bullmq> <connection> <concurrency>
// Every job reports its start to the bench over IPC when it carries an id (latency runs).
const [system, connection, concurrencyText] = process.argv.slice(2);
const concurrency = Number(concurrencyText);
const report = (payload) => {
  if (payload && payload.id !== undefined) process.send?.({ started: Date.now(), id: payload.id });
};
let stop;
if (system === "graphile") {
  const { run } = await import("graphile-worker");
  const runner = await run({
    connectionString: connection,
    concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList: { noop: async (payload) => report(payload) },
    // graphile-worker's documented high-throughput settings (worker.graphile.org/docs/performance).
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0, maxPoolSize: concurrency + 1 } },
    logger: new (await import("graphile-worker")).Logger(() => () => undefined),
  });
  stop = () => runner.stop();
} else if (system === "pgboss") {
  const { default: PgBoss } = await import("pg-boss");
  const boss = new PgBoss({ connectionString: connection, schema: "bench_pgboss", max: concurrency + 2, supervise: false, schedule: false, migrate: false });
  boss.on("error", () => undefined);
  await boss.start();
  // batchSize = concurrency: each fetch takes a batch, run concurrently; the shortest polling interval.
  await boss.work("noop", { batchSize: concurrency, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    await Promise.all(jobs.map(async (j) => report(j.data)));
  });
  stop = () => boss.stop({ graceful: false, wait: true });
} else if (system === "bullmq") {
  const { Worker } = await import("bullmq");
  const url = new URL(connection);
  const worker = new Worker("noop", async (job) => report(job.data), {
    connection: { host: url.hostname, port: Number(url.port || 6379) },
    concurrency,
    removeOnComplete: { count: 0 },
  });
  stop = () => worker.close();
} else {
  throw new Error(`unknown system ${system}`);
}
process.send?.({ ready: true });
process.on("message", async (m) => {
  if (m === "stop") {
    await stop();
    process.exit(0);
  }
});
