import { setFlagsFromString } from "node:v8";

/**
 * How much V8 may grow the heap past what survived the last full collection, in percent, for the
 * long-running commands (`run`, `scheduler`, `worker`). V8's own factor goes up to 4× when
 * collection is cheap, which suits short programs; a scheduler that holds a burst of 100,000 queued
 * task instances (~50 MB live) then peaked at ~370 MB RSS, most of it garbage not yet collected.
 * At 100% (2×) the same run peaks at ~260 MB with the same throughput (bench/scale.ts,
 * BENCHMARKS.md "Scale"): the extra full collections of a heap that small take a few ms each.
 *
 * Set `SLUICE_HEAP_GROWING_PERCENT` to change it (0: V8's default), or pass your own
 * `--heap-growing-percent` in `NODE_OPTIONS` or on the node command line, which wins.
 */
export const HEAP_GROWING_PERCENT = 100;

/** What {@link boundHeapGrowth} does for an environment: the V8 flag to set, if any, and a warning. */
export function heapGrowthFlag(env: NodeJS.ProcessEnv, execArgv: readonly string[]): { flag?: string; warning?: string } {
  const own = [...execArgv, ...(env.NODE_OPTIONS ?? "").split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent/.test(a));
  if (own) return {};
  const raw = env.SLUICE_HEAP_GROWING_PERCENT;
  if (raw === undefined || raw.trim() === "") return { flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` };
  const percent = Number(raw);
  if (!Number.isInteger(percent) || percent < 0) {
    return {
      flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
      warning: `sluice: SLUICE_HEAP_GROWING_PERCENT must be a whole number ≥ 0 (got ${JSON.stringify(raw)}); using ${HEAP_GROWING_PERCENT}`,
    };
  }
  return percent === 0 ? {} : { flag: `--heap-growing-percent=${percent}` };
}

/** Applies {@link HEAP_GROWING_PERCENT} (or `SLUICE_HEAP_GROWING_PERCENT`) to this process. */
export function boundHeapGrowth(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): void {
  const { flag, warning } = heapGrowthFlag(env, execArgv);
  if (warning) process.stderr.write(`${warning}\n`);
  if (flag) setFlagsFromString(flag);
}
