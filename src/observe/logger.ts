import { pino, type Logger } from "pino";
import type { TaskLogger } from "../define/types.js";

export type { Logger };

/**
 * JSON-lines logger (pino). `sluice run` writes it to stdout when stdout is not a terminal, and
 * to `.sluice/sluice.log` when a terminal shows the live view instead.
 */
export function createLogger(options: { destination?: string | number; level?: string } = {}): Logger {
  const destination = pino.destination({ dest: options.destination ?? 1, sync: false, mkdir: true });
  return pino({ level: options.level ?? process.env.SLUICE_LOG_LEVEL ?? "info", base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** The `ctx.log` of a task: a child logger tagged with pipeline, run, task and attempt. */
export function taskLoggerFrom(logger: Logger): (fields: Record<string, unknown>) => TaskLogger {
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
    return {
      debug: (msg, extra) => child.debug(own(extra), msg),
      info: (msg, extra) => child.info(own(extra), msg),
      warn: (msg, extra) => child.warn(own(extra), msg),
      error: (msg, extra) => child.error(own(extra), msg),
    };
  };
}
