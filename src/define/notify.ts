/**
 * The notification options: `onSuccess` / `onFailure` / `onRetry` / `onSkip` hooks of pipelines
 * and tasks, and the config's `notify` (webhook targets, hook limits). Checked here like every
 * other option; delivered by `observe/notify.ts` in the scheduler process.
 */
import { z } from "zod";
import { durationMs } from "./duration.js";
import { duration, name, strict, wholeNumber } from "./fields.js";
import type { ConfigProblem, ResolvedHooks, ResolvedNotify } from "./resolved.js";
import type { Duration, NotifyEventType, NotifyHook, WebhookOptions } from "./types.js";
import { describe, didYouMean, quoteList } from "./words.js";

/**
 * Every notification type, in the order the docs list them.
 *
 * @example
 * const wanted = NOTIFY_EVENTS.filter((e) => e.startsWith("run.")); // for a webhook's `events`
 */
export const NOTIFY_EVENTS: readonly NotifyEventType[] = [
  "run.success",
  "run.failed",
  "run.cancelled",
  "run.skipped",
  "task.success",
  "task.failed",
  "task.retry",
  "task.skipped",
  "task.sla_missed",
  "run.deadline_missed",
];

/** The shape of {@link NOTIFY_DEFAULTS}. */
export interface NotifyDefaults {
  hookTimeout: Duration;
  hookQueueSize: number;
  webhook: Required<Pick<WebhookOptions, "timeout" | "retryDelay" | "maxRetryDelay" | "maxAge" | "queueSize">> & { events: readonly NotifyEventType[] };
}

/**
 * Defaults of `notify` and of each webhook target.
 *
 * @example
 * NOTIFY_DEFAULTS.webhook.queueSize; // 1000
 */
export const NOTIFY_DEFAULTS = {
  /** A hook still running after this long is logged and abandoned. @defaultValue `"10s"` */
  hookTimeout: "10s",
  /** Hook calls waiting at most (the oldest is dropped past it). @defaultValue 1000 */
  hookQueueSize: 1000,
  webhook: {
    /**
     * Every run event plus task failures and retries: what an operator acts on. `task.success`
     * and `task.skipped` (one per task instance) are sent only when listed.
     * @defaultValue `["run.success", "run.failed", "run.cancelled", "run.skipped", "task.failed", "task.retry"]`
     */
    events: ["run.success", "run.failed", "run.cancelled", "run.skipped", "task.failed", "task.retry"],
    /** @defaultValue `"10s"` */
    timeout: "10s",
    /** @defaultValue `"1s"` */
    retryDelay: "1s",
    /** @defaultValue `"1m"` */
    maxRetryDelay: "1m",
    /** @defaultValue `"24h"` */
    maxAge: "24h",
    /** @defaultValue 1000 */
    queueSize: 1000,
  },
} as const satisfies NotifyDefaults;

/** A hook option: a function. */
export const hook = z.custom<NotifyHook>((v) => typeof v === "function", {
  error: (iss) => `must be a function (got ${describe(iss.input)}); hooks are called as fn(notification), e.g. onFailure: async (n) => alert(n.message).`,
});

/** The four hook options, spread into the pipeline and task option schemas. */
export const hookFields = {
  onSuccess: hook.optional(),
  onFailure: hook.optional(),
  onRetry: hook.optional(),
  onSkip: hook.optional(),
  onSlaMiss: hook.optional(),
};

const webhookUrl = z.custom<string>(
  (v) => {
    if (typeof v !== "string") return false;
    try {
      const url = new URL(v);
      return url.protocol === "http:" || url.protocol === "https:";
    } catch {
      return false;
    }
  },
  { error: (iss) => `must be an http:// or https:// URL (got ${describe(iss.input)}).` },
);

const headerValue = z.custom<string>((v) => typeof v === "string" && !/[\r\n]/.test(v), {
  error: (iss) => `must be a string without line breaks (got ${describe(iss.input)}).`,
});

const isEvent = (v: unknown): v is NotifyEventType => typeof v === "string" && (NOTIFY_EVENTS as readonly string[]).includes(v);

/** `"*"` or a non-empty list of event types; the message names the first wrong entry. */
const webhookEvents = z.custom<readonly NotifyEventType[] | "*">((v) => v === "*" || (Array.isArray(v) && v.length > 0 && v.every(isEvent)), {
  error: (iss) => {
    const v = iss.input;
    const list = `they are ${quoteList(NOTIFY_EVENTS)}`;
    if (!Array.isArray(v)) return `must be an array of event types or "*" for all (got ${describe(v)}); ${list}.`;
    if (v.length === 0) return `must list at least one event, or be "*" for all; ${list}.`;
    const bad = v.findIndex((e) => !isEvent(e));
    return `entry ${bad} must be one of ${quoteList(NOTIFY_EVENTS)} (got ${describe(v[bad])}).${typeof v[bad] === "string" ? didYouMean(v[bad] as string, NOTIFY_EVENTS) : ""}`;
  },
});

