/**
 * The memory budget a worker gives tasks' declared `memoryMb` when the config sets none
 * (`worker.memoryMb`) and `sluice worker` is given no `--memory-mb`: a share of the memory this
 * process may really use — the host's, or the cgroup's limit inside a container, whichever is lower.
 */
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";

/** The share of the host's (or container's) memory tasks may declare in total. */
export const MEMORY_BUDGET_SHARE = 0.75;

/** What the budget is computed from; injectable for tests. */
export interface MemorySources {
  /** Bytes of memory of the host. @defaultValue `os.totalmem()` */
  totalBytes?: number;
  /** Reads a file, or returns undefined when it does not exist. @defaultValue `fs.readFileSync` */
  read?: (path: string) => string | undefined;
}

const readOrUndefined = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** The cgroup memory limit in bytes (v2 `memory.max`, else v1 `memory.limit_in_bytes`); undefined when there is none. */
export function cgroupLimitBytes(read: (path: string) => string | undefined = readOrUndefined): number | undefined {
  const v2 = read("/sys/fs/cgroup/memory.max")?.trim();
  if (v2 !== undefined && v2 !== "max") {
    const n = Number(v2);
    if (Number.isFinite(n) && n > 0) return n;
  }
  const v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?.trim();
  if (v1 !== undefined) {
    const n = Number(v1);
    // cgroup v1 says "no limit" with a huge number (a page-rounded 2^63 - 1).
    if (Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
  }
  return undefined;
}

/** {@link MEMORY_BUDGET_SHARE} of the lower of the host's memory and the cgroup limit, in whole MB. */
export function defaultMemoryBudgetMb(sources: MemorySources = {}): number {
  const host = sources.totalBytes ?? totalmem();
  const limit = cgroupLimitBytes(sources.read ?? readOrUndefined);
  const bytes = limit !== undefined ? Math.min(host, limit) : host;
  return Math.max(1, Math.floor((bytes * MEMORY_BUDGET_SHARE) / (1024 * 1024)));
}
