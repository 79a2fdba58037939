// A partner API that allows 100 calls a minute (10 at once) and a disk shared by exports: one
// budget for the whole installation — on PostgreSQL shared by the scheduler and every
// `sluice worker`, on the embedded store by the one `sluice run` process.
//
//   npx sluice run examples/rate-limits/sluice.config.ts --db file:/tmp/rate.db
//   npx sluice explain <run> -c examples/rate-limits --db …   # "rate limit partner_api: needs 1 token(s), … next token in ~600ms"
//   npx sluice simulate examples/rate-limits/sluice.config.ts --until 5m
//   curl -s localhost:9464/metrics | grep -E 'sluice_(rate_limit|bandwidth)'   # with --metrics-port 9464
import { createReadStream, createWriteStream, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline as pipe } from "node:stream/promises";
import { defineConfig, pipeline } from "sluice";

const sync = pipeline("partner_sync", { schedule: { every: "1m" } });
for (let shard = 0; shard < 12; shard++) {
  // One token at admission (the listing call), then one per page inside the task.
  sync.task(`pull_${shard}`, { rate: { partner_api: 1 }, estimate: "2s" }, async (ctx) => {
    let pages = 0;
    for (let page = 0; page < 1; page++) {
      await ctx.take("partner_api");
      pages++; // await fetch(`https://partner.example/orders?shard=${shard}&page=${page}`)
    }
    ctx.log.info("pulled", { shard, pages });
    return { pages };
  });
}

const exports = pipeline("exports");
for (const table of ["orders", "customers"]) {
  exports.task(`export_${table}`, async (ctx) => {
    const source = join(tmpdir(), `sluice-example-${table}.csv`);
    writeFileSync(source, "id,value\n".repeat(200_000)); // ~1.8 MB
    // Both exports share disk_io: together they read at most 1 MB/s.
    await pipe(ctx.throttle(createReadStream(source), "disk_io"), createWriteStream(`${source}.copy`));
    return { table };
  });
}

export default defineConfig({
  rateLimits: { partner_api: { limit: 100, per: "1m", burst: 10, description: "partner.example's documented quota" } },
  bandwidth: { disk_io: { bytesPerSecond: "1MB" } },
  pipelines: [sync, exports],
});
