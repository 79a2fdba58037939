// Cold start of the CLI: how long `sluice --help`, `sluice --version` and `sluice runs` take from
// process start to exit, each run in a fresh Node process (no module cache carried over).
//
//   npx tsx bench/cli-startup.ts [path/to/bin/sluice.js]     (default: this repository's, after `npm run build`)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { machine, recordSection } from "./report.js";

const bin = process.argv[2] ?? fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sluice-cold-"));
const db = join(dir, "s.db");
const ROUNDS = 15;

function time(args: string[]): { median: number; p90: number } {
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS + 2; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, stdio: "ignore" });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`sluice ${args.join(" ")} exited ${r.status}`);
    if (i >= 2) samples.push(ms); // the first two warm the OS file cache
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] as number, p90: samples[Math.floor(samples.length * 0.9)] as number };
}

// `runs` on an empty store: create it once so every timed run only reads.
spawnSync(process.execPath, [bin, "runs", "--db", db], { cwd: dir, stdio: "ignore" });
const node = (() => {
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ["-e", "0"], { stdio: "ignore" });
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)] as number;
})();
const rows = (["--help", "--version", `runs --db ${db}`] as const).map((cmd) => ({ cmd: cmd.replace(db, "<store>"), ...time(cmd.split(" ")) }));
rmSync(dir, { recursive: true, force: true });

const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()} (load average ${loadavg()[0]?.toFixed(2)}).

Method: each command run ${ROUNDS} times (after 2 unmeasured runs) in a fresh \`node\` process, timed from
spawn to exit; median and 90th percentile. \`node -e 0\` alone takes ${node.toFixed(0)} ms here.
Before (commit 4727db2, the CLI compiled from TypeScript through tsx on every start), measured
the same way on 2026-11-25 on this machine with other work running (load ≈ 3): \`--help\` 656 ms,
\`--version\` 707 ms, \`runs\` 695 ms (the issue measured ≈ 1.1 s on a quieter run). Pass that
commit's \`bin/sluice.js\` as the argument to measure it again.

| command | median | p90 |
|---|---|---|
${rows.map((r) => `| \`sluice ${r.cmd}\` | ${r.median.toFixed(0)} ms | ${r.p90.toFixed(0)} ms |`).join("\n")}
`;
process.stdout.write(`${body}\n`);
if (process.argv[2] === undefined) recordSection("## CLI cold start (bench/cli-startup.ts)", body);
