import { existsSync, readFileSync, writeFileSync } from "node:fs";
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
