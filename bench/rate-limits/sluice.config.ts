// bench/rate-limits.ts: the rate limit (100 a minute, 10 at once) shared by 6 tasks on 3
// worker processes, and a 1 MB/s disk budget shared by 4 throttled streams, until BENCH_UNTIL.
import { appendFileSync } from "node:fs";
import { Readable } from "node:stream";
import { defineConfig, pipeline } from "sluice";

const until = Number(process.env.BENCH_UNTIL ?? 0);
const out = process.env.BENCH_OBSERVE ?? "";
const note = (line: Record<string, unknown>) => appendFileSync(out, JSON.stringify({ ...line, pid: process.pid }) + "\n");

const calls = pipeline("calls");
for (let i = 0; i < 6; i++) {
  calls.task(`call${i}`, { rate: { partner_api: 1 } }, async (ctx) => {
    note({ kind: "admitted", t: Date.now() });
    while (Date.now() < until) {
      const { at } = await ctx.take("partner_api");
      if (at <= until) note({ kind: "take", at });
    }
  });
}

const copies = pipeline("copies");
for (let i = 0; i < 4; i++) {
  copies.task(`copy${i}`, async (ctx) => {
    const chunk = Buffer.alloc(64 * 1024, i);
    const source = Readable.from((function* () { while (Date.now() < until) yield chunk; })());
    for await (const piece of ctx.throttle(source, "disk_io")) note({ kind: "bytes", t: Date.now(), bytes: (piece as Buffer).length });
  });
}

export default defineConfig({
  worker: { concurrency: 4 },
  rateLimits: { partner_api: { limit: 100, per: "1m", burst: 10 } },
  bandwidth: { disk_io: { bytesPerSecond: "1MB" } },
  pipelines: [calls, copies],
});
