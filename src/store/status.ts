/**
 * Read models shared by the CLI (`sluice pipelines`, `sluice runs`) and the HTTP API: what each
 * pipeline's schedule is doing, and the schedule ticks the overlap policy skipped.
 */
import type { RunState } from "../core/records.js";
import { ScheduleClock } from "../core/schedule.js";
import { formatDuration } from "../define/duration.js";
import type { ResolvedPipeline, ResolvedSchedule } from "../define/resolved.js";
import type { Store } from "./types.js";

/** `every 15m`, `cron 0 2 * * * (Europe/Paris)`. */
export function describeSchedule(s: ResolvedSchedule | undefined): string {
  if (!s) return "manual only";
  return s.kind === "every" ? `every ${formatDuration(s.everyMs)}` : `cron ${s.cron}`;
}

/** One pipeline as `sluice pipelines` shows it. */
export interface PipelineStatus {
  pipeline: string;
  schedule: string;
  /** The schedule's time zone (cron with `timezone`), else UTC (`every` ticks are UTC-aligned). */
  timezone: string;
  state: "active" | "paused";
  pausedAt: string | null;
  /** The next scheduled tick (ISO, UTC); `null` when paused or not scheduled. */
  nextRun: string | null;
  lastRun: { id: number; state: RunState; scheduledFor: string; trigger: string } | null;
  /** Ticks skipped by the overlap policy, ever. */
  skipped: number;
  activeRuns: number;
}

/** Each pipeline's schedule, paused state, next tick, last run, skipped ticks and active runs. */
export async function pipelineStatus(store: Store, pipelines: readonly ResolvedPipeline[], now: number): Promise<PipelineStatus[]> {
  const schedules = new Map((await store.listSchedules()).map((s) => [s.pipeline, s]));
  const active = await store.listRuns({ states: ["queued", "running"], limit: 100_000 });
  const out: PipelineStatus[] = [];
  for (const p of pipelines) {
    const s = schedules.get(p.id);
    const paused = s?.pausedAt != null;
    const last = (await store.listRuns({ pipeline: p.id, limit: 1 }))[0];
    const clock = p.schedule ? new ScheduleClock(p.schedule) : undefined;
    const next = clock && !paused ? clock.nextAfter(Math.max(now, s?.lastScheduledFor ?? now)) : null;
    out.push({
      pipeline: p.id,
      schedule: describeSchedule(p.schedule),
      timezone: p.schedule?.kind === "cron" ? (p.schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone) : "UTC",
      state: paused ? "paused" : "active",
      pausedAt: paused ? new Date(s?.pausedAt as number).toISOString() : null,
      nextRun: next !== null && Number.isFinite(next) ? new Date(next).toISOString() : null,
      lastRun: last ? { id: last.id, state: last.state, scheduledFor: new Date(last.scheduledFor).toISOString(), trigger: last.trigger } : null,
      skipped: s?.skipped ?? 0,
      activeRuns: active.filter((r) => r.pipeline === p.id).length,
    });
  }
  return out;
}

/** A schedule tick skipped by the overlap policy, as `runs` lists it beside the runs. */
export interface SkippedTick {
  id: null;
  pipeline: string;
  state: "skipped";
  trigger: "schedule";
  scheduledFor: number;
  /** When the tick was decided. */
  createdAt: number;
  /** Why, in words (the run still active and the policy). */
  reason: string;
  /** The run that was still active. */
  activeRun: number | null;
}

/** The newest `limit` ticks the overlap policy skipped (from the event log: they have no run). */
export async function skippedTicks(store: Store, pipeline: string | undefined, limit: number): Promise<SkippedTick[]> {
  const events = await store.listEvents({ types: ["run.skipped"], ...(pipeline ? { pipeline } : {}), newestFirst: true, limit });
  return events.map((e) => ({
    id: null,
    pipeline: e.pipeline ?? "",
    state: "skipped",
    trigger: "schedule",
    scheduledFor: typeof e.data.scheduledFor === "number" ? e.data.scheduledFor : e.at,
    createdAt: e.at,
    reason: e.message,
    activeRun: typeof e.data.activeRun === "number" ? e.data.activeRun : null,
  }));
}

