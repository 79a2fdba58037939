// Rate limits and bandwidth across processes, over more than a minute: 1 scheduler + 3
// `sluice worker` processes on PostgreSQL; 6 tasks take tokens of `partner_api` (100 a minute,
// burst 10) as fast as it gives them, 4 tasks stream through `disk_io` (1 MB/s) at once.
// Reports how close to the budget every window stays (the test suite checks the same over ~6 s).
//
//   npx tsx bench/rate-limits.ts      (after npm run build; records its section in BENCHMARKS.md)
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { machine, recordSection } from "./report.js";

const PG = process.env.SLUICE_BENCH_DATABASE_URL ?? process.env.SLUICE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SECONDS = Number(process.env.SECONDS_RUN ?? 75);
const BIN = fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
const CONFIG = fileURLToPath(new URL("./rate-limits/sluice.config.ts", import.meta.url));
const SCHEMA = "bench_rate";
const url = (() => {
  const u = new URL(PG);
  u.searchParams.set("schema", SCHEMA);
  return u.toString();
})();
const EMISSION_MS = 600;
const BURST = 10;
const BYTES_PER_SECOND = 1_000_000;

const dir = mkdtempSync(join(tmpdir(), "sluice-bench-rate-"));
const observe = join(dir, "observations.jsonl");
writeFileSync(observe, "");

async function dropSchema(): Promise<void> {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await c.end();
}

function start(args: string[], env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args, "--db", url], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      if (out.includes(`"sluice ${args[0]} started"`)) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`sluice ${args.join(" ")} exited with ${code}`)));
  });
}

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args, "--db", url], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sluice ${args.join(" ")}: ${r.stderr}`);
}

/** Largest excess over `burst + window / emission` of any window between two grants, and the most tokens in any `span` ms. */
function windows(times: number[], span: number): { excess: number; inSpan: number } {
  const t = [...times].sort((a, b) => a - b);
  let excess = -Infinity;
  let inSpan = 0;
  let lo = 0;
  for (let j = 0; j < t.length; j++) {
    while (t[j]! - t[lo]! > span) lo++;
    inSpan = Math.max(inSpan, j - lo + 1);
    for (let i = 0; i <= j; i++) excess = Math.max(excess, j - i + 1 - (BURST + (t[j]! - t[i]!) / EMISSION_MS));
  }
  return { excess, inSpan };
}

await dropSchema();
cli(["migrate"]);
const until = Date.now() + 15_000 + SECONDS * 1000;
const env = { BENCH_UNTIL: String(until), BENCH_OBSERVE: observe };
const scheduler = await start(["scheduler", CONFIG], env);
const workers = await Promise.all([1, 2, 3].map((n) => start(["worker", CONFIG, "--name", `w${n}`], env)));
cli(["trigger", "calls", "-c", CONFIG]);
cli(["trigger", "copies", "-c", CONFIG]);
const load = loadavg()[0]!;
await new Promise((r) => setTimeout(r, until - Date.now() + 3000));
for (const p of [...workers, scheduler]) p.kill("SIGTERM");
await Promise.all([...workers, scheduler].map((p) => new Promise((r) => p.once("exit", r))));
await dropSchema();

const obs = readFileSync(observe, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { kind: string; t?: number; at?: number; bytes?: number; pid: number });
const takes = obs.filter((o) => o.kind === "take").map((o) => o.at!);
const admitted = obs.filter((o) => o.kind === "admitted").map((o) => o.t!);
const all = [...takes, ...admitted];
const span = Math.max(...all) - Math.min(...all);
const rate = windows(all, 60_000);
const bodyOnly = windows(takes, 60_000);
const pids = new Set(obs.filter((o) => o.kind === "take").map((o) => o.pid)).size;
const bytes = obs.filter((o) => o.kind === "bytes");
const first = Math.min(...bytes.map((o) => o.t!));
const last = Math.max(...bytes.map((o) => o.t!));
const total = bytes.reduce((s, o) => s + o.bytes!, 0);
const perSecond = total / ((last - first) / 1000);
let worstSecond = 0;
{
  const sorted = [...bytes].sort((a, b) => a.t! - b.t!);
  let lo = 0;
  let sum = 0;
  for (const b of sorted) {
    sum += b.bytes!;
    while (b.t! - sorted[lo]!.t! > 1000) sum -= sorted[lo++]!.bytes!;
    worstSecond = Math.max(worstSecond, sum);
  }
}
const body = `
\`npx tsx bench/rate-limits.ts\` (\`SECONDS_RUN\` env, default 75), ${machine()}, PostgreSQL 127.0.0.1,
load average ${load.toFixed(1)} at start, ${new Date().toISOString().slice(0, 10)}. One run.

Method: 1 \`sluice scheduler\` + 3 \`sluice worker\` processes (4 slots each) on one PostgreSQL
schema. Pipeline \`calls\`: 6 tasks, each with \`rate: { partner_api: 1 }\` (a token at admission),
then \`ctx.take("partner_api")\` in a loop until ${SECONDS + 15} s after the processes are up; \`partner_api\` is
\`{ limit: 100, per: "1m", burst: 10 }\` (a token every 600 ms). Each in-body take records the
decision time the budget returns (the database's clock); admission tokens count when the task
starts on its worker. Pipeline \`copies\`, at the same time: 4 tasks stream 64 KiB chunks through
\`ctx.throttle(stream, "disk_io")\`, \`disk_io\` = \`{ bytesPerSecond: "1MB" }\` (burst 100 kB), each
piece recorded when the consuming loop receives it. GCRA allows at most \`burst + window / 600 ms\`
tokens in any window.

Reading the figures: token decisions are exact (the database's clock), so windows between them
never exceed the budget; admission tokens are timed when their task starts, after the decision
by the dispatch delay, which is all the excess above 0 can be. Bytes are timed by the consumer, after the pipe: event-loop
delays bunch pieces together, so the worst 1 s window can read slightly above budget + burst while
the average over the run is the budget itself. Worker processes claim up to 4 tasks each, so the 6
call tasks may land on 2 of the 3 workers.

| figure | value |
| --- | ---: |
| tokens taken (admission + \`ctx.take\`), processes taking them | ${all.length} over ${(span / 1000).toFixed(1)} s, ${pids} worker processes |
| most tokens in any 60 s window (budget: 10 + 100 = 110) | ${rate.inSpan} |
| worst excess over \`burst + window/emission\`, any window, all tokens | ${rate.excess.toFixed(2)} token(s) |
| same, \`ctx.take\` decisions only (database clock) | ${bodyOnly.excess.toFixed(2)} token(s) |
| bytes through \`disk_io\` from 4 streams | ${(total / 1e6).toFixed(1)} MB over ${((last - first) / 1000).toFixed(1)} s |
| average rate (budget 1,000,000 B/s) | ${Math.round(perSecond).toLocaleString("en-US")} B/s (${((perSecond / BYTES_PER_SECOND) * 100).toFixed(1)}%) |
| most bytes in any 1 s window (budget 1,000,000 + burst 100,000) | ${worstSecond.toLocaleString("en-US")} |
`;
console.log(body);
recordSection("## Rate limits and bandwidth across processes (bench/rate-limits.ts)", body);
