// Rate limits and bandwidth from code: twelve tasks share the partner API's budget (at admission
// and per call), two exports share the disk's; `explain` says who waits for which token.
//
//   npx tsx examples/rate-limits/run.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "sluice";
import config from "./sluice.config.js";

const sluice = await start({ config, db: join(mkdtempSync(join(tmpdir(), "sluice-rate-")), "s.db"), logLevel: "warn", schedules: false });
const began = Date.now();
const sync = await sluice.trigger("partner_sync");
await new Promise((r) => setTimeout(r, 200));
// The burst (10) admits ten at once; the other two wait for tokens.
for (const e of sluice.explain(sync)) {
  for (const r of e.reasons) if (r.kind === "rate") console.log(`${e.task} waits: ${r.need} token(s) of ${r.name}, ${r.available} available, next in ~${Math.max(0, (r.nextTokenAt ?? Date.now()) - Date.now())} ms`);
}
console.log(`partner_sync: ${(await sluice.waitForRun(sync)).state} in ${Date.now() - began} ms (24 calls; 10 at once, then one every 600 ms)`);

const t0 = Date.now();
const copies = await sluice.trigger("exports");
console.log(`exports: ${(await sluice.waitForRun(copies)).state} in ${Date.now() - t0} ms (3.6 MB through 1 MB/s)`);
const metrics = (await sluice.metrics.metrics()).split("\n").filter((l) => /^sluice_(rate_limit_tokens_total|bandwidth_bytes_total)/.test(l));
console.log(metrics.join("\n"));
await sluice.stop();
