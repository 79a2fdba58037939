// pg-refresh: the seed scenario of issue 9 — a writer and a dashboard sharing one table. Every
// minute a pipeline rebuilds a 1,000,000-row table on the local PostgreSQL with `ctx.pg().load`
// (sluice/pg's `load`, mode "swap": COPY into a shadow table, then a rename under lock_timeout),
// while reader.ts polls it every 50 ms and prints its latency. See README.md in this folder.
//
//   npx sluice run examples/pg-refresh/sluice.config.ts
//   npx tsx examples/pg-refresh/reader.ts          # in another terminal
import { defineConfig, pipeline } from "sluice";
import type { PgLoadEvent } from "sluice/pg";

const MODE = (process.env.PG_REFRESH_MODE ?? "swap") as "swap" | "replace";

const refresh = pipeline("pg_refresh", { schedule: { every: "1m" }, description: "rebuild public.dashboard_totals (1M rows) without blocking its readers" });

// One slot of warehouse_db: one connection at a time from `ctx.pg`, named
// `sluice:pg_refresh/<run>/rebuild` in pg_stat_activity and `sluice pg blockers`.
refresh.task("rebuild", { pools: { warehouse_db: 1 }, memoryMb: 256, retries: 1, estimate: "10s" }, async (ctx) => {
  const db = ctx.pg(); // the only database declared below
  await db.query("CREATE TABLE IF NOT EXISTS public.dashboard_totals (id int PRIMARY KEY, total bigint NOT NULL, label text NOT NULL)");
  const stamp = ctx.scheduledFor.getTime() % 1000;
  function* rows(): Generator<[number, number, string]> {
    for (let i = 1; i <= 1_000_000; i++) yield [i, i * 7 + stamp, `row ${i}`];
  }
  const r = await db.load("public.dashboard_totals", rows(), {
    mode: MODE,
    columns: ["id", "total", "label"],
    lockTimeoutMs: 1000,
    onEvent: (e: PgLoadEvent) => {
      if (e.type === "retry") ctx.log.warn("lock conflict, retrying", { step: e.step, code: e.code, blockers: e.blockers.map((b) => `${b.pid} ${b.applicationName} ${b.state}`) });
      if (e.type === "warning") ctx.log.warn(e.message);
    },
  });
  ctx.log.info("refreshed", { ...r });
  return r;
});

export default defineConfig({
  pools: { warehouse_db: { slots: 2, description: "connections to the local PostgreSQL" } },
  databases: {
    // PG_REFRESH_URL if set, else the local server.
    warehouse: { url: process.env.PG_REFRESH_URL ?? "postgres://postgres@127.0.0.1:5432/test", pool: "warehouse_db", maxLifetime: "10m" },
  },
  pipelines: [refresh],
});
