import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";

/** One line naming the machine, for every figure recorded. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpus().length} × ${cpu}, Node ${process.version}, ${process.platform}`;
}

/**
 * Replace (or append) the section starting with `heading` in BENCHMARKS.md, leaving the other
 * benchmarks' sections as they are.
 */
export function recordSection(heading: string, body: string, file = join(process.cwd(), "BENCHMARKS.md")): void {
  const start = "# Benchmarks\n\nFigures recorded by `npm run bench` (each script rewrites its own section). Benchmarks never run in `npm test`.\n";
  const text = existsSync(file) ? readFileSync(file, "utf8") : start;
  const section = `${heading}\n\n${body.trim()}\n`;
  const at = text.indexOf(`${heading}\n`);
  if (at === -1) {
    writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf("\n## ", at + heading.length);
  writeFileSync(file, `${text.slice(0, at)}${section}${next === -1 ? "" : text.slice(next)}`);
}

/**
 * CPU seconds so far (utime + stime), summed by role: PostgreSQL's backends for `database` as
 * "postgres" (the WAL writer and checkpointer are shared with anything else the server does, and
 * left out), other processes as `roleOf(pid)` names them ("" leaves one out).
 */
export function cpuSecondsByRole(database: string, roleOf: (pid: number) => string): Map<string, number> {
  const out = new Map<string, number>();
  // A backend's title is "postgres: user db host …".
  const db = ` ${database} `;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    let title: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      title = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const key = comm === "postgres" ? (title.includes(db) ? "postgres" : "") : roleOf(Number(pid));
    if (!key) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(key, (out.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
  }
  return out;
}
