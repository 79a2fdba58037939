/**
 * The installation's token budgets at the edge: rate limits (`ctx.take`, and the tokens admission
 * takes for tasks' `rate`) and bandwidth (`ctx.throttle`). Every decision is one atomic step of a
 * {@link TokenStore}: in-process for the embedded store, the store's PostgreSQL functions
 * (migration `0008_rate_limits.sql`) for the distributed one, so the scheduler and every worker
 * process draw on one budget. The arithmetic is `core/rate.ts` (GCRA).
 */
import { EventEmitter } from "node:events";
import { Transform, type TransformCallback } from "node:stream";
import { SluiceError } from "../core/errors.js";
import { msUntil, refund, takeUpTo, tokensAt, type BucketShape } from "../core/rate.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { ReadableSource } from "../define/types.js";
import type { TokenGrant, TokenStore } from "../store/types.js";

export type { TokenGrant, TokenStore };

/** Buckets in this process (the embedded store: one process runs scheduler and worker). */
export function memoryTokenStore(now: () => number = Date.now): TokenStore {
  const tats = new Map<string, number>();
  return {
    async takeTokens(bucket, min, max, shape) {
      const t = now();
      const d = takeUpTo(tats.get(bucket) ?? 0, t, min, max, shape);
      tats.set(bucket, d.tat);
      const left = tokensAt(d.tat, t, shape);
      return { taken: d.taken, retryAfterMs: d.retryAfterMs, nextTokenMs: left >= shape.burst ? 0 : msUntil(d.tat, t, left + 1, shape), at: t };
    },
    async refundTokens(bucket, tokens, shape) {
      const tat = tats.get(bucket);
      if (tat !== undefined) tats.set(bucket, refund(tat, tokens, shape));
    },
  };
}

/** What {@link Budgets} reports; metrics listen. */
export interface BudgetEvents {
  /** Tokens of a rate limit were taken: by admission for a task's `rate`, or by `ctx.take`. */
  tokens: [{ limit: string; tokens: number; by: "admission" | "task" }];
  /** A `ctx.take` waited this long for its tokens. */
  waited: [{ limit: string; ms: number }];
  /** Bytes passed through `ctx.throttle`, and how long the stream waited for them. */
  bytes: [{ bandwidth: string; bytes: number; waitedMs: number }];
}

/** A `ctx.take` or `ctx.throttle` named a budget the config does not declare, or asked for more than it can ever give. */
export class BudgetError extends SluiceError {
  constructor(message: string) {
    super("SLUICE_BUDGET", message);
  }
}

/** Largest piece of a stream chunk taken from a bandwidth budget at once, in bytes. */
const MAX_PIECE = 1 << 20;

/**
 * The rate limits and bandwidth budgets of a config, over one {@link TokenStore}.
 *
 * @example
 * const budgets = new Budgets(config, memoryTokenStore());
 * await budgets.take("partner_api", 1, signal);
 */
export class Budgets extends EventEmitter<BudgetEvents> {
  private readonly shapes = new Map<string, { bucket: string; shape: BucketShape }>();
  private readonly bandwidths = new Map<string, { bucket: string; shape: BucketShape }>();

  constructor(
    readonly config: ResolvedConfig,
    readonly store: TokenStore,
  ) {
    super();
    for (const r of Object.values(config.rateLimits ?? {})) this.shapes.set(r.name, { bucket: `rate:${r.name}`, shape: { emissionMs: r.perMs / r.limit, burst: r.burst } });
    for (const b of Object.values(config.bandwidth ?? {})) this.bandwidths.set(b.name, { bucket: `bandwidth:${b.name}`, shape: { emissionMs: 1000 / b.bytesPerSecond, burst: b.burst } });
  }

  /** Whether the config declares any budget (else nothing here is ever called). */
  get empty(): boolean {
    return this.shapes.size === 0 && this.bandwidths.size === 0;
  }

  /**
   * Admission's take: up to `want` tokens of rate limit `name` (whatever it holds). Tokens not
   * granted to a task are given back with {@link giveBack}.
   */
  async forAdmission(name: string, want: number): Promise<TokenGrant> {
    const s = this.rateShape(name);
    return this.store.takeTokens(s.bucket, 1, want, s.shape);
  }

  /** Gives back tokens {@link forAdmission} took and admission did not grant. */
  async giveBack(name: string, tokens: number): Promise<void> {
    const s = this.rateShape(name);
    await this.store.refundTokens(s.bucket, tokens, s.shape);
  }

  /** Admission granted `tokens` of `name` to tasks (for metrics). */
  spent(name: string, tokens: number): void {
    if (tokens > 0) this.emit("tokens", { limit: name, tokens, by: "admission" });
  }

