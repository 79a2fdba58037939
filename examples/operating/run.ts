// The operating verbs from code: backfill a week, pause and resume, retry a failed run once the
// data is fixed, mark a task by hand.
//
//   npx tsx examples/operating/run.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, pipeline, start } from "sluice";
import base from "./sluice.config.js";

let dataFixed = false;
const imports = pipeline("imports");
const fetch = imports.task("fetch", () => ({ files: 3 }));
imports.task("parse", { dependsOn: [fetch] }, () => {
  if (!dataFixed) throw new Error("file 2 is malformed");
});

const config = defineConfig({ ...base, pipelines: [...base.pipelines, imports] });
const sluice = await start({ config, db: join(mkdtempSync(join(tmpdir(), "sluice-operating-")), "s.db"), logLevel: "warn" });

const week = await sluice.backfill("nightly", { from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-11-07T23:59:59Z"), maxActive: 2 });
for (const id of week) console.log(`backfill run ${id}: ${(await sluice.waitForRun(id)).state}`);
console.log(`backfilling again creates ${(await sluice.backfill("nightly", { from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-11-07T23:59:59Z") })).length} runs`);

console.log(`paused: ${await sluice.pause("nightly")}, resumed: ${await sluice.resume("nightly")}`);

const failed = await sluice.waitForRun(await sluice.trigger("imports"));
console.log(`imports run ${failed.id}: ${failed.state}`);
dataFixed = true;
await sluice.retry(failed.id);
console.log(`after retry: ${(await sluice.waitForRun(failed.id)).state}`);

dataFixed = false;
const again = await sluice.waitForRun(await sluice.trigger("imports"));
await sluice.mark(again.id, "parse", "success");
console.log(`run ${again.id} marked by hand: ${(await sluice.getRun(again.id))?.state}`);
await sluice.stop();
