/**
 * One webhook target: a bounded queue of notifications POSTed as JSON, in order, one request at a
 * time, each retried with exponential backoff until it is delivered, refused for good (a 4xx other
 * than 408/429), or older than `maxAge`. Everything here runs on timers and promises: the caller
 * only ever pushes onto the queue, which costs O(1) and never waits.
 */
import type { Logger } from "pino";
import type { ResolvedWebhook } from "../define/resolved.js";
import type { Notification } from "../define/types.js";

/** What a target has done so far; `sluice`'s logs and the tests read it. */
export interface WebhookStats {
  url: string;
  /** Notifications the target answered with a 2xx. */
  delivered: number;
  /** Requests sent, retries included. */
  requests: number;
  /** Requests that failed (network error, timeout, non-2xx) and were retried. */
  retries: number;
  /** Given up: refused with a 4xx (other than 408/429), older than `maxAge`, or still queued when Sluice stopped. */
  failed: number;
  /** Dropped, oldest first, because the queue was full. */
  dropped: number;
  /** Waiting, plus the one being sent. */
  pending: number;
  /** The latest failure, for people. */
  lastError: string | null;
}

/** Injectable edges, for tests. */
export interface WebhookDeps {
  logger: Logger;
  /** @defaultValue the global `fetch` */
  fetch?: typeof fetch;
  /** @defaultValue `Date.now` */
  now?: () => number;
  /** Returns [0, 1); jitter of the backoff. @defaultValue `Math.random` */
  random?: () => number;
  /** Sent as `user-agent`. */
  userAgent?: string;
}

interface Queued {
  notification: Notification;
  body: string;
  enqueuedAt: number;
  tries: number;
}

/** How often the "queue full" warning repeats (with the count dropped since), at most. */
const DROP_WARNING_EVERY_MS = 10_000;

/** Status codes worth retrying: the server may take the same request later. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/**
 * Delivers notifications to one URL.
 *
 * @example
 * const target = new WebhookTarget(config.notify.webhooks[0], { logger });
 * target.enqueue(notification); // returns at once; delivery happens in the background
 * await target.close(Date.now() + 5000); // flush what it can before shutdown
 */
