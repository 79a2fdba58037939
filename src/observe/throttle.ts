import type { Logger } from "pino";

/**
 * Logs an error once, then the same message at most every `everyMs` with how many were
 * suppressed: an unreachable database fails every poll, and one line says as much as a hundred.
 */
export function throttledErrors(logger: Logger, everyMs = 10_000): (err: Error) => void {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (err) => {
    const key = err.message.replace(/\d+/g, "#");
    const now = Date.now();
    const last = seen.get(key);
    if (last && now - last.at < everyMs) {
      last.suppressed++;
      return;
    }
    seen.set(key, { at: now, suppressed: 0 });
    if (seen.size > 100) seen.delete(seen.keys().next().value as string);
    logger.error({ err, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) }, err.message);
  };
}
