import type { z } from "zod";
import type { ConfigProblem } from "./resolved.js";

/** Where a checked value sits: its path, and the pipeline / task it belongs to. */
export interface Where {
  /** e.g. `pipelines.daily_sales.tasks.extract`; `""` for the top of the config. */
  path: string;
  pipeline?: string;
  task?: string;
  /** Opens each message, e.g. `task "extract" of pipeline "daily_sales"`. */
  subject?: string;
  /** Names the value itself when the problem is with all of it, e.g. `options`. */
  label?: string;
}

/** Joins path segments with dots; numeric segments (array indexes) become `[i]`. */
export function joinPath(base: string, ...segments: readonly PropertyKey[]): string {
  let path = base;
  for (const s of segments) {
    if (typeof s === "number") path += `[${s}]`;
    else path += path === "" ? String(s) : `.${String(s)}`;
  }
  return path;
}

/** A problem at `where`, deeper by `field` (a relative path such as `pools.db`) when given. */
export function problemAt(where: Where, field: string | undefined, message: string): ConfigProblem {
  const deeper = field !== undefined && field !== "";
  const problem: ConfigProblem = {
    path: deeper ? joinPath(where.path, field) : where.path,
    message: where.subject === undefined ? message : `${where.subject}: ${message}`,
  };
  if (where.pipeline !== undefined) problem.pipeline = where.pipeline;
  if (where.task !== undefined) problem.task = where.task;
  if (deeper) problem.field = field;
  return problem;
}

/**
 * Turns zod issues from `schema.ts` into problems. Leaf messages there start with "must…"; here
 * they get the option's name in front, so each reads "retries must be …".
 */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], where: Where): ConfigProblem[] {
  return issues.map((issue) => {
    const field = joinPath("", ...issue.path);
    switch (issue.code) {
      case "unrecognized_keys": {
        // One unknown key: point at it, so the path names the typo itself.
        const key = issue.keys.length === 1 ? joinPath(field, issue.keys[0]!) : field;
        return problemAt(where, key, issue.message);
      }
      case "invalid_key":
        return problemAt(where, field, issue.issues[0]?.message ?? issue.message);
      default:
        return problemAt(where, field, `${field === "" ? (where.label ?? "the config") : field} ${issue.message}`);
    }
  });
}