/** One entry of `notify.webhooks`. */
export const webhookSchema = strict({
  url: webhookUrl,
  events: webhookEvents.optional(),
  pipelines: z.array(name("pipeline id"), { error: (iss) => `must be an array of pipeline ids (got ${describe(iss.input)}).` }).optional(),
  headers: z.record(z.string(), headerValue, { error: (iss) => (iss.code === "invalid_type" ? `must be an object of header name → value (got ${describe(iss.input)}).` : undefined) }).optional(),
  timeout: duration(true).optional(),
  retryDelay: duration(true).optional(),
  maxRetryDelay: duration(true).optional(),
  maxAge: duration(true).optional(),
  queueSize: wholeNumber(1, "it bounds the notifications waiting for this target").optional(),
});

/** The config's `notify`. */
export const notifySchema = strict({
  webhooks: z.array(webhookSchema, { error: (iss) => `must be an array of { url, events? } (got ${describe(iss.input)}).` }).optional(),
  hookTimeout: duration(true).optional(),
  hookQueueSize: wholeNumber(1, "it bounds the hook calls waiting to run").optional(),
});

type ParsedNotify = z.output<typeof notifySchema>;

/** Milliseconds of a default (constants, checked by `satisfies`). */
const ms = (value: Duration): number => (durationMs(value) as { ms: number }).ms;

/** The hooks set among parsed options, or `undefined` when none is. */
export function hooksOf(options: { onSuccess?: NotifyHook | undefined; onFailure?: NotifyHook | undefined; onRetry?: NotifyHook | undefined; onSkip?: NotifyHook | undefined; onSlaMiss?: NotifyHook | undefined } | undefined): ResolvedHooks | undefined {
  if (!options) return undefined;
  const hooks: ResolvedHooks = {};
  if (options.onSuccess) hooks.onSuccess = options.onSuccess;
  if (options.onFailure) hooks.onFailure = options.onFailure;
  if (options.onRetry) hooks.onRetry = options.onRetry;
  if (options.onSkip) hooks.onSkip = options.onSkip;
  if (options.onSlaMiss) hooks.onSlaMiss = options.onSlaMiss;
  return Object.keys(hooks).length > 0 ? hooks : undefined;
}

/** `notify` with defaults applied, durations in ms. */
export function buildNotify(parsed: ParsedNotify | undefined): ResolvedNotify {
  const d = NOTIFY_DEFAULTS;
  return {
    hookTimeoutMs: parsed?.hookTimeout ?? ms(d.hookTimeout),
    hookQueueSize: parsed?.hookQueueSize ?? d.hookQueueSize,
    webhooks: (parsed?.webhooks ?? []).map((w) => ({
      url: w.url,
      events: w.events === "*" ? [...NOTIFY_EVENTS] : [...(w.events ?? d.webhook.events)],
      pipelines: w.pipelines ? [...w.pipelines] : undefined,
      headers: { ...w.headers },
      timeoutMs: w.timeout ?? ms(d.webhook.timeout),
      retryDelayMs: w.retryDelay ?? ms(d.webhook.retryDelay),
      maxRetryDelayMs: w.maxRetryDelay ?? ms(d.webhook.maxRetryDelay),
      maxAgeMs: w.maxAge ?? ms(d.webhook.maxAge),
      queueSize: w.queueSize ?? d.webhook.queueSize,
    })),
  };
}


/**
 * Webhook `pipelines` filters must name pipelines of the config: a typo would silently send
 * nothing. Reports each unknown one, with the nearest known id.
 */
export function checkWebhookPipelines(raw: unknown, pipelineIds: readonly string[], problems: ConfigProblem[]): void {
  if (typeof raw !== "object" || raw === null) return;
  const webhooks = (raw as { webhooks?: unknown }).webhooks;
  if (!Array.isArray(webhooks)) return;
  webhooks.forEach((w: unknown, i) => {
    const list = typeof w === "object" && w !== null ? (w as { pipelines?: unknown }).pipelines : undefined;
    if (!Array.isArray(list)) return;
    list.forEach((id: unknown, j) => {
      if (typeof id !== "string" || pipelineIds.includes(id)) return;
      problems.push({
        path: `notify.webhooks[${i}].pipelines[${j}]`,
        field: `notify.webhooks[${i}].pipelines[${j}]`,
        message: `notify.webhooks[${i}].pipelines names ${JSON.stringify(id)}, which is not a pipeline of this config; known: ${quoteList(pipelineIds)}.${didYouMean(id, pipelineIds)}`,
      });
    });
  });
}
