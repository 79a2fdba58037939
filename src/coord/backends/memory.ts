/**
 * In-memory backend: coordinates the callers of one process (e.g. several loops of one service).
 * Same semantics as the shared backends: FIFO queue, leases with TTL, fencing tokens, GCRA.
 */
import { EventEmitter } from "node:events";
import type { CoordBackend, RateRequest, RateResult, TryAcquireRequest, TryAcquireResult } from "../backend.js";

interface SemaphoreState {
  holders: Map<string, { permits: number; expiresAt: number }>;
  /** Insertion order is queue order. */
  queue: Map<string, number>;
  fence: number;
}

/** Options of {@link memoryBackend}. */
export interface MemoryBackendOptions {
  /** Clock in ms (tests drive it). @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * A backend for callers in this process only.
 *
 * @example
 * const backend = memoryBackend();
 * const sem = new Semaphore({ backend, name: "api", limit: 3 });
 */
export function memoryBackend(options: MemoryBackendOptions = {}): CoordBackend {
  const now = options.now ?? Date.now;
  const semaphores = new Map<string, SemaphoreState>();
  const tats = new Map<string, number>();
  const wakes = new EventEmitter();
  wakes.setMaxListeners(0);

  const state = (key: string): SemaphoreState => {
    let s = semaphores.get(key);
    if (!s) semaphores.set(key, (s = { holders: new Map(), queue: new Map(), fence: 0 }));
    return s;
  };
  const wake = (key: string): void => {
    // Asynchronously, like a notification from a server, so a release never re-enters a caller.
    queueMicrotask(() => wakes.emit(key));
  };

  return {
    kind: "memory",
    async tryAcquire(r: TryAcquireRequest): Promise<TryAcquireResult> {
      const s = state(r.key);
      const t = now();
      for (const [id, h] of s.holders) if (h.expiresAt <= t) s.holders.delete(id);
      for (const [id, expiresAt] of s.queue) if (expiresAt <= t && id !== r.id) s.queue.delete(id);
      s.queue.set(r.id, t + r.ttlMs); // keeps its place when already queued
      const head = s.queue.keys().next().value;
      let used = 0;
      for (const h of s.holders.values()) used += h.permits;
      if (head !== r.id || used + r.permits > r.limit) return { acquired: false };
      s.queue.delete(r.id);
      s.holders.set(r.id, { permits: r.permits, expiresAt: t + r.ttlMs });
      s.fence += 1;
      // The next waiter may fit in what is left.
      if (s.queue.size > 0 && used + r.permits < r.limit) wake(r.key);
      return { acquired: true, fencingToken: s.fence };
    },
    async renew(key, id, ttlMs) {
      const h = semaphores.get(key)?.holders.get(id);
      const t = now();
      if (!h || h.expiresAt <= t) return false;
      h.expiresAt = t + ttlMs;
      return true;
    },
    async release(key, id) {
      if (semaphores.get(key)?.holders.delete(id)) wake(key);
    },
    async leave(key, id) {
      if (semaphores.get(key)?.queue.delete(id)) wake(key);
    },
    async subscribe(key, onWake) {
      wakes.on(key, onWake);
      return async () => void wakes.off(key, onWake);
    },
    async rate(r: RateRequest): Promise<RateResult> {
      const t = now();
      const { admitted, tat, retryAfterMs } = gcra(tats.get(r.key) ?? t, t, r);
      if (admitted) tats.set(r.key, tat);
      return { admitted, retryAfterMs, at: t };
    },
    async close() {
      wakes.removeAllListeners();
    },
  };
}

/**
 * The generic cell rate algorithm: a "theoretical arrival time" per key. An event of cost `c` is
 * admitted when `max(tat, now) + c·T − burst·T ≤ now`. Over any window of length `w` it admits at
 * most `burst + w / T` events. The same formula runs in the Redis and PostgreSQL backends.
 */
export function gcra(tat: number, now: number, r: Pick<RateRequest, "cost" | "emissionMs" | "burst">): { admitted: boolean; tat: number; retryAfterMs: number } {
  const newTat = Math.max(tat, now) + r.cost * r.emissionMs;
  const allowAt = newTat - r.burst * r.emissionMs;
  if (allowAt > now) return { admitted: false, tat, retryAfterMs: allowAt - now };
  return { admitted: true, tat: newTat, retryAfterMs: 0 };
}
