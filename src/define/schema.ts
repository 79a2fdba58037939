/**
 * The one place where user input is checked option by option (cross-references such as unknown
 * pools or cycles are in `checks.ts`). Every schema rejects unknown keys with a "did you mean",
 * and its output has durations in milliseconds.
 */
import { Cron } from "croner";
import { z } from "zod";
import {
  bool,
  dependency,
  duration,
  finiteNumber,
  isRecord,
  name,
  nonEmptyText,
  oneOf,
  size,
  strict,
  text,
  wholeNumber,
} from "./fields.js";
import { databasesSchema } from "./databases.js";
import { hookFields, notifySchema } from "./notify.js";
import type { Isolation, OverlapPolicy, WeightRule } from "./types.js";
import { describe } from "./words.js";

const OVERLAP: readonly OverlapPolicy[] = ["skip", "bufferOne", "bufferAll", "cancelRunning", "allow"];
const WEIGHT_RULES: readonly WeightRule[] = ["downstream", "upstream", "absolute"];
/** The values of `isolation`, cheapest first. */
export const ISOLATIONS: readonly Isolation[] = ["inline", "thread", "process"];

/** One entry of `pools`. */
const adaptiveSlotsSchema = strict({
  min: wholeNumber(1, "an adaptive pool keeps at least 1 slot"),
  max: wholeNumber(1, "give the most slots the pool may grow to"),
  adapt: oneOf(["gradient", "aimd"] as const),
  initial: wholeNumber(1, "start between min and max, or leave it out to start at min").optional(),
  latencyThreshold: duration(true).optional(),
}).check(
  (payload) => {
    const v = payload.value;
    if (v.max < v.min) payload.issues.push({ code: "custom", input: v, path: ["max"], message: `must be at least min (${v.min}); got ${v.max}.` });
    if (v.initial !== undefined && (v.initial < v.min || v.initial > v.max)) {
      payload.issues.push({ code: "custom", input: v, path: ["initial"], message: `must be between min (${v.min}) and max (${v.max}); got ${v.initial}.` });
    }
  },
);

/** `slots`: a whole number, or an adaptive limit (an object), each checked by its own schema so its messages reach the user. */
const slotsSchema = z.unknown().transform((v, ctx): number | z.output<typeof adaptiveSlotsSchema> => {
  if (v === undefined || (!isRecord(v) && typeof v !== "number")) {
    ctx.addIssue({ code: "custom", message: `must be a whole number of at least 1 (a pool needs at least 1 slot), or an adaptive limit like { min: 2, max: 20, adapt: "gradient" } (got ${describe(v)}).` });
    return z.NEVER;
  }
  const result = isRecord(v) ? adaptiveSlotsSchema.safeParse(v) : wholeNumber(1, "a pool needs at least 1 slot").safeParse(v);
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path as PropertyKey[] });
  return z.NEVER;
});

export const poolSchema = strict({
  slots: slotsSchema,
  description: text.optional(),
});

/** `worker`: what one worker process runs at once and its memory budget. */
export const workerSchema = strict({
  concurrency: wholeNumber(1, "a worker runs at least 1 attempt at a time").optional(),
  memoryMb: wholeNumber(1, "give the worker's memory budget in megabytes, or leave it out").optional(),
});

/** One entry of `rateLimits`: `limit` tokens per `per`, up to `burst` at once. */
export const rateLimitSchema = strict({
  limit: wholeNumber(1, "give the tokens allowed per `per`, e.g. { limit: 100, per: \"1m\" }"),
  per: duration(true),
  burst: wholeNumber(1, "give the most tokens that may be taken at once after a quiet period, or leave it out (then it is `limit`)").optional(),
  description: text.optional(),
});

/** One entry of `bandwidth`: a byte budget per second shared by every `ctx.throttle` on it. */
export const bandwidthSchema = strict({
  bytesPerSecond: size(),
  burst: size().optional(),
  description: text.optional(),
});

/** Top-level options; `pipelines` is only checked to be an array here, each entry separately. */
export const configSchema = strict({
  parallelism: wholeNumber(1, "it caps the attempts running at once, so it must allow at least 1").optional(),
  pools: z.record(name("pool name"), poolSchema, { error: (iss) => recordMessage(iss) }).optional(),
  databases: databasesSchema.optional(),
  pipelines: z.custom<readonly unknown[]>((v) => Array.isArray(v), {
    error: (iss) =>
      `must be an array of pipeline("…") definitions (got ${describe(iss.input)}); ` +
      "list them as defineConfig({ pipelines: [myPipeline] }).",
  }),
  worker: workerSchema.optional(),
  rateLimits: z.record(name("rate limit name"), rateLimitSchema, { error: (iss) => recordMessage(iss) }).optional(),
  bandwidth: z.record(name("bandwidth name"), bandwidthSchema, { error: (iss) => recordMessage(iss) }).optional(),
  aging: strict({ pointsPerMinute: finiteNumber(0).optional() }).optional(),
  reservation: strict({ after: duration().optional() }).optional(),
  retention: z.union([z.literal(false), duration(true)]).optional(),
  notify: notifySchema.optional(),
});

