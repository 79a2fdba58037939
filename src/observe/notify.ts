/**
 * Notifications: turns the scheduler's typed events (event-log entries, task ends) into
 * {@link Notification}s and hands them to the pipelines' and tasks' hooks and to the webhook
 * targets of `notify.webhooks`.
 *
 * It runs in the process of the active scheduler (`sluice run`, `sluice scheduler`, `start()`),
 * never in workers, and never on the scheduler's path: a listener only pushes onto a bounded
 * queue (O(1)); looking up the run, calling hooks (each bounded by `hookTimeout`) and POSTing
 * happen later on the event loop. A hook that throws or hangs is logged; scheduling goes on.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { EventRecord, RunRecord } from "../core/records.js";
import { NOTIFY_DEFAULTS, NOTIFY_EVENTS } from "../define/notify.js";
import type { ResolvedConfig, ResolvedHooks, ResolvedNotify } from "../define/resolved.js";
import type { Notification, NotifyEventType } from "../define/types.js";
import { durationMs } from "../define/duration.js";
import type { Logger } from "./logger.js";
import { WebhookTarget, type WebhookDeps, type WebhookStats } from "./webhook.js";

/** The schema version of {@link Notification}; fields are only added within a version. */
export const NOTIFICATION_VERSION = 1;

/**
 * The payload of hooks and webhooks, as a zod schema (strict: exactly these fields). Its JSON
 * Schema, for receivers, is `z.toJSONSchema(notificationSchema)` (printed in docs/operating-notify.md).
 */
export const notificationSchema = z.strictObject({
  version: z.literal(NOTIFICATION_VERSION),
  id: z.string().min(1),
  type: z.enum(NOTIFY_EVENTS as [NotifyEventType, ...NotifyEventType[]]),
  at: z.iso.datetime(),
  level: z.enum(["info", "warn", "error"]),
  pipeline: z.string(),
  runId: z.number().int().nullable(),
  task: z.string().nullable(),
  attempts: z.number().int().nullable(),
  scheduledFor: z.iso.datetime().nullable(),
  message: z.string(),
  error: z.strictObject({ message: z.string(), code: z.string().optional() }).nullable(),
  data: z.record(z.string(), z.unknown()),
});

// The public type and the schema must describe the same thing.
type SchemaShape = z.output<typeof notificationSchema>;
const _sameShape: [SchemaShape extends Notification ? true : false, Notification extends SchemaShape ? true : false] = [true, true];
void _sameShape;

/** What the notifier reads from the store, to enrich a notification (the run's schedule time, the attempt's error). */
export interface NotifyLookup {
  getRun(id: number): Promise<RunRecord | undefined>;
  listAttempts(query: { runId?: number; task?: string; limit?: number }): Promise<Array<{ attempt: number; error: { message: string; code?: string } | null }>>;
}

/** A task instance that succeeded or will not run, as the scheduler reports it. */
export interface TaskEnded {
  at: number;
  runId: number;
  task: string;
  state: "success" | "upstream_failed";
  attempts: number | null;
}

/** Hook calls and webhook deliveries so far. */
export interface NotifyStats {
  hooks: {
    /** Hook calls that settled (resolved or threw). */
    called: number;
    /** Of those, the ones that threw or rejected. */
    failed: number;
    /** Abandoned after `hookTimeout` (they may still be running). */
    timedOut: number;
    /** Dropped, oldest first, because the hook queue was full. */
    dropped: number;
    /** Waiting or running. */
    pending: number;
  };
  /** Events dropped before they became notifications because the intake was full. */
  intakeDropped: number;
  webhooks: WebhookStats[];
}

/** Options of {@link Notifier}. */
export interface NotifierOptions {
  config: ResolvedConfig;
  logger: Logger;
  lookup: NotifyLookup;
  /** Edges of the webhook targets (fetch, clock, jitter), for tests. */
  webhook?: Partial<Omit<WebhookDeps, "logger">>;
}

/** Events waiting to become notifications, at most; past it the oldest is dropped. */
export const MAX_INTAKE = 10_000;
/** Hooks running at once: a hook that hangs holds one slot until `hookTimeout`. */
export const HOOK_CONCURRENCY = 4;
/** Runs remembered for lookups (their pipeline and schedule time), newest kept. */
const RUN_CACHE = 1_000;

const EVENT_TYPES: ReadonlySet<string> = new Set(NOTIFY_EVENTS);

