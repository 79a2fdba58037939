/** Errors of isolated attempts, with stable codes. */

const MB = 1024 * 1024;

/** Megabytes with one decimal, as messages show them. */
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

/**
 * An isolated attempt used more memory than its task's `memoryMb` and was stopped: the resident
 * memory of its child process passed the limit (the watchdog killed it), or its V8 heap reached
 * the heap limit (thread or process). Code `SLUICE_MEMORY_LIMIT`.
 */
export class MemoryLimitError extends Error {
  readonly code = "SLUICE_MEMORY_LIMIT";
  constructor(
    /** The task's `memoryMb`. */
    readonly limitMb: number,
    /** The highest memory measured: RSS of the child process, or the heap of the thread. */
    readonly peakBytes: number,
    /** What passed the limit. */
    readonly what: "rss" | "heap",
    isolation: "thread" | "process",
  ) {
    super(
      what === "rss"
        ? `memory limit: the child process used ${mb(peakBytes)} of resident memory, over the task's memoryMb of ${limitMb} MB, and was killed; raise memoryMb if the task needs more, or make it use less`
        : `memory limit: the ${isolation === "thread" ? "thread's" : "child process's"} heap reached its limit of ${limitMb} MB (the task's memoryMb; peak ${mb(peakBytes)}) and it was stopped; raise memoryMb if the task needs more, or make it use less`,
    );
    this.name = "MemoryLimitError";
  }
}

/**
 * The thread or child process of an isolated attempt ended without reporting a result: it could
 * not load the config, exited on its own (`process.exit()` in the task), or crashed. Code
 * `SLUICE_ISOLATION_CRASHED`.
 */
export class IsolationCrashError extends Error {
  readonly code = "SLUICE_ISOLATION_CRASHED";
  constructor(message: string) {
    super(message);
    this.name = "IsolationCrashError";
  }
}
