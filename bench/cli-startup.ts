// Cold start of the CLI: how long `sluice --help`, `sluice --version`, `sluice runs`, and the
// commands that load a config (`inspect`, `trigger -c`) take from process start to exit, each run
// in a fresh Node process (no module cache carried over), and the CPU each uses (all its threads:
// V8's background compilers, tsx's loader thread).
//
//   npx tsx bench/cli-startup.ts [path/to/bin/sluice.js]     (default: this repository's, after `npm run build`)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { machine, recordSection } from "./report.js";

const bin = process.argv[2] ?? fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
// The quickstart config beside the measured bin (another checkout's, when one is given).
const config = join(dirname(bin), "../examples/quickstart/sluice.config.ts");
const dir = mkdtempSync(join(tmpdir(), "sluice-cold-"));
const db = join(dir, "s.db");
const ROUNDS = 15;

/** CPU used by this process's waited-for children so far, in ms (Linux: /proc/self/stat cutime + cstime). */
function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /, "").split(" ");
  // After "pid (comm) ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100; // clock ticks at 100 Hz
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function time(args: string[]): { median: number; p90: number; cpu: number } {
  const samples: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < ROUNDS + 2; i++) {
    const c0 = childrenCpuMs();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, stdio: "ignore" });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`sluice ${args.join(" ")} exited ${r.status}`);
    if (i >= 2) {
      // the first two warm the OS file cache and tsx's compile cache
      samples.push(ms);
      cpu.push(childrenCpuMs() - c0);
    }
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] as number, p90: samples[Math.floor(samples.length * 0.9)] as number, cpu: median(cpu) };
}

// `runs` on an empty store: created once (`sluice migrate`), so every timed run only reads.
if (spawnSync(process.execPath, [bin, "migrate", "--db", db], { cwd: dir, stdio: "ignore" }).status !== 0) throw new Error(`sluice migrate --db ${db} failed`);
const node = (() => {
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ["-e", "0"], { stdio: "ignore" });
    samples.push(performance.now() - t0);
  }
  return median(samples);
})();
const commands = ["--help", "--version", `runs --db ${db}`, `inspect ${config}`, `trigger daily_sales -c ${config} --db ${db}`];
const rows = commands.map((cmd) => ({ cmd: cmd.replace(db, "<store>").replace(config, "examples/quickstart/sluice.config.ts"), ...time(cmd.split(" ")) }));
rmSync(dir, { recursive: true, force: true });

const body = `Recorded ${new Date().toISOString().slice(0, 10)} on ${machine()} (load average ${loadavg()[0]?.toFixed(2)}).

Method: each command run ${ROUNDS} times (after 2 unmeasured runs) in a fresh \`node\` process, timed from
spawn to exit; median and 90th percentile of the wall time, and the median CPU time of the process with all its
threads (user + system, from \`/proc/self/stat\`'s children times, 10 ms resolution). \`node -e 0\` alone takes ${node.toFixed(0)} ms here.
Before (commit 4727db2, the CLI compiled from TypeScript through tsx on every start), measured
the same way on 2026-11-25 on this machine with other work running (load ≈ 3): \`--help\` 656 ms,
\`--version\` 707 ms, \`runs\` 695 ms (the issue measured ≈ 1.1 s on a quieter run). Pass that
commit's \`bin/sluice.js\` as the argument to measure it again.
Commands that load a config compile it with tsx (its loader runs on a thread of its own) and check it with zod; V8's
optimizing compiler is off until the config is loaded (\`src/cli/startup.ts\`, commit 8033ceb). This bench on 2026-12-05,
run with the bin of the commit before it (a3258c5) and after it, alternately, twice each: CPU of \`inspect\` 760–910 →
640–650 ms, of \`trigger -c\` 810–990 → 660–690 ms; wall times the same within the runs' spread (595–787 ms); the
commands that load no config unchanged.

| command | median | p90 | CPU (median) |
|---|---|---|---|
${rows.map((r) => `| \`sluice ${r.cmd}\` | ${r.median.toFixed(0)} ms | ${r.p90.toFixed(0)} ms | ${r.cpu.toFixed(0)} ms |`).join("\n")}
`;
process.stdout.write(`${body}\n`);
if (process.argv[2] === undefined) recordSection("## CLI cold start (bench/cli-startup.ts)", body);
