/**
 * `every(interval, fn)`: a periodic loop whose cycle never runs on top of itself.
 */
import { Counter, Histogram, register as globalRegister, type Registry } from "prom-client";
import { CoordOptionsError } from "./errors.js";
import type { Semaphore } from "./semaphore.js";

/** The part of a pino logger `every()` uses; a pino `Logger` fits. */
export interface CoordLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Why a cycle was skipped. */
export type SkipReason = "overlap" | "exclusive";

/** Options of {@link every}. */
export interface EveryOptions {
  /** Names the loop in metrics and logs. @defaultValue `fn.name` or `"every"` */
  name?: string;
  /**
   * A tick that comes while a cycle still runs: `"skip"` drops it; `"queueOne"` runs one cycle right
   * after the current one (further ticks meanwhile are skipped). @defaultValue "skip"
   */
  overlap?: "skip" | "queueOne";
  /** Run a cycle at once, before the first interval has passed. @defaultValue true */
  immediate?: boolean;
  /** Stops the loop; the returned `stopped` resolves once the cycle in flight has finished. */
  signal?: AbortSignal;
  /**
   * Run each cycle only while holding this mutex (or semaphore permit), so replicas on several
   * machines never run it at the same time. A tick whose mutex is held elsewhere is skipped
   * (reason `"exclusive"`). The permit's `signal` is passed to `fn`.
   */
  exclusive?: Semaphore;
  /** Called for every skipped tick. */
  onSkip?: (info: { name: string; reason: SkipReason; skipped: number }) => void;
  /** Called when `fn` throws; the loop goes on. @defaultValue log at ERROR level when the logger can, else nothing */
  onError?: (error: unknown) => void;
  /** pino-compatible logger for the WARN lines. @defaultValue none (no logs) */
  logger?: CoordLogger;
  /**
   * Registry for `sluice_skipped_cycles_total{name}` and `sluice_cycle_duration_seconds{name}`.
   * @defaultValue prom-client's global `register`
   */
  registry?: Registry;
}

/** What a cycle gets: `signal` aborts when the loop stops or an `exclusive` lease is lost. */
export interface CycleContext {
  signal: AbortSignal;
  /** The `exclusive` permit's fencing token, when there is one. */
  fencingToken?: number;
}

/** A running loop. */
export interface EveryHandle {
  /** Stops ticking; resolves when the cycle in flight (if any) has finished. */
  stop(): Promise<void>;
  /** Resolves when the loop has stopped (by `stop()` or the signal) and its last cycle finished. */
  readonly stopped: Promise<void>;
  /** Ticks skipped so far. */
  readonly skipped: number;
}

function metrics(registry: Registry): { skipped: Counter<"name">; duration: Histogram<"name"> } {
  const skipped =
    (registry.getSingleMetric("sluice_skipped_cycles_total") as Counter<"name"> | undefined) ??
    new Counter({ name: "sluice_skipped_cycles_total", help: "Ticks of every() dropped because a cycle was still running (or another replica held the exclusive mutex)", labelNames: ["name"], registers: [registry] });
  const duration =
    (registry.getSingleMetric("sluice_cycle_duration_seconds") as Histogram<"name"> | undefined) ??
    new Histogram({ name: "sluice_cycle_duration_seconds", help: "Duration of every() cycles", labelNames: ["name"], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300], registers: [registry] });
  return { skipped, duration };
}

/**
 * Runs `fn` every `intervalMs`, never concurrently with itself.
 *
 * @example
 * const stop = new AbortController();
 * const loop = every(60_000, async ({ signal }) => syncInvoices(signal), { name: "sync-invoices", signal: stop.signal, logger });
 * process.once("SIGTERM", () => stop.abort());
 * await loop.stopped;
 */
export function every(intervalMs: number, fn: (context: CycleContext) => Promise<unknown> | unknown, options: EveryOptions = {}): EveryHandle {
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new CoordOptionsError(`every(): interval must be a positive number of ms, got ${intervalMs}`);
  const name = options.name ?? (fn.name || "every");
  const overlap = options.overlap ?? "skip";
  if (overlap !== "skip" && overlap !== "queueOne") throw new CoordOptionsError(`every("${name}"): overlap must be "skip" or "queueOne", got ${String(overlap)}`);
  const { skipped: skippedTotal, duration } = metrics(options.registry ?? globalRegister);
  const logger = options.logger;
  const stopping = new AbortController();

  let running: Promise<void> | null = null;
  let queued = false;
  let skipped = 0;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  const skip = (reason: SkipReason): void => {
    skipped += 1;
    skippedTotal.inc({ name });
    logger?.warn({ every: name, reason, skipped }, reason === "overlap" ? `every(${name}): tick skipped, the previous cycle is still running` : `every(${name}): tick skipped, another replica holds the exclusive mutex`);
    options.onSkip?.({ name, reason, skipped });
  };

  const cycle = async (): Promise<void> => {
    let permit = null;
    if (options.exclusive) {
      permit = await options.exclusive.tryAcquire().catch((error: unknown) => {
        options.onError?.(error);
        return null;
      });
      if (!permit) return skip("exclusive");
    }
    const signal = permit ? AbortSignal.any([stopping.signal, permit.signal]) : stopping.signal;
    const started = performance.now();
    try {
      await fn(permit ? { signal, fencingToken: permit.fencingToken } : { signal });
    } catch (error) {
      if (options.onError) options.onError(error);
      else (logger as { error?: CoordLogger["warn"] } | undefined)?.error?.({ every: name, err: error }, `every(${name}): cycle failed`);
    } finally {
      await permit?.release().catch(() => {});
    }
    const ms = performance.now() - started;
    duration.observe({ name }, ms / 1000);
    if (ms > intervalMs) logger?.warn({ every: name, durationMs: Math.round(ms), intervalMs }, `every(${name}): a cycle took ${Math.round(ms)} ms, longer than its ${intervalMs} ms interval`);
  };

  const start = (): void => {
    running = cycle().finally(() => {
      running = null;
      if (queued && !stopping.signal.aborted) {
        queued = false;
        start();
      } else if (stopping.signal.aborted) resolveStopped();
    });
  };

  const tick = (): void => {
    if (stopping.signal.aborted) return;
    if (!running) return start();
    if (overlap === "queueOne" && !queued) queued = true;
    else skip("overlap");
  };

  const timer = setInterval(tick, intervalMs);
  const stop = async (): Promise<void> => {
    if (!stopping.signal.aborted) {
      clearInterval(timer);
      queued = false;
      stopping.abort();
      if (!running) resolveStopped();
    }
    await stopped;
  };
  if (options.signal?.aborted) void stop();
  else {
    options.signal?.addEventListener("abort", () => void stop(), { once: true });
    if (options.immediate ?? true) tick();
  }

  return {
    stop,
    stopped,
    get skipped() {
      return skipped;
    },
  };
}
