import { createRequire } from "node:module";
import { pino, type DestinationStream, type Logger } from "pino";
import type { TaskLogger } from "../define/types.js";
import type { TaskLogSink } from "./task-logs.js";

export type { Logger };

/**
 * JSON-lines logger (pino). `sluice run` writes it to stdout when stdout is not a terminal, and
 * to `.sluice/sluice.log` when a terminal shows the live view instead. Lines about a task carry
 * `pipeline`, `run`/`runId`, `task` and `attemptId`.
 *
 * `pretty`: human-readable lines (pino-pretty) instead of JSON; by default on when the logger
 * writes to stdout and stdout is a terminal (`sluice worker`, `sluice scheduler` in a shell),
 * unless `SLUICE_LOG_FORMAT=json`. Pipes, files and services always get JSON.
 *
 * @example
 * const logger = createLogger({ level: "debug" });
 * logger.info({ pipeline: "etl", run: 12 }, "run started");
 */
export function createLogger(options: { destination?: string | number; level?: string; pretty?: boolean } = {}): Logger {
  const dest = options.destination ?? 1;
  const pretty = options.pretty ?? (dest === 1 && process.stdout.isTTY === true && process.env.SLUICE_LOG_FORMAT !== "json");
  const destination: DestinationStream = pretty ? prettyStream(dest) : pino.destination({ dest, sync: false, mkdir: true });
  return pino({ level: options.level ?? process.env.SLUICE_LOG_LEVEL ?? "info", base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** pino-pretty, loaded only when a terminal wants it (it is not needed for JSON). */
function prettyStream(dest: string | number): DestinationStream {
  const pretty = createRequire(import.meta.url)("pino-pretty") as (options: Record<string, unknown>) => DestinationStream;
  return pretty({ destination: dest, sync: true, colorize: dest === 1 && process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" });
}

/** The `ctx.log` of a task: a child logger tagged with pipeline, run, task and attempt. */
export function taskLoggerFrom(logger: Logger, keep?: TaskLogSink): (fields: Record<string, unknown>) => TaskLogger {
  return (fields) => {
    const child = logger.child(fields);
    const bound = new Set(Object.keys(fields));
    // A task's own field named like a bound one (`{ attempt: 1 }`) would be written twice in one
    // JSON object, and readers keep either; it goes under `fields` instead.
    const own = (extra: Record<string, unknown> | undefined): Record<string, unknown> => {
      if (!extra) return {};
      const clash = Object.keys(extra).filter((k) => bound.has(k) || k === "msg" || k === "level" || k === "time");
      if (clash.length === 0) return extra;
      const rest: Record<string, unknown> = {};
      const moved: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(extra)) (clash.includes(k) ? moved : rest)[k] = v;
      return { ...rest, fields: moved };
    };
    // Kept with the attempt for `sluice logs` (every level, whatever the log level of this process).
    const attemptId = typeof fields.attemptId === "number" ? fields.attemptId : undefined;
    const kept = keep && attemptId !== undefined ? (level: "debug" | "info" | "warn" | "error", msg: string, extra: Record<string, unknown> | undefined) => keep.capture(attemptId, level, msg, extra) : undefined;
    return {
      debug: (msg, extra) => (kept?.("debug", msg, extra), child.debug(own(extra), msg)),
      info: (msg, extra) => (kept?.("info", msg, extra), child.info(own(extra), msg)),
      warn: (msg, extra) => (kept?.("warn", msg, extra), child.warn(own(extra), msg)),
      error: (msg, extra) => (kept?.("error", msg, extra), child.error(own(extra), msg)),
    };
  };
}
