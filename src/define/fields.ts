/**
 * Leaf schemas for `schema.ts`: each one checks a single option and, when it is wrong, says what
 * it must be, what it got and how to fix it. Field names are added by `issues.ts`, so messages
 * here start with "must".
 */
import { z } from "zod";
import { sizeBytes, SIZE_HINT } from "./bytes.js";
import { durationMs, DURATION_HINT } from "./duration.js";
import type { Duration, TaskRef } from "./types.js";
import { closest, describe, didYouMean, quoteList } from "./words.js";

/** Pipeline, task and pool names: they appear in paths, keys (`pipeline.task`), metrics and URLs. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
/** How to fix a bad name; ends messages about ids and pool names. */
export const NAME_RULE = "use letters, digits, _ and - only (not starting with -)";

/** A plain object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Shaped like the handle `.task()` returns. */
export const isTaskRef = (v: unknown): v is TaskRef =>
  isRecord(v) && typeof v.pipeline === "string" && typeof v.id === "string";

/** A whole number ≥ `min`; `fix` tells the user what a sensible value is. */
export const wholeNumber = (min: 0 | 1, fix: string) =>
  z.custom<number>((v) => typeof v === "number" && Number.isInteger(v) && v >= min, {
    error: (iss) =>
      `must be a whole number ${min === 1 ? "of at least 1" : "of 0 or more"} (got ${describe(iss.input)}); ${fix}.`,
  });

/** Any finite number ≥ `min` (or any finite number without `min`). */
export const finiteNumber = (min?: number) =>
  z.custom<number>((v) => typeof v === "number" && Number.isFinite(v) && (min === undefined || v >= min), {
    error: (iss) =>
      `must be a finite number${min === undefined ? "" : ` of ${min} or more`} (got ${describe(iss.input)}).`,
  });

/** A {@link Duration}, turned into milliseconds. `positive` refuses 0. */
export const duration = (positive = false) =>
  z
    .custom<Duration>(
      (v) => {
        const r = durationMs(v);
        return r.ok && (!positive || r.ms > 0);
      },
      {
        error: (iss) => {
          const r = durationMs(iss.input);
          const reason = r.ok ? "0 would mean no time at all" : r.reason;
          return `must be a ${positive ? "positive " : ""}duration (${reason}); ${DURATION_HINT}.`;
        },
      },
    )
    .transform((v) => (durationMs(v) as { ms: number }).ms);

/** A size in bytes (`"100MB"`, `"1.5GiB"`, a number of bytes), turned into bytes; at least 1. */
export const size = () =>
  z
    .custom<number | string>(
      (v) => {
        const r = sizeBytes(v);
        return r.ok && r.bytes >= 1;
      },
      {
        error: (iss) => {
          const r = sizeBytes(iss.input);
          return `must be a size of at least 1 byte (${r.ok ? "0 would let nothing through" : r.reason}); ${SIZE_HINT}.`;
        },
      },
    )
    .transform((v) => (sizeBytes(v) as { bytes: number }).bytes);

/** One of a fixed set of strings, suggesting the nearest one on a typo. */
export const oneOf = <const T extends string>(values: readonly T[]) =>
  z.custom<T>((v) => typeof v === "string" && (values as readonly string[]).includes(v), {
    error: (iss) =>
      `must be one of ${quoteList(values)} (got ${describe(iss.input)}).` +
      (typeof iss.input === "string" ? didYouMean(iss.input, values) : ""),
  });

/** Any string (descriptions). */
export const text = z.custom<string>((v) => typeof v === "string", {
  error: (iss) => `must be a string (got ${describe(iss.input)}).`,
});

/** A string with something in it (queue names, cron expressions, time zones). */
export const nonEmptyText = z.custom<string>((v) => typeof v === "string" && v.trim() !== "", {
  error: (iss) => `must be a non-empty string (got ${describe(iss.input)}).`,
});

/** `true` or `false`, nothing truthy. */
export const bool = z.custom<boolean>((v) => typeof v === "boolean", {
  error: (iss) => `must be true or false (got ${describe(iss.input)}).`,
});

/** A pipeline id, task id or pool name; `kind` opens the message, e.g. `"task id"`. */
export const name = (kind: string) =>
  z.custom<string>((v) => typeof v === "string" && NAME.test(v), {
    error: (iss) => `${kind} ${describe(iss.input)} is not valid; ${NAME_RULE}.`,
  });

/** What `.task(id, options, fn)` needs as `fn`. */
export const taskFn = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", {
  error: (iss) =>
    `must be a function (got ${describe(iss.input)}); declare tasks as .task(id, fn) or .task(id, options, fn).`,
});

/** A handle returned by `.task()` or a task id; whether it names a real task is checked later. */
export const dependency = z.custom<TaskRef | string>((v) => typeof v === "string" || isTaskRef(v), {
  error: (iss) =>
    `must be a handle returned by .task() or a task id string (got ${describe(iss.input)}).`,
});

/** An object schema that rejects unknown keys, suggesting the option the user probably meant. */
export function strict<S extends z.core.$ZodLooseShape>(shape: S) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === "unrecognized_keys") return unknownKeys(iss.keys, known);
      if (iss.code === "invalid_type") return `must be an object (got ${describe(iss.input)}).`;
      return undefined;
    },
  });
}

function unknownKeys(keys: readonly string[], known: readonly string[]): string {
  const each = keys.map((k) => {
    const match = closest(k, known);
    return JSON.stringify(k) + (match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`);
  });
  return `unknown option${keys.length === 1 ? "" : "s"} ${each.join(", ")}; known options are ${quoteList(known)}.`;
}
