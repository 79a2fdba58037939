/**
 * The Gantt timeline: one row per task across pipelines, each attempt a bar colored by its outcome,
 * the wait before it drawn thin and colored by what it waited for; skipped runs and SLA misses
 * marked. Bars are drawn on a canvas (10,000 attempts redraw in milliseconds); the few marks are
 * DOM elements, with titles, so they can be hovered and found.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useApi, type Attempt, type EventRecord, type SkippedTick } from "./api.js";
import { STATE_COLORS, WAIT_COLORS, bytes, stateColor, took, waitColor, when } from "./format.js";

const ROW = 20;
const AXIS = 22;
const LABEL = 200;

const WINDOWS: Array<[string, number]> = [
  ["1 min", 60_000],
  ["5 min", 5 * 60_000],
  ["15 min", 15 * 60_000],
  ["1 hour", 3_600_000],
  ["6 hours", 6 * 3_600_000],
  ["24 hours", 24 * 3_600_000],
  ["7 days", 7 * 24 * 3_600_000],
];

interface Row {
  key: string;
  pipeline: string;
  bars: Attempt[];
}

export function Timeline({ tick }: { tick: number }) {
  const [windowMs, setWindowMs] = useState(15 * 60_000);
  // The window ends now; it moves with each live tick.
  const now = useMemo(() => Date.now(), [tick, windowMs]);
  const since = now - windowMs;
  const sinceParam = Math.floor(since / 60_000) * 60_000;
  const attempts = useApi<Attempt[]>(`/api/attempts?since=${sinceParam}&limit=20000`, tick);
  const skipped = useApi<SkippedTick[]>(`/api/skipped?limit=2000`, tick);
  const slas = useApi<EventRecord[]>(`/api/events?type=task.sla_missed,run.deadline_missed&limit=500`, tick);
  const list = attempts.data ?? [];

  const rows = useMemo(() => {
    const byKey = new Map<string, Row>();
    for (const a of [...list].sort((x, y) => x.startedAt - y.startedAt)) {
      const key = `${a.pipeline}.${a.task}`;
      let row = byKey.get(key);
      if (!row) byKey.set(key, (row = { key, pipeline: a.pipeline, bars: [] }));
      row.bars.push(a);
    }
    // Pipelines that only skipped in the window still get a row for their marks.
    for (const s of skipped.data ?? []) {
      if (s.scheduledFor < since) continue;
      if (![...byKey.values()].some((r) => r.pipeline === s.pipeline)) byKey.set(`${s.pipeline}.(skipped)`, { key: `${s.pipeline}.(skipped)`, pipeline: s.pipeline, bars: [] });
    }
    return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
  }, [list, skipped.data, since]);

  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(900);
  const [hover, setHover] = useState<{ x: number; y: number; a: Attempt } | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(Math.max(400, el.clientWidth)));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const plotWidth = width - LABEL;
  const x = (t: number) => LABEL + ((t - since) / windowMs) * plotWidth;
  const height = AXIS + Math.max(1, rows.length) * ROW;

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ratio = window.devicePixelRatio || 1;
    c.width = width * ratio;
    c.height = height * ratio;
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    // Time axis: about one tick per 100 px, on round steps.
    const steps = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400].map((s) => s * 1000);
    const step = steps.find((s) => (s / windowMs) * plotWidth >= 90) ?? 86_400_000;
    g.fillStyle = "#667";
    g.strokeStyle = "#e6e9ee";
    for (let t = Math.ceil(since / step) * step; t <= now; t += step) {
      const px = Math.round(x(t)) + 0.5;
      g.beginPath();
      g.moveTo(px, AXIS - 4);
      g.lineTo(px, height);
      g.stroke();
      g.fillText(when(t, now), px + 3, AXIS / 2);
    }
    rows.forEach((row, i) => {
      const top = AXIS + i * ROW;
      if (i % 2 === 1) {
        g.fillStyle = "#f7f8fa";
        g.fillRect(0, top, width, ROW);
      }
      g.fillStyle = "#223";
      g.fillText(row.key.length > 30 ? `${row.key.slice(0, 29)}…` : row.key, 6, top + ROW / 2);
      for (const a of row.bars) {
        const start = Math.max(a.startedAt, since);
        const end = a.endedAt ?? now;
        if (end < since) continue;
        // The wait before the attempt: from when it was ready to its start.
        if (a.queuedAt < a.startedAt && a.startedAt > since) {
          const wx = x(Math.max(a.queuedAt, since));
          g.fillStyle = waitColor(a.waitedFor?.kind);
          g.fillRect(wx, top + 8, Math.max(1, x(a.startedAt) - wx), 4);
        }
        const bx = x(start);
        g.fillStyle = stateColor(a.state);
        g.fillRect(bx, top + 4, Math.max(2, x(end) - bx), ROW - 8);
      }
    });
    // A line at "now".
    g.strokeStyle = "#2f7fd8";
    g.beginPath();
    g.moveTo(Math.round(x(now)) - 0.5, AXIS - 4);
    g.lineTo(Math.round(x(now)) - 0.5, height);
    g.stroke();
  }, [rows, width, height, since, now, windowMs]);

  const onMove = (e: MouseEvent) => {
    const rect = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    const px = e.clientX - rect.left;
    const py = e.clientY - rect.top;
    const row = rows[Math.floor((py - AXIS) / ROW)];
    const t = since + ((px - LABEL) / plotWidth) * windowMs;
    const a = row?.bars.find((b) => b.queuedAt <= t + (windowMs / plotWidth) * 2 && (b.endedAt ?? now) >= t - (windowMs / plotWidth) * 2);
    setHover(a ? { x: px, y: py, a } : null);
  };

  const marks = [
    ...(skipped.data ?? [])
      .filter((s) => s.scheduledFor >= since)
      .map((s) => ({ kind: "skip" as const, at: s.scheduledFor, pipeline: s.pipeline, title: `skipped: ${s.pipeline} at ${when(s.scheduledFor, now)} — ${s.reason}` })),
    ...(slas.data ?? [])
      .filter((e) => e.at >= since && e.pipeline !== null)
      .map((e) => ({ kind: "sla" as const, at: e.at, pipeline: e.pipeline as string, title: e.message })),
  ];
  const rowOf = (pipeline: string) => rows.findIndex((r) => r.pipeline === pipeline);

  return (
    <section>
      <div class="toolbar">
        <h2>Timeline</h2>
        <label>
          window{" "}
          <select value={windowMs} data-testid="timeline-window" onChange={(e) => setWindowMs(Number((e.currentTarget as HTMLSelectElement).value))}>
            {WINDOWS.map(([name, value]) => (
              <option value={value}>{name}</option>
            ))}
          </select>
        </label>
        <span class="muted" data-testid="timeline-count">
          {list.length.toLocaleString()} attempt(s){list.length >= 20000 ? " (the newest 20,000)" : ""}, {marks.filter((m) => m.kind === "skip").length} skipped run(s)
        </span>
      </div>
      {attempts.error && <p class="error">{attempts.error}</p>}
      <div class="timeline" ref={box}>
        <canvas ref={canvas} onMouseMove={onMove} onMouseLeave={() => setHover(null)} onClick={() => hover && (location.hash = `#/runs/${hover.a.runId}`)} data-testid="timeline-canvas" />
        {marks.map((m) => {
          const i = rowOf(m.pipeline);
          if (i < 0) return null;
          return (
            <span class={`mark mark-${m.kind}`} data-testid={m.kind === "skip" ? "skip-mark" : "sla-mark"} title={m.title} style={{ left: `${x(m.at) - 6}px`, top: `${AXIS + i * ROW + 1}px` }}>
              {m.kind === "skip" ? "⊘" : "⚑"}
            </span>
          );
        })}
        {hover && (
          <div class="tip" style={{ left: `${Math.min(hover.x + 12, width - 280)}px`, top: `${hover.y + 12}px` }}>
            <b>
              {hover.a.pipeline}.{hover.a.task}
            </b>{" "}
            run {hover.a.runId}, attempt {hover.a.attempt}: <span class={`state state-${hover.a.state}`}>{hover.a.state}</span>
            <br />
            waited {took(hover.a.startedAt - hover.a.queuedAt)}
            {hover.a.waitedFor ? ` for ${hover.a.waitedFor.kind} ${hover.a.waitedFor.name}` : ""}, ran {took((hover.a.endedAt ?? Date.now()) - hover.a.startedAt)}
            {hover.a.peakMemoryBytes ? `, peak memory ${bytes(hover.a.peakMemoryBytes)}` : ""}
            {hover.a.error ? <div class="error">{hover.a.error.message}</div> : null}
          </div>
        )}
      </div>
      <div class="legend">
        <span>attempts:</span>
        {["running", "success", "failed", "timed_out", "lost", "cancelled"].map((s) => (
          <span>
            <i style={{ background: STATE_COLORS[s] }} /> {s}
          </span>
        ))}
        <span>waited for:</span>
        {["pool", "queue", "memory", "parallelism", "rate", "reserved", "maxActiveTasks", "unknown"].map((s) => (
          <span>
            <i class="thin" style={{ background: WAIT_COLORS[s] }} /> {s === "unknown" ? "not seen" : s}
          </span>
        ))}
        <span>
          <b class="mark-skip">⊘</b> skipped run
        </span>
        <span>
          <b class="mark-sla">⚑</b> SLA / deadline missed
        </span>
      </div>
    </section>
  );
}