/** Which hook of a pipeline fires for a notification type. */
const PIPELINE_HOOK: Partial<Record<NotifyEventType, keyof ResolvedHooks>> = {
  "run.success": "onSuccess",
  "run.failed": "onFailure",
  "run.skipped": "onSkip",
  "task.retry": "onRetry",
  "task.sla_missed": "onSlaMiss",
  "run.deadline_missed": "onSlaMiss",
};
/** Which hook of a task fires for a notification type. */
const TASK_HOOK: Partial<Record<NotifyEventType, keyof ResolvedHooks>> = {
  "task.success": "onSuccess",
  "task.failed": "onFailure",
  "task.retry": "onRetry",
  "task.skipped": "onSkip",
  "task.sla_missed": "onSlaMiss",
};

type Intake = { kind: "event"; type: NotifyEventType; event: EventRecord } | { kind: "task"; type: NotifyEventType; ended: TaskEnded };
interface HookCall {
  name: string;
  hook: NonNullable<ResolvedHooks[keyof ResolvedHooks]>;
  notification: Notification;
}

/**
 * Delivers hooks and webhooks for one running Sluice. {@link attachNotifier} makes one and wires
 * it to a scheduler; it does nothing (and listens to nothing) when the config has no hooks and no
 * webhooks.
 *
 * @example
 * const notifier = new Notifier({ config, logger, lookup: store });
 * scheduler.on("event", (e) => notifier.onEvent(e));
 * scheduler.on("taskEnded", (t) => notifier.onTaskEnded(t));
 * await notifier.close(Date.now() + 5000);
 */
export class Notifier {
  private readonly notify: ResolvedNotify;
  private readonly pipelineHooks = new Map<string, ResolvedHooks>();
  private readonly taskHooks = new Map<string, ResolvedHooks>();
  private readonly targets: WebhookTarget[];
  /** Notification types anything listens to. */
  private readonly wanted = new Set<NotifyEventType>();
  private readonly intake: Intake[] = [];
  private processing: Promise<void> | undefined;
  private readonly hookQueue: HookCall[] = [];
  private hooksRunning = 0;
  private hooksIdle: (() => void) | undefined;
  private readonly runs = new Map<number, RunRecord>();
  private closed = false;
  private readonly counts = { called: 0, failed: 0, timedOut: 0, dropped: 0, intakeDropped: 0 };
  private lastDropWarning = -Infinity;

  constructor(private readonly options: NotifierOptions) {
    this.notify = options.config.notify ?? { hookTimeoutMs: (durationMs(NOTIFY_DEFAULTS.hookTimeout) as { ms: number }).ms, hookQueueSize: NOTIFY_DEFAULTS.hookQueueSize, webhooks: [] };
    for (const p of options.config.pipelines) {
      if (p.hooks) this.pipelineHooks.set(p.id, p.hooks);
      for (const t of p.tasks) if (t.hooks) this.taskHooks.set(t.key, t.hooks);
    }
    for (const [type, hook] of Object.entries(PIPELINE_HOOK) as Array<[NotifyEventType, keyof ResolvedHooks]>) {
      if ([...this.pipelineHooks.values()].some((h) => h[hook])) this.wanted.add(type);
    }
    for (const [type, hook] of Object.entries(TASK_HOOK) as Array<[NotifyEventType, keyof ResolvedHooks]>) {
      if ([...this.taskHooks.values()].some((h) => h[hook])) this.wanted.add(type);
    }
    const deps: WebhookDeps = { logger: options.logger, userAgent: "sluice", ...options.webhook };
    this.targets = this.notify.webhooks.map((w) => new WebhookTarget(w, deps));
    for (const t of this.targets) for (const type of t.options.events) this.wanted.add(type);
  }

  /** True when anything listens: some hook is set or some webhook is configured. */
  get active(): boolean {
    return this.wanted.size > 0;
  }

  /** Whether task ends (`task.success`, `task.skipped`) are wanted: they cost a run lookup each. */
  get wantsTaskEnds(): boolean {
    return this.wanted.has("task.success") || this.wanted.has("task.skipped");
  }

  /** An event-log entry, as the scheduler emits it. Returns at once. */
  onEvent(event: EventRecord): void {
    if (this.closed || !EVENT_TYPES.has(event.type)) return;
    const type = event.type as NotifyEventType;
    if (!this.wanted.has(type)) return;
    this.take({ kind: "event", type, event });
  }

  /** A task instance that succeeded or will not run. Returns at once. */
  onTaskEnded(ended: TaskEnded): void {
    if (this.closed) return;
    const type: NotifyEventType = ended.state === "success" ? "task.success" : "task.skipped";
    if (!this.wanted.has(type)) return;
    this.take({ kind: "task", type, ended });
  }