  /** `ctx.take`: waits until `tokens` of rate limit `name` are in the budget, and takes them. */
  async take(name: string, tokens: number, signal?: AbortSignal): Promise<{ at: number }> {
    const s = this.rateShape(name);
    if (!Number.isInteger(tokens) || tokens < 1) throw new BudgetError(`ctx.take("${name}", ${tokens}): take a whole number of tokens, at least 1`);
    if (tokens > s.shape.burst) throw new BudgetError(`ctx.take("${name}", ${tokens}): rate limit ${name} never holds more than its burst (${s.shape.burst}) tokens; take at most ${s.shape.burst} at a time, or raise rateLimits.${name}.burst`);
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const g = await this.store.takeTokens(s.bucket, tokens, tokens, s.shape);
      if (g.taken > 0) {
        this.emit("tokens", { limit: name, tokens, by: "task" });
        this.emit("waited", { limit: name, ms: Date.now() - started });
        return { at: g.at };
      }
      await sleep(g.retryAfterMs, signal);
    }
  }

  /**
   * One piece of a throttled stream: up to `max` bytes of bandwidth budget `name` (at most its
   * burst, at most 1 MiB), waiting until at least one byte is there. Resolves to the bytes taken.
   */
  async takeBytes(name: string, max: number, signal?: AbortSignal): Promise<number> {
    const s = this.bandwidthShape(name);
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const g = await this.store.takeTokens(s.bucket, 1, Math.max(1, Math.min(max, s.shape.burst, MAX_PIECE)), s.shape);
      if (g.taken > 0) {
        this.emit("bytes", { bandwidth: name, bytes: g.taken, waitedMs: Date.now() - started });
        return g.taken;
      }
      await sleep(g.retryAfterMs, signal);
    }
  }

  /**
   * `ctx.throttle`: `stream` piped through a Transform that lets bytes out only as the bandwidth
   * budget `name` gives them (see {@link throttleThrough}).
   */
  throttle(stream: ReadableSource, name: string, signal?: AbortSignal): Transform {
    this.bandwidthShape(name);
    return throttleThrough(stream, (max) => this.takeBytes(name, max, signal));
  }

  private bandwidthShape(name: string): { bucket: string; shape: BucketShape } {
    const s = this.bandwidths.get(name);
    if (!s) throw new BudgetError(`ctx.throttle(stream, "${name}"): bandwidth ${JSON.stringify(name)} is not declared; declared: ${[...this.bandwidths.keys()].map((k) => JSON.stringify(k)).join(", ") || "none"}. Declare it: defineConfig({ bandwidth: { ${name}: { bytesPerSecond: "100MB" } } })`);
    return s;
  }

  private rateShape(name: string): { bucket: string; shape: BucketShape } {
    const s = this.shapes.get(name);
    if (!s) throw new BudgetError(`rate limit ${JSON.stringify(name)} is not declared; declared: ${[...this.shapes.keys()].map((k) => JSON.stringify(k)).join(", ") || "none"}. Declare it: defineConfig({ rateLimits: { ${name}: { limit: 100, per: "1m" } } })`);
    return s;
  }
}

/**
 * `stream` piped through a Transform that lets each chunk out in pieces as `takePiece(max)` grants
 * bytes (whatever the budget holds, up to what is left of the chunk). The next chunk is not asked
 * for until this one is out: backpressure reaches the source. Errors of `stream` are forwarded.
 * `ctx.throttle` uses it in the worker, and in isolated (`thread`, `process`) attempts with a
 * `takePiece` that asks the worker.
 */
export function throttleThrough(stream: ReadableSource, takePiece: (max: number) => Promise<number>): Transform {
  const pass = async (chunk: Buffer, t: Transform): Promise<void> => {
    for (let offset = 0; offset < chunk.length; ) {
      // Destroyed downstream (the consumer gave up): take no more of the budget for it.
      if (t.destroyed) return;
      const taken = Math.min(await takePiece(chunk.length - offset), chunk.length - offset);
      t.push(chunk.subarray(offset, offset + taken));
      offset += taken;
    }
  };
  const transform = new Transform({
    transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
      pass(buf, this).then(() => callback(), (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },
  });
  stream.on("error", (err: Error) => transform.destroy(err));
  (stream as unknown as NodeJS.ReadableStream).pipe(transform);
  return transform;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      resolve();
    };
    const abort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    const timer = setTimeout(done, Math.max(1, Math.ceil(ms)));
    signal?.addEventListener("abort", abort, { once: true });
  });
}
