/**
 * Retries of lock-taking steps: each attempt runs under `SET LOCAL lock_timeout`; lock timeouts
 * (55P03), deadlocks (40P01) and serialization failures (40001) are retried with exponential
 * backoff and full jitter until a deadline; any other error (data errors) is thrown at once.
 */
import type pg from "pg";
import { lockHolders } from "./blockers.js";
import { PgDeadlineError } from "./errors.js";

/** SQLSTATEs worth another attempt. */
export const RETRYABLE_CODES: readonly string[] = ["55P03", "40P01", "40001"];

/** What a load reports as it goes. */
export type PgLoadEvent =
  | { type: "step"; step: string }
  | { type: "retry"; step: string; code: string; attempt: number; delayMs: number; blockers: Awaited<ReturnType<typeof lockHolders>> }
  | { type: "warning"; message: string };

/** Retry settings. */
export interface RetryOptions {
  lockTimeoutMs: number;
  deadline: number;
  baseDelayMs: number;
  maxDelayMs: number;
  onEvent: (e: PgLoadEvent) => void;
}

/** Running totals a load reports. */
export interface RetryStats {
  retries: number;
  lockWaitMs: number;
}

/** True for errors another attempt may get past. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_CODES.includes(code);
}

/**
 * Runs `body` in a transaction with `SET LOCAL lock_timeout`, retrying lock conflicts.
 * `relation` (quoted) is the table whose lock holders are logged on each lock timeout.
 *
 * @example
 * await inLockedTransaction(client, "swap", '"t"', opts, stats, async () => { await client.query("ALTER TABLE ...") });
 */
export async function inLockedTransaction<T>(
  client: pg.ClientBase,
  step: string,
  relation: string,
  opts: RetryOptions,
  stats: RetryStats,
  body: () => Promise<T>,
  transactional = true,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    try {
      if (transactional) {
        await client.query("BEGIN");
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs))}`);
      } else {
        await client.query(`SET lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs))}`);
      }
      const result = await body();
      if (transactional) await client.query("COMMIT");
      else await client.query("RESET lock_timeout");
      return result;
    } catch (err) {
      if (transactional) await client.query("ROLLBACK").catch(() => undefined);
      else await client.query("RESET lock_timeout").catch(() => undefined);
      if (!isRetryable(err)) throw err;
      const code = (err as { code: string }).code;
      if (code === "55P03") stats.lockWaitMs += Date.now() - started;
      const delay = Math.random() * Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
      if (Date.now() + delay >= opts.deadline) throw new PgDeadlineError(step, attempt, { cause: err });
      const blockers = code === "55P03" ? await lockHolders(client, relation).catch(() => []) : [];
      stats.retries++;
      opts.onEvent({ type: "retry", step, code, attempt, delayMs: Math.round(delay), blockers });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