  /** Counters of hooks and of every webhook target. */
  stats(): NotifyStats {
    return {
      hooks: { called: this.counts.called, failed: this.counts.failed, timedOut: this.counts.timedOut, dropped: this.counts.dropped, pending: this.hookQueue.length + this.hooksRunning },
      intakeDropped: this.counts.intakeDropped,
      webhooks: this.targets.map((t) => t.stats()),
    };
  }

  /**
   * Stop taking events; turn those taken into notifications, let running hooks settle and deliver
   * queued webhooks until `deadline` (epoch ms). What is left then is logged and dropped.
   * Idempotent.
   */
  async close(deadline: number): Promise<void> {
    this.closed = true;
    await this.withDeadline(this.processing ?? Promise.resolve(), deadline);
    await this.withDeadline(this.hooksSettled(), deadline);
    await Promise.all(this.targets.map((t) => t.close(deadline)));
    const left = this.hookQueue.splice(0).length;
    if (left > 0) this.options.logger.warn({ event: "notify.dropped", count: left }, `${left} hook call(s) not run before Sluice stopped`);
  }

  private take(item: Intake): void {
    if (this.intake.length >= MAX_INTAKE) {
      this.intake.shift();
      this.counts.intakeDropped++;
      this.warnDropped("events waiting to be turned into notifications", MAX_INTAKE);
    }
    this.intake.push(item);
    this.processing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.process());
  }

  private async process(): Promise<void> {
    try {
      for (let item = this.intake.shift(); item; item = this.intake.shift()) {
        const notification = await this.toNotification(item).catch((err: unknown) => {
          this.options.logger.warn({ err, event: "notify.error" }, `could not build a ${item?.type} notification: ${err instanceof Error ? err.message : String(err)}`);
          return undefined;
        });
        if (notification) this.dispatch(notification);
      }
    } finally {
      // The loop saw an empty intake in this same synchronous step: the next take() starts anew.
      this.processing = undefined;
    }
  }

  private dispatch(n: Notification): void {
    const pipelineHook = PIPELINE_HOOK[n.type];
    const taskHook = TASK_HOOK[n.type];
    const forTask = n.task !== null && taskHook ? this.taskHooks.get(`${n.pipeline}.${n.task}`)?.[taskHook] : undefined;
    if (forTask && taskHook) this.callHook({ name: `${n.pipeline}.${n.task} ${taskHook}`, hook: forTask, notification: n });
    const forPipeline = pipelineHook ? this.pipelineHooks.get(n.pipeline)?.[pipelineHook] : undefined;
    if (forPipeline && pipelineHook) this.callHook({ name: `${n.pipeline} ${pipelineHook}`, hook: forPipeline, notification: n });
    for (const t of this.targets) if (t.wants(n.type, n.pipeline)) t.enqueue(n);
  }

  private callHook(call: HookCall): void {
    if (this.hookQueue.length >= this.notify.hookQueueSize) {
      this.hookQueue.shift();
      this.counts.dropped++;
      this.warnDropped("hook calls waiting", this.notify.hookQueueSize);
    }
    this.hookQueue.push(call);
    this.runHooks();
  }

  private runHooks(): void {
    while (this.hooksRunning < HOOK_CONCURRENCY) {
      const call = this.hookQueue.shift();
      if (!call) break;
      this.hooksRunning++;
      void this.runHook(call).finally(() => {
        this.hooksRunning--;
        this.runHooks();
        if (this.hooksRunning === 0 && this.hookQueue.length === 0) this.hooksIdle?.();
      });
    }
  }

  private async runHook(call: HookCall): Promise<void> {
    const ms = this.notify.hookTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), ms);
      timer.unref();
    });
    // Each hook gets its own copy: one hook changing the payload must not change another's.
    const payload = structuredClone(call.notification);
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => call.hook(payload)), timedOut]);
      if (outcome === "timeout") {
        this.counts.timedOut++;
        this.options.logger.warn(
          { event: "notify.hook_timeout", hook: call.name, type: payload.type, runId: payload.runId },
          `hook ${call.name} did not settle within ${ms} ms; abandoned (it may still be running). Make it return sooner, or raise notify.hookTimeout.`,
        );
        return;
      }
      this.counts.called++;
    } catch (err) {
      this.counts.called++;
      this.counts.failed++;
      const message = err instanceof Error ? err.message : String(err);
      this.options.logger.error({ err, event: "notify.hook_failed", hook: call.name, type: payload.type, runId: payload.runId }, `hook ${call.name} threw: ${message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private hooksSettled(): Promise<void> {
    if (this.hooksRunning === 0 && this.hookQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.hooksIdle = resolve));
  }

  private async withDeadline(promise: Promise<void>, deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
  }

  private warnDropped(what: string, bound: number): void {
    const now = Date.now();
    if (now - this.lastDropWarning < 10_000) return;
    this.lastDropWarning = now;
    this.options.logger.warn(
      { event: "notify.dropped", hooksDropped: this.counts.dropped, intakeDropped: this.counts.intakeDropped },
      `notifications: more than ${bound} ${what}; dropping the oldest (hooks are slower than the events: make them faster or narrower)`,
    );
  }

  private async run(runId: number): Promise<RunRecord | undefined> {
    const cached = this.runs.get(runId);
    if (cached) return cached;
    const run = await this.options.lookup.getRun(runId).catch(() => undefined);
    if (run) {
      this.runs.set(runId, run);
      if (this.runs.size > RUN_CACHE) this.runs.delete(this.runs.keys().next().value as number);
    }
    return run;
  }

  private async toNotification(item: Intake): Promise<Notification | undefined> {
    if (item.kind === "task") {
      const { ended } = item;
      const run = await this.run(ended.runId);
      if (!run) return undefined;
      // A success's change does not carry the count: the latest attempt does. A skipped task never ran.
      let attempts = ended.attempts ?? (item.type === "task.skipped" ? 0 : null);
      if (attempts === null) {
        const [latest] = await this.options.lookup.listAttempts({ runId: ended.runId, task: ended.task, limit: 1 }).catch(() => []);
        attempts = latest?.attempt ?? null;
      }
      return {
        version: NOTIFICATION_VERSION,
        id: randomUUID(),
        type: item.type,
        at: new Date(ended.at).toISOString(),
        level: item.type === "task.success" ? "info" : "warn",
        pipeline: run.pipeline,
        runId: ended.runId,
        task: ended.task,
        attempts,
        scheduledFor: new Date(run.scheduledFor).toISOString(),
        message:
          item.type === "task.success"
            ? `${run.pipeline}.${ended.task}: succeeded in run ${ended.runId}`
            : `${run.pipeline}.${ended.task}: not run in run ${ended.runId} because an upstream task failed`,
        error: null,
        data: {},
      };
    }
    const e = item.event;
    const pipeline = e.pipeline ?? (typeof e.data.pipeline === "string" ? e.data.pipeline : undefined);
    if (pipeline === undefined) return undefined;
    const run = e.runId !== null ? await this.run(e.runId) : undefined;
    const skippedFor = typeof e.data.scheduledFor === "number" ? e.data.scheduledFor : undefined;
    let attempts: number | null = null;
    let error: Notification["error"] = null;
    if (e.task !== null && e.runId !== null) {
      const [latest] = await this.options.lookup.listAttempts({ runId: e.runId, task: e.task, limit: 1 }).catch(() => []);
      if (latest) {
        attempts = latest.attempt;
        if (latest.error) error = { message: latest.error.message, ...(latest.error.code !== undefined ? { code: latest.error.code } : {}) };
      }
    }
    const { pipeline: _p, ...data } = e.data;
    return {
      version: NOTIFICATION_VERSION,
      id: e.id !== undefined ? `event-${e.id}` : randomUUID(),
      type: item.type,
      at: new Date(e.at).toISOString(),
      level: e.level === "debug" ? "info" : e.level,
      pipeline,
      runId: e.runId,
      task: e.task,
      attempts,
      scheduledFor: run ? new Date(run.scheduledFor).toISOString() : skippedFor !== undefined ? new Date(skippedFor).toISOString() : null,
      message: e.message,
      error,
      data,
    };
  }
}

/** What {@link attachNotifier} listens to: the scheduler's `event` and `taskEnded`. */
export interface NotifySource {
  on(name: "event", listener: (e: EventRecord) => void): unknown;
  on(name: "taskEnded", listener: (t: TaskEnded) => void): unknown;
}

/**
 * A {@link Notifier} listening to `source`, or `undefined` when the config has no hooks and no
 * webhooks (then nothing listens, and nothing costs anything).
 *
 * @example
 * const notifier = attachNotifier(scheduler, { config, logger, lookup: store });
 * // … on shutdown:
 * await notifier?.close(Date.now() + 5000);
 */
export function attachNotifier(source: NotifySource, options: NotifierOptions): Notifier | undefined {
  const notifier = new Notifier(options);
  if (!notifier.active) return undefined;
  source.on("event", (e) => notifier.onEvent(e));
  if (notifier.wantsTaskEnds) source.on("taskEnded", (t) => notifier.onTaskEnded(t));
  return notifier;
}
