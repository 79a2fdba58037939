/** Times, durations and colors as the dashboard shows them. */

/** `14:03:07` today, `Nov 24 14:03` before, in the browser's time zone. */
export function when(t: number | null | undefined, now = Date.now()): string {
  if (t === null || t === undefined) return "—";
  const d = new Date(t);
  const sameDay = new Date(now).toDateString() === d.toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour12: false })
    : `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${d.toLocaleTimeString(undefined, { hour12: false, hour: "2-digit", minute: "2-digit" })}`;
}

/** `350ms`, `12.4s`, `3m 05s`, `2h 10m`. */
export function took(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return "—";
  const v = Math.max(0, msValue);
  if (v < 1000) return `${Math.round(v)}ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)}s`;
  if (v < 3_600_000) return `${Math.floor(v / 60_000)}m ${String(Math.floor((v % 60_000) / 1000)).padStart(2, "0")}s`;
  return `${Math.floor(v / 3_600_000)}h ${String(Math.floor((v % 3_600_000) / 60_000)).padStart(2, "0")}m`;
}

/** Colors of states (runs, tasks, attempts): the CSS classes `state-<name>` use the same. */
export const STATE_COLORS: Record<string, string> = {
  running: "#2f7fd8",
  success: "#2e9e5b",
  failed: "#d64545",
  timed_out: "#a82828",
  lost: "#8a8a8a",
  cancelled: "#9aa3ad",
  queued: "#c7ced6",
  ready: "#e0a030",
  pending: "#c7ced6",
  retry_wait: "#e07b30",
  upstream_failed: "#e5a3a3",
  run_queued: "#c7ced6",
};

/** Colors of the causes a wait is drawn in, on the timeline (the legend lists them). */
export const WAIT_COLORS: Record<string, string> = {
  pool: "#f0a830",
  queue: "#9b6ad6",
  memory: "#c45ab3",
  parallelism: "#a0704a",
  reserved: "#e86a92",
  rate: "#4a8fd6",
  maxActiveTasks: "#3fb1a8",
  maxActivePerPipeline: "#3fb1a8",
  maxActivePerRun: "#3fb1a8",
  definition: "#555555",
  behind: "#e8c170",
  runQueued: "#b0b8c0",
  unknown: "#d8dde3",
};

export const waitColor = (kind: string | undefined): string => WAIT_COLORS[kind ?? "unknown"] ?? (WAIT_COLORS.unknown as string);
export const stateColor = (state: string): string => STATE_COLORS[state] ?? "#999";

/** `312 MB`, `1.4 GB`; `—` when not measured. */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const mb = value / 1048576;
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}
