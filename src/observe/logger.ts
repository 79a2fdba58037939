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
    return {
      debug: (msg, extra) => child.debug(extra ?? {}, msg),
      info: (msg, extra) => child.info(extra ?? {}, msg),
      warn: (msg, extra) => child.warn(extra ?? {}, msg),
      error: (msg, extra) => child.error(extra ?? {}, msg),
    };
  };
}
