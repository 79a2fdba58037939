import type { ResolvedConfig } from "../define/resolved.js";
import type { WaitReason } from "./admission/types.js";
import { Engine } from "./engine/engine.js";
import type { EngineOutput } from "./engine/types.js";
import { Heap } from "./heap.js";
import type { RunState } from "./records.js";
import { seededRandom } from "./retry.js";

export interface SimulationOptions {
  /** Virtual start time (ms). Fixed by default so the same input always gives the same output. */
  start?: number;
  /** How long to simulate (ms). */
  durationMs: number;
  /** Run time per `pipeline.task`, overriding each task's `estimate`. */
  durations?: Record<string, number>;
  /** Run time of a task with neither an estimate nor a duration. @defaultValue 60_000 */
  defaultDurationMs?: number;
  /** Seed for retry jitter. @defaultValue 1 */
  seed?: number;
}

/** 2025-01-06T00:00:00Z, a Monday: the default virtual start. */
export const DEFAULT_SIMULATION_START = Date.UTC(2025, 0, 6);

export interface SimulatedAttempt {
  pipeline: string;
  run: number;
  task: string;
  attempt: number;
  readyAt: number;
  startedAt: number;
  /** `null` when still running at the end of the simulation. */
  endedAt: number | null;
  waitedMs: number;
  /** Distinct reasons seen while it waited, each in the latest form it had before the task started (first seen first). */
  waitReasons: WaitReason[];
}

export interface SimulatedRun {
  pipeline: string;
  /** `null` for a skipped tick (no run was created). */
  run: number | null;
  scheduledFor: number;
  trigger: string;
  /** Final state at the end of the simulation, or `skipped`. */
  state: RunState | "skipped";
  /** The run was queued (buffered or behind maxActiveRuns) before it started. */
  buffered: boolean;
  startedAt: number | null;
  endedAt: number | null;
}

export interface SimulationResult {
  start: number;
  end: number;
  attempts: SimulatedAttempt[];
  pools: Record<string, { capacity: number; peak: number }>;
  /**
   * Each rate limit: its shape, tokens tasks took at admission (their `rate`; `ctx.take` in task
   * bodies is not simulated), and how long tasks waited with it as a reason, in all.
   */
  rateLimits: Record<string, { limit: number; perMs: number; burst: number; taken: number; waitedMs: number }>;
  runs: SimulatedRun[];
  /** Tasks that had no estimate and ran for the default duration (`pipeline.task`). */
  assumedDurations: string[];
  /** SLAs (`task` set) and run deadlines (`task: null`) the simulated runs missed, in time order. */
  slaMisses: SimulatedSlaMiss[];
  warnings: string[];
}

/** A predicted SLA or deadline miss: the task (or run) was not done when it was due. */
export interface SimulatedSlaMiss {
  pipeline: string;
  run: number;
  /** `null` for the run's `deadline`. */
  task: string | null;
  scheduledFor: number;
  dueAt: number;
  message: string;
}

/**
 * Run the real engine — schedules, overlap, admission, priorities, aging, reservation — on a
 * virtual clock, each attempt taking its estimated time. Deterministic: the same config and
 * options always give the same result.
 */