/** `{ every }` or `{ cron, timezone? }`: exactly one of `every` and `cron`, checked with croner. */
export const scheduleSchema = strict({
  every: duration(true).optional(),
  cron: nonEmptyText.optional(),
  timezone: nonEmptyText.optional(),
}).superRefine(
  (raw, ctx) => {
    // Runs even when a field failed above, so every schedule problem is reported in one pass.
    const s = raw as Record<string, unknown>;
    const hasEvery = s.every !== undefined;
    const hasCron = s.cron !== undefined;
    if (hasEvery === hasCron) {
      ctx.addIssue({
        code: "custom",
        input: raw,
        message: hasEvery
          ? 'must have either "every" or "cron", not both; keep one of them.'
          : 'must have "every" (e.g. { every: "15m" }) or "cron" (e.g. { cron: "0 2 * * *" }); leave schedule out to run the pipeline only when triggered.',
      });
    }
    const tz = typeof s.timezone === "string" && s.timezone !== "" ? s.timezone : undefined;
    const tzOk = tz === undefined || isTimeZone(tz);
    if (!tzOk) {
      ctx.addIssue({
        code: "custom",
        path: ["timezone"],
        input: tz,
        message: `must be an IANA time zone such as "Europe/Paris" or "UTC" (got ${describe(tz)}).`,
      });
    }
    if (hasEvery && tz !== undefined) {
      ctx.addIssue({ code: "custom", path: ["timezone"], input: tz, message: 'only applies to "cron"; remove it.' });
    }
    if (typeof s.cron === "string" && s.cron.trim() !== "") {
      const error = cronError(s.cron, tzOk ? tz : undefined);
      if (error !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["cron"],
          input: s.cron,
          message:
            `must be a valid cron expression, but ${describe(s.cron)} is not (${error}); ` +
            'use 5 fields "minute hour day month weekday" (e.g. "0 2 * * *"), optionally with seconds first.',
        });
      }
    }
  },
  { when: (payload) => isRecord(payload.value) },
);

/** The options of `pipeline(id, options)`. */
export const pipelineOptionsSchema = strict({
  schedule: scheduleSchema.optional(),
  overlap: oneOf(OVERLAP).optional(),
  maxActiveRuns: wholeNumber(1, "a pipeline needs at least 1 active run to make progress").optional(),
  maxActiveTasks: wholeNumber(1, "leave it out for no limit").optional(),
  catchup: bool.optional(),
  catchupWindow: duration().optional(),
  deadline: duration().optional(),
  isolation: oneOf(ISOLATIONS).optional(),
  description: text.optional(),
  ...hookFields,
});

/** The options of `.task(id, options, fn)`; references to tasks and pools are checked in `checks.ts`. */
export const taskOptionsSchema = strict({
  dependsOn: z
    .array(dependency, { error: (iss) => `must be an array of task handles or ids (got ${describe(iss.input)}).` })
    .optional(),
  pools: z
    .record(name("pool name"), wholeNumber(1, "a task holds at least 1 slot of each pool it names; remove the pool if it needs none"), {
      error: (iss) => recordMessage(iss),
    })
    .optional(),
  rate: z
    .record(name("rate limit name"), wholeNumber(1, "a task takes at least 1 token of each rate limit it names; remove the limit if it takes none"), {
      error: (iss) => recordMessage(iss),
    })
    .optional(),
  priority: finiteNumber().optional(),
  weightRule: oneOf(WEIGHT_RULES).optional(),
  queue: nonEmptyText.optional(),
  retries: wholeNumber(0, "use 0 for no retries").optional(),
  lostRetries: wholeNumber(0, "use 0 to fail a task whose attempt is lost").optional(),
  retryDelay: duration().optional(),
  retryBackoff: oneOf(["fixed", "exponential"] as const).optional(),
  maxRetryDelay: duration().optional(),
  timeout: duration(true).optional(),
  memoryMb: wholeNumber(1, "give the task's memory in megabytes, or leave it out").optional(),
  isolation: oneOf(ISOLATIONS).optional(),
  maxActivePerPipeline: wholeNumber(1, "leave it out for no limit").optional(),
  maxActivePerRun: wholeNumber(1, "leave it out for no limit").optional(),
  estimate: duration().optional(),
  sla: duration().optional(),
  description: text.optional(),
  ...hookFields,
});

/** Schema outputs: the options as written, durations in milliseconds. */
export type ParsedConfig = z.output<typeof configSchema>;
export type ParsedPipelineOptions = z.output<typeof pipelineOptionsSchema>;
export type ParsedTaskOptions = z.output<typeof taskOptionsSchema>;

function recordMessage(iss: { code: string; input?: unknown }): string | undefined {
  if (iss.code === "invalid_type") return `must be an object of name → value (got ${describe(iss.input)}).`;
  return undefined;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** croner's complaint about a cron expression, or `undefined` when it is valid. */
function cronError(expr: string, timezone: string | undefined): string | undefined {
  try {
    const cron = new Cron(expr, { timezone, paused: true });
    return cron.nextRun() === null ? "it never fires" : undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
