/**
 * Keeps what tasks write with `ctx.log` beside their attempts, for `sluice logs`: lines are
 * buffered and written to the store in batches (one write per `flushMs`, never one per line), and
 * bounded per attempt so a chatty task cannot fill the store.
 */
import type { AttemptLogLine } from "../store/types.js";

/** Limits of {@link TaskLogSink}. */
export const TASK_LOG_DEFAULTS = {
  /** Lines kept per attempt; past it one last line says how many were left out. */
  maxLinesPerAttempt: 1_000,
  /** A message longer than this (in characters) is cut, and its fields are dropped past this size of JSON. */
  maxLineChars: 8_192,
  /** How often buffered lines are written. */
  flushMs: 200,
  /** Lines buffered at most between writes (a store that is down does not grow memory without end). */
  maxBuffered: 10_000,
} as const satisfies Record<string, number>;

/** Where lines go: a store's {@link Store.appendAttemptLogs}. */
export interface LogWriter {
  appendAttemptLogs(lines: readonly AttemptLogLine[]): Promise<void>;
}

interface AttemptCounter {
  seq: number;
  dropped: number;
}

export class TaskLogSink {
  #buffer: AttemptLogLine[] = [];
  readonly #attempts = new Map<number, AttemptCounter>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #lostToBackpressure = 0;

  constructor(
    private readonly writer: LogWriter,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly limits: { maxLinesPerAttempt: number; maxLineChars: number; flushMs: number; maxBuffered: number } = TASK_LOG_DEFAULTS,
  ) {}

  /** A line `ctx.log` wrote for attempt `attemptId`. */
  capture(attemptId: number, level: AttemptLogLine["level"], msg: string, data: Record<string, unknown> | undefined, at = Date.now()): void {
    const c = this.#attempts.get(attemptId) ?? { seq: 0, dropped: 0 };
    this.#attempts.set(attemptId, c);
    if (c.seq >= this.limits.maxLinesPerAttempt) {
      c.dropped++;
      return;
    }
    if (this.#buffer.length >= this.limits.maxBuffered) {
      this.#lostToBackpressure++;
      return;
    }
    this.#buffer.push({ attemptId, seq: ++c.seq, at, level, msg: cut(msg, this.limits.maxLineChars), data: boundedData(data, this.limits.maxLineChars) });
    this.#timer ??= setTimeout(() => void this.flush(), this.limits.flushMs);
    this.#timer.unref?.();
  }

  /** The attempt ended: say how many lines were left out (if any), and forget its counter. */
  ended(attemptId: number, at = Date.now()): void {
    const c = this.#attempts.get(attemptId);
    if (!c) return;
    this.#attempts.delete(attemptId);
    if (c.dropped > 0) {
      this.#buffer.push({ attemptId, seq: c.seq + 1, at, level: "warn", msg: `… ${c.dropped} more line(s) not kept (at most ${this.limits.maxLinesPerAttempt} per attempt)`, data: null });
      this.#timer ??= setTimeout(() => void this.flush(), this.limits.flushMs);
    }
  }

  /** Write what is buffered now. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    if (batch.length === 0) return this.#flushing;
    this.#buffer = [];
    this.#flushing = this.#flushing.then(async () => {
      try {
        await this.writer.appendAttemptLogs(batch);
      } catch (err) {
        this.onError(err);
      }
    });
    return this.#flushing;
  }

  /** Lines refused because the buffer was full (the store did not keep up). */
  get lost(): number {
    return this.#lostToBackpressure;
  }
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

function boundedData(data: Record<string, unknown> | undefined, max: number): Record<string, unknown> | null {
  if (!data || Object.keys(data).length === 0) return null;
  let json: string;
  try {
    json = JSON.stringify(data);
  } catch {
    return { unserializable: true };
  }
  return json.length <= max ? (JSON.parse(json) as Record<string, unknown>) : { truncated: `${json.length} characters of fields not kept` };
}
