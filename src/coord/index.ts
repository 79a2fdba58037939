/**
 * `sluice/coord`: coordination primitives for any Node service, without the orchestrator.
 *
 * @example
 * import { every, Semaphore, redisBackend } from "sluice/coord";
 * const backend = redisBackend({ redis: new Redis() });
 * const api = new Semaphore({ backend, name: "partner-api", limit: 3 });
 * every(10_000, async () => { await using _ = await api.acquire(); await sync(); }, { name: "sync" });
 */
export type { CoordBackend, RateRequest, RateResult, TryAcquireRequest, TryAcquireResult } from "./backend.js";
export { memoryBackend, type MemoryBackendOptions } from "./backends/memory.js";
export { postgresBackend, type PostgresBackendOptions } from "./backends/postgres.js";
export { redisBackend, type RedisBackendOptions } from "./backends/redis.js";
export { COORD_DEFAULTS } from "./defaults.js";
export { AcquireAbortedError, AcquireTimeoutError, CoordError, CoordOptionsError, LeaseLostError } from "./errors.js";
export { every, type CoordLogger, type CycleContext, type EveryHandle, type EveryOptions, type SkipReason } from "./every.js";
export { Mutex, type MutexOptions } from "./mutex.js";
export { RateLimiter, type RateLimiterOptions, type TakeOptions, type TakeResult } from "./rate-limiter.js";
export { Semaphore, type AcquireOptions, type Permit, type SemaphoreOptions } from "./semaphore.js";
