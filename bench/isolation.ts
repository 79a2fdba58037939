// What isolation costs per attempt: the same no-op task run inline, in a worker thread and in a
// child process, through the public API of the built package (`sluice` → dist/, as users run it).
// Each isolated attempt starts a thread or process that imports the config again (through tsx) —
// that is the cost measured here; a task's own work comes on top.
//
//   npm run build && npx tsx bench/isolation.ts
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { start, type AttemptRecord } from "sluice";
import config from "./isolation.config.js";
import { machine, recordSection } from "./report.js";

const CONFIG_FILE = new URL("./isolation.config.ts", import.meta.url);
const KINDS = ["inline", "thread", "process"] as const;
const SEQUENTIAL = 12;
const PARALLEL = 16;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MB`;

async function measure(kind: (typeof KINDS)[number]): Promise<{ p50: number; p90: number; peak: number; perSecond: number }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-iso-"));
  const sluice = await start({ config, configFile: CONFIG_FILE, db: join(dir, "s.db"), schedules: false, logger: false });
  try {
    const pipeline = `only_${kind}`;
    // Warm-up: tsx's transform cache, the JIT.
    await sluice.waitForRun(await sluice.trigger(pipeline));
    // One at a time: the latency of one attempt, from its start to its recorded end.
    const ran: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) await sluice.waitForRun(await sluice.trigger(pipeline));
    const attempts: AttemptRecord[] = (await sluice.listAttempts({ pipeline, limit: SEQUENTIAL }));
    for (const a of attempts) ran.push((a.endedAt ?? a.startedAt) - a.startedAt);
    const peaks = attempts.map((a) => a.peakMemoryBytes ?? 0);
    // Two at a time (the worker's concurrency, this machine's cores): attempts per second.
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: PARALLEL }, () => sluice.trigger(pipeline)));
    for (const id of ids) await sluice.waitForRun(id);
    const perSecond = (PARALLEL / (performance.now() - t0)) * 1000;
    return { p50: quantile(ran, 0.5), p90: quantile(ran, 0.9), peak: quantile(peaks, 0.5), perSecond };
  } finally {
    await sluice.stop({ timeout: "10s" });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bare `node -e ""`, median of 5: how fast this machine starts a process right now, to read the figures by. */
function bareNodeMs(): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ["-e", ""]);
    times.push(performance.now() - t0);
  }
  return quantile(times, 0.5);
}

const load = loadavg()[0]?.toFixed(1);
const bare = bareNodeMs();
const rows: string[] = [];
for (const kind of KINDS) {
  const r = await measure(kind);
  const row = `| ${kind} | ${Math.round(r.p50)} ms | ${Math.round(r.p90)} ms | ${mb(r.peak)} | ${r.perSecond.toFixed(r.perSecond < 10 ? 2 : 0)}/s |`;
  console.log(row);
  rows.push(row);
}

recordSection(
  "## Isolation: cost per attempt (bench/isolation.ts)",
  `
Machine: ${machine()}; load average ${load} when it started (other work was running on it); a bare
\`node -e ""\` took ${Math.round(bare)} ms (median of 5) — scale the figures below by it for a quieter machine.

The same no-op task (\`() => 1\`), run ${SEQUENTIAL} times one after another, then ${PARALLEL} at once on a worker of concurrency 2,
through \`start()\` of the built package on SQLite. *Run time* is the attempt's recorded start to its recorded end: for an
isolated attempt, starting the thread or child process, importing the config there (tsx), running the task, reporting back.
*Peak memory* is what the attempt records (median): the RSS of the child process, the heap of the thread, the growth of the
worker's heap inline.

| isolation | run time p50 | run time p90 | peak memory recorded | attempts/s, 2 at once |
|---|---|---|---|---|
${rows.join("\n")}

Method and reading: the cost of an isolated attempt is almost all start-up — a Node process (~40 MB) or thread, tsx and
its loader thread, and the config with \`sluice\` itself imported again (\`importConfig\` alone measured 0.9–1.5 s in a child
on this loaded 2-core machine). It is paid per attempt, whatever the task does: isolate tasks that run for seconds or more
and need their memory enforced or may hang, not the many small ones. A child process's RSS counts all of it, which is why
\`memoryMb\` of a \`process\` task must be at least ${128} MB (checked at load time).
`,
);
