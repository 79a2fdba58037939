// What one `sluice trigger` / `sluice cancel` costs from another terminal while a scheduler runs,
// with few or many runs active (issue 7, item 17: it must not grow with the active state).
//
//   npx tsx bench/trigger-cost.ts        (after `npm run build`: it runs the compiled CLI)
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { defineConfig, pipeline, start } from "../src/index.js";
import { machine, recordSection } from "./report.js";

const BIN = fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
const ROUNDS = 9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function measure(active: number): Promise<{ trigger: number; cancel: number }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-trigger-cost-"));
  // The CLI needs only --db: it reads the definitions the scheduler records.
  writeFileSync(join(dir, "package.json"), "{}");
  const busy = pipeline("busy", { maxActiveRuns: 100_000 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  busy.task("hold", { pools: { one: 1 } }, () => gate);
  const quick = pipeline("quick", { maxActiveRuns: 100_000 });
  quick.task("ping", { pools: { one: 1 } }, () => undefined);
  const config = defineConfig({ parallelism: 100_000, pools: { one: { slots: 1 } }, pipelines: [busy, quick] });
  const db = join(dir, "s.db");
  const sluice = await start({ config, db, schedules: false, logger: false });
  // `active` runs: one holds the only slot of `one`, the others wait for it (queued or ready).
  for (let i = 0; i < active; i++) await sluice.trigger("busy");
  // Asynchronously: the scheduler answering the CLI runs in this process's event loop.
  const exec = promisify(execFile);
  const run = async (args: string[]) => {
    const t0 = performance.now();
    const r = await exec(process.execPath, [BIN, ...args, "--db", db], { cwd: dir, encoding: "utf8" });
    return { ms: performance.now() - t0, out: r.stdout };
  };
  const triggers: number[] = [];
  const cancels: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = await run(["trigger", "quick", "--json"]);
    triggers.push(t.ms);
    const id = (JSON.parse(t.out) as { id: number }).id;
    cancels.push((await run(["cancel", String(id)])).ms);
  }
  release();
  await sluice.stop({ timeout: "5s" });
  rmSync(dir, { recursive: true, force: true });
  return { trigger: median(triggers), cancel: median(cancels) };
}

const rows: Array<[number, { trigger: number; cancel: number }]> = [];
for (const n of [100, 10_000, 100_000]) rows.push([n, await measure(n)]);
const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()} (load average ${loadavg()[0]?.toFixed(2)}).

Method: a scheduler (\`start()\`, schedules off) with N active runs — one holds the only slot of a
pool, the other N − 1 wait for it — and the compiled CLI run from another process with only \`--db\`:
\`sluice trigger quick --json\` then \`sluice cancel <that run>\`, ${ROUNDS} times each; median wall time
from spawn to exit (Node's start included). The CLI asks the running scheduler through the store's
inbox and never rebuilds its state, so the cost does not follow N.

| active runs | trigger (median) | cancel (median) |
|---|---|---|
${rows.map(([n, r]) => `| ${n.toLocaleString("en-US")} | ${r.trigger.toFixed(0)} ms | ${r.cancel.toFixed(0)} ms |`).join("\n")}
`;
process.stdout.write(`${body}\n`);
recordSection("## Trigger and cancel cost (bench/trigger-cost.ts)", body);