export function simulate(config: ResolvedConfig, options: SimulationOptions): SimulationResult {
  const start = options.start ?? DEFAULT_SIMULATION_START;
  const end = start + options.durationMs;
  const defaultMs = options.defaultDurationMs ?? 60_000;
  const engine = new Engine(config, { now: start, random: seededRandom(options.seed ?? 1), workerId: "simulator" });
  const durations = new Map<string, number>();
  const assumed = new Set<string>();
  for (const p of config.pipelines) {
    for (const t of p.tasks) {
      const ms = options.durations?.[t.key] ?? t.estimateMs;
      if (ms === undefined) assumed.add(t.key);
      durations.set(t.key, ms ?? defaultMs);
    }
  }
  const completions = new Heap<{ at: number; attemptId: number; token: number }>((a, b) => a.at < b.at || (a.at === b.at && a.attemptId < b.attemptId));
  const attempts = new Map<number, SimulatedAttempt>();
  const runs = new Map<number, SimulatedRun>();
  const skipped: SimulatedRun[] = [];
  const warnings: string[] = [];
  const slaMisses: SimulatedSlaMiss[] = [];
  const waitReasons = new Map<string, Map<string, WaitReason>>();
  const pools: Record<string, { capacity: number; peak: number }> = {};
  for (const pool of Object.values(config.pools)) pools[pool.name] = { capacity: pool.slots, peak: 0 };
  const rateLimits: SimulationResult["rateLimits"] = {};
  for (const r of Object.values(config.rateLimits ?? {})) rateLimits[r.name] = { limit: r.limit, perMs: r.perMs, burst: r.burst, taken: 0, waitedMs: 0 };

  const handle = (now: number, out: EngineOutput): void => {
    for (const c of out.changes) {
      if (c.type === "createRun") {
        runs.set(c.run.id, { pipeline: c.run.pipeline, run: c.run.id, scheduledFor: c.run.scheduledFor, trigger: c.run.trigger, state: c.run.state, buffered: c.run.state === "queued", startedAt: c.run.startedAt, endedAt: null });
      } else if (c.type === "updateRun") {
        const r = runs.get(c.id);
        if (r) {
          r.state = c.state;
          if (c.startedAt !== undefined) r.startedAt = c.startedAt;
          if (c.endedAt !== undefined) r.endedAt = c.endedAt;
        }
      } else if (c.type === "appendEvent" && c.event.type === "run.skipped") {
        const data = c.event.data;
        skipped.push({ pipeline: String(data.pipeline), run: null, scheduledFor: Number(data.scheduledFor), trigger: "schedule", state: "skipped", buffered: false, startedAt: null, endedAt: null });
      } else if (c.type === "appendEvent" && (c.event.type === "task.sla_missed" || c.event.type === "run.deadline_missed")) {
        const r = c.event.runId !== null ? runs.get(c.event.runId) : undefined;
        slaMisses.push({ pipeline: c.event.pipeline ?? "", run: c.event.runId ?? 0, task: c.event.task, scheduledFor: r?.scheduledFor ?? 0, dueAt: Number(c.event.data.dueAt), message: c.event.message });
      } else if (c.type === "appendEvent" && c.event.level === "warn" && c.event.type === "run.overran") {
        warnings.push(c.event.message);
      }
    }
    for (const s of out.start) {
      const key = `${s.runId}/${s.task}`;
      const seen = waitReasons.get(key);
      waitReasons.delete(key);
      attempts.set(s.attemptId, {
        pipeline: s.pipeline,
        run: s.runId,
        task: s.task,
        attempt: s.attempt,
        readyAt: s.readyAt,
        startedAt: now,
        endedAt: null,
        waitedMs: now - s.readyAt,
        waitReasons: seen ? [...seen.values()] : [],
      });
      completions.push({ at: now + (durations.get(s.taskKey) ?? defaultMs), attemptId: s.attemptId, token: s.fencingToken });
      for (const d of s.demand) {
        const limit = d.key.startsWith("rate:") ? rateLimits[d.key.slice(5)] : undefined;
        if (!limit) continue;
        limit.taken += d.amount;
        // Waited on its rate limit: the time since it was ready, when that was a reason it gave.
        if (seen?.has(`rate:${d.key.slice(5)}`)) limit.waitedMs += now - s.readyAt;
      }
    }
    // Each kind of reason keeps its latest form, so holders named are those still holding when
    // the task last waited, not those of the moment blocking began.
    for (const [id, reasons] of engine.waitingReasons()) {
      let seen = waitReasons.get(id);
      if (!seen) waitReasons.set(id, (seen = new Map()));
      for (const r of reasons) if (r.kind !== "pending") seen.set(reasonKey(r), r);
    }
    for (const u of engine.usage()) {
      const pool = u.kind === "pool" ? pools[u.name] : undefined;
      if (pool && u.used > pool.peak) pool.peak = u.used;
    }
  };

  for (const p of config.pipelines) if (!p.schedule) engine.trigger(p.id, start);
  handle(start, engine.advance(start));
  for (;;) {
    const wake = engine.nextWakeAt();
    const next = Math.min(wake ?? Number.POSITIVE_INFINITY, completions.peek()?.at ?? Number.POSITIVE_INFINITY);
    if (!Number.isFinite(next) || next > end) break;
    for (let c = completions.peek(); c && c.at === next; c = completions.peek()) {
      completions.pop();
      const attempt = attempts.get(c.attemptId);
      const result = engine.finish(c.attemptId, c.token, { state: "success", output: null }, next);
      if (result.accepted && attempt) attempt.endedAt = next;
    }
    handle(next, engine.advance(next));
  }

  const allRuns = [...runs.values(), ...skipped].sort((a, b) => a.scheduledFor - b.scheduledFor || a.pipeline.localeCompare(b.pipeline) || (a.run ?? 0) - (b.run ?? 0));
  return {
    start,
    end,
    attempts: [...attempts.values()].sort((a, b) => a.startedAt - b.startedAt || a.run - b.run || a.task.localeCompare(b.task)),
    pools,
    rateLimits,
    runs: allRuns,
    assumedDurations: [...assumed],
    slaMisses,
    warnings,
  };
}

function reasonKey(r: WaitReason): string {
  switch (r.kind) {
    case "pool":
    case "queue":
      return `${r.kind}:${r.name}`;
    case "memory":
      return `memory:${r.queue}`;
    case "rate":
      return `rate:${r.name}`;
    case "maxActiveTasks":
      return `${r.kind}:${r.pipeline}`;
    case "maxActivePerPipeline":
    case "definition":
      return `definition:${r.task}`;
    case "maxActivePerRun":
      return `${r.kind}:${r.task}`;
    case "reserved":
      return `reserved:${r.resource}`;
    case "neverFits":
      return `neverFits:${r.resource}`;
    default:
      return r.kind;
  }
}