export class WebhookTarget {
  private readonly queue: Queued[] = [];
  private current: Queued | undefined;
  private pumping = false;
  private closing = false;
  private deadline = Infinity;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private idle: Promise<void> = Promise.resolve();
  private droppedSinceWarning = 0;
  private lastDropWarning = -Infinity;
  private readonly counts = { delivered: 0, requests: 0, retries: 0, failed: 0, dropped: 0 };
  private lastError: string | null = null;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    readonly options: ResolvedWebhook,
    private readonly deps: WebhookDeps,
  ) {
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** Whether this target takes notifications of this type and pipeline. */
  wants(type: Notification["type"], pipeline: string): boolean {
    return this.options.events.includes(type) && (this.options.pipelines === undefined || this.options.pipelines.includes(pipeline));
  }

  /** Queue one notification; returns at once. When the queue is full the oldest waiting one is dropped. */
  enqueue(notification: Notification): void {
    if (this.closing) return;
    if (this.queue.length >= this.options.queueSize) {
      this.queue.shift();
      this.counts.dropped++;
      this.droppedSinceWarning++;
      const now = this.now();
      if (now - this.lastDropWarning >= DROP_WARNING_EVERY_MS) {
        this.deps.logger.warn(
          { event: "notify.dropped", url: this.redactedUrl, dropped: this.droppedSinceWarning, total: this.counts.dropped, queueSize: this.options.queueSize },
          `webhook ${this.redactedUrl}: queue full (${this.options.queueSize} waiting); dropped the oldest ${this.droppedSinceWarning} notification(s) (${this.counts.dropped} in all). The target is down or slower than the events; raise queueSize or narrow events.`,
        );
        this.lastDropWarning = now;
        this.droppedSinceWarning = 0;
      }
    }
    this.queue.push({ notification, body: JSON.stringify(notification), enqueuedAt: this.now(), tries: 0 });
    if (!this.pumping) {
      this.pumping = true;
      this.idle = this.pump();
    }
  }

  /** Counters and the queue's length. */
  stats(): WebhookStats {
    return { url: this.redactedUrl, ...this.counts, pending: this.queue.length + (this.current ? 1 : 0), lastError: this.lastError };
  }

  /**
   * Stop taking notifications and deliver what is queued until `deadline` (epoch ms); what is
   * left then is given up and logged. Idempotent.
   */
  async close(deadline: number): Promise<void> {
    this.closing = true;
    this.deadline = Math.min(this.deadline, deadline);
    this.wakeSleep?.();
    await this.idle;
  }

  /** The URL without credentials or query (which may carry a token), for logs. */
  private get redactedUrl(): string {
    const url = new URL(this.options.url);
    return `${url.protocol}//${url.host}${url.pathname}`;
  }

  private async pump(): Promise<void> {
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        if (this.closing && this.now() >= this.deadline) {
          this.abandon(1 + this.queue.splice(0).length);
          break;
        }
        this.current = next;
        await this.deliver(next);
        this.current = undefined;
      }
    } finally {
      this.current = undefined;
      this.pumping = false;
    }
  }

  /** Sends one notification until it is delivered or given up. */
  private async deliver(item: Queued): Promise<void> {
    for (;;) {
      if (this.closing && this.now() >= this.deadline) return this.abandon(1 + this.queue.splice(0).length);
      if (this.now() - item.enqueuedAt > this.options.maxAgeMs) return this.giveUp(item, `not delivered within maxAge (${this.options.maxAgeMs} ms)`);
      item.tries++;
      this.counts.requests++;
      const outcome = await this.post(item);
      if (outcome === "delivered") {
        this.counts.delivered++;
        if (item.tries > 1) this.deps.logger.info({ event: "notify.delivered", url: this.redactedUrl, type: item.notification.type, id: item.notification.id, tries: item.tries }, `webhook ${this.redactedUrl}: delivered ${item.notification.type} after ${item.tries} requests`);
        return;
      }
      if (outcome.final) return this.giveUp(item, outcome.why);
      this.counts.retries++;
      this.lastError = outcome.why;
      // Once per notification while the target fails; its recovery is logged when it delivers.
      if (item.tries === 1) this.deps.logger.warn({ event: "notify.retry", url: this.redactedUrl, type: item.notification.type, id: item.notification.id }, `webhook ${this.redactedUrl}: ${outcome.why}; retrying with backoff`);
      await this.sleep(this.backoff(item.tries));
    }
  }

  private async post(item: Queued): Promise<"delivered" | { final: boolean; why: string }> {
    const timeout = Math.max(1, Math.min(this.options.timeoutMs, this.closing ? this.deadline - this.now() : Infinity));
    try {
      const response = await this.fetch(this.options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.deps.userAgent ? { "user-agent": this.deps.userAgent } : {}),
          "x-sluice-event": item.notification.type,
          "x-sluice-delivery": item.notification.id,
          ...this.options.headers,
        },
        body: item.body,
        signal: AbortSignal.timeout(timeout),
      });
      // The body is not needed; reading it frees the connection for the next request.
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return "delivered";
      const final = response.status >= 400 && response.status < 500 && !RETRYABLE_4XX.has(response.status);
      return { final, why: `answered ${response.status} ${response.statusText}`.trim() };
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${timeout} ms` : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err));
      return { final: false, why: `request failed (${why})` };
    }
  }

  /** The delay before retry `tries`: doubled each time from `retryDelay`, capped, ±20% jitter. */
  private backoff(tries: number): number {
    const base = Math.min(this.options.maxRetryDelayMs, this.options.retryDelayMs * 2 ** Math.min(tries - 1, 30));
    return Math.round(base * (0.8 + 0.4 * this.random()));
  }

  private sleep(ms: number): Promise<void> {
    const until = this.closing ? Math.min(ms, Math.max(0, this.deadline - this.now())) : ms;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.sleepTimer);
        this.wakeSleep = undefined;
        resolve();
      };
      this.wakeSleep = done;
      this.sleepTimer = setTimeout(done, until);
      // A retry waiting while Sluice runs must not keep a process alive; while closing it must,
      // or the process could exit in the middle of its shutdown (before the store is closed).
      if (!this.closing) this.sleepTimer.unref();
    });
  }

  /** Sluice is stopping and the drain time is up: what is left is not sent. */
  private abandon(count: number): void {
    this.counts.failed += count;
    this.lastError = "Sluice stopped before delivery";
    this.deps.logger.error({ event: "notify.failed", url: this.redactedUrl, count }, `webhook ${this.redactedUrl}: ${count} notification(s) not delivered before Sluice stopped`);
  }

  private giveUp(item: Queued, why: string): void {
    this.counts.failed++;
    this.lastError = why;
    this.deps.logger.error(
      { event: "notify.failed", url: this.redactedUrl, type: item.notification.type, id: item.notification.id, tries: item.tries },
      `webhook ${this.redactedUrl}: gave up on ${item.notification.type} (${item.notification.message}) after ${item.tries} request(s): ${why}`,
    );
  }
}
