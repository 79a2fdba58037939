// Runs examples/isolation once and prints each attempt: how it ended and its peak memory.
//
//   npx tsx examples/isolation/run.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "sluice";
import config from "./sluice.config.js";

const sluice = await start({
  config,
  // Isolated tasks are loaded again from this file in their thread or child process.
  configFile: new URL("./sluice.config.ts", import.meta.url),
  db: join(mkdtempSync(join(tmpdir(), "sluice-isolation-")), "s.db"),
  timeoutGrace: "1s",
  logLevel: "warn",
});
const run = await sluice.waitForRun(await sluice.trigger("nightly_import"));
console.log(`run ${run.id}: ${run.state}`);
const isolation = new Map(sluice.config.pipelines[0]!.tasks.map((t) => [t.id, t.isolation ?? "inline"]));
for (const a of (await sluice.listAttempts({ runId: run.id })).reverse()) {
  const peak = a.peakMemoryBytes === null ? "-" : `${(a.peakMemoryBytes / 1024 / 1024).toFixed(1)} MB`;
  console.log(`  ${a.task.padEnd(18)} ${(isolation.get(a.task) ?? "").padEnd(8)} ${a.state.padEnd(10)} peak ${peak.padEnd(9)} ${a.error ? `${a.error.code}: ${a.error.message}` : ""}`);
}
await sluice.stop();
