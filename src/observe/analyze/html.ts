import type { AnalysisReport } from "./analyze.js";
import { formatReport, memory } from "./format.js";
import type { TimelineStep } from "./types.js";

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A step chart of one measure, before (grey) and after (blue), as inline SVG. */
function chart(title: string, before: TimelineStep[], after: TimelineStep[], value: (s: TimelineStep) => number, label: (v: number) => string, integer = false): string {
  const W = 900, H = 220, L = 70, B = 30, T = 10;
  const all = [...before, ...after];
  if (all.length === 0) return "";
  const t0 = Math.min(...all.map((s) => s.at));
  const t1 = Math.max(...all.map((s) => s.at), t0 + 1);
  const vmax = Math.max(1, ...all.map(value));
  const x = (t: number) => L + ((t - t0) / (t1 - t0)) * (W - L - 10);
  const y = (v: number) => T + (1 - v / vmax) * (H - T - B);
  const path = (steps: TimelineStep[]) => {
    let d = `M${x(t0).toFixed(1)},${y(0).toFixed(1)}`;
    for (const s of steps) d += ` H${x(s.at).toFixed(1)} V${y(value(s)).toFixed(1)}`;
    return d + ` H${x(t1).toFixed(1)}`;
  };
  // Whole numbers on an axis of counts: a tick at 1.5 would be labelled "2".
  const levels = [...new Set([0, integer ? Math.round(vmax / 2) : vmax / 2, vmax])];
  const ticks = levels.map((v) => `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${escape(label(v))}</text><line x1="${L}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`).join("");
  const times = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const t = t0 + (t1 - t0) * f;
    return `<text x="${x(t)}" y="${H - 8}" text-anchor="${f === 0 ? "start" : f === 1 ? "end" : "middle"}">${new Date(t).toISOString().slice(5, 16).replace("T", " ")}</text>`;
  }).join("");
  return `<h2>${escape(title)}</h2><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escape(title)}">${ticks}${times}` +
    `<path d="${path(before)}" class="before"/><path d="${path(after)}" class="after"/></svg>`;
}

/**
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no external URL,
 * so it opens offline and can be attached to a ticket.
 *
 * @example
 * ```ts
 * writeFileSync("report.html", renderHtml(analyzeHistory(records)));
 * ```
 */
export function renderHtml(report: AnalysisReport): string {
  const { before, after } = report.series;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice analyze</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:960px;color:#222}
svg text{font-size:11px;fill:#555} .grid{stroke:#eee} path{fill:none;stroke-width:2}
.before{stroke:#999} .after{stroke:#1f6feb} pre{background:#f6f8fa;padding:12px;overflow:auto}
.key span{display:inline-block;width:14px;height:3px;margin:0 6px 3px 12px}
</style></head><body>
<h1>sluice analyze</h1>
<p class="key"><span style="background:#999"></span>before <span style="background:#1f6feb"></span>after the suggested offsets</p>
${chart("Memory over time", before, after, (s) => s.memoryMb, memory)}
${chart("Concurrency over time", before, after, (s) => s.concurrency, (v) => String(Math.round(v)), true)}
<h2>Report</h2>
<pre>${escape(formatReport(report))}</pre>
</body></html>
`;
}
