import { hostname } from "node:os";
import { Engine } from "../core/engine/engine.js";
import type { StartCommand } from "../core/engine/types.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { DefinitionsJson } from "../define/stored.js";
import { isTokenStore, isWorkerStore } from "../store/types.js";
import { closedDefinitions, placementWorkers, queueCapacity, tooBigTasks } from "../scheduler/scheduler.js";
import { WORKER_DEFAULTS } from "../worker/remote-worker.js";
import { defaultMemoryBudgetMb } from "../worker/memory-budget.js";
import { describeLocation, openStore, resolveStoreUrl, type StoreLocation } from "../store/open.js";

export { describeLocation };
import type { Store } from "../store/types.js";
import { CliError } from "./errors.js";
import { storeHome, type StoreOption } from "./options.js";

/**
 * Where the store is: `--db`, else `SLUICE_DATABASE_URL` (both relative to the working folder),
 * else `.sluice/sluice.db` beside the config.
 */
export function storeCwd(opts: StoreOption): string {
  const env = process.env.SLUICE_DATABASE_URL;
  return opts.db !== undefined || (env !== undefined && env.trim() !== "") ? process.cwd() : storeHome(opts);
}

/** The `source` of {@link configFor} when the definitions come from the store, not a file. */
export const STORED = "the definitions recorded in the store";

/**
 * The definitions a command works with: the config file (named, or found here or in a parent
 * folder), else the definitions the last scheduler recorded in the store — so `explain`,
 * `cancel`, `pools` and `trigger` work with only `--db`.
 */
export async function configFor(opts: StoreOption, store: Store): Promise<{ config: ResolvedConfig; source: string }> {
  const { findConfig, loadConfig } = await import("./load-config.js");
  const path = findConfig({ file: opts.config });
  if (path !== undefined) {
    const loaded = await loadConfig({ file: path });
    return { config: loaded.config, source: loaded.path };
  }
  const stored = await store.loadDefinitions();
  if (stored) {
    const { reviveDefinitions } = await import("../define/stored.js");
    return { config: reviveDefinitions(stored.config as DefinitionsJson), source: STORED };
  }
  throw new CliError("no sluice.config.ts here or in a parent folder, and the store has no recorded definitions; name the config with -c, or start `sluice run` once on this store (it records them)");
}

/** The store's location without opening it. */
export function storeLocation(opts: StoreOption): StoreLocation {
  try {
    return resolveStoreUrl(opts.db, { cwd: storeCwd(opts) });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * Open the store named by `--db` / `SLUICE_DATABASE_URL` / `.sluice/sluice.db` beside the config.
 * Read commands open it read-only: they work on a store the user may only read, and never create
 * one ("no store at …", exit 2).
 */
export async function storeFrom(opts: StoreOption, mode: { readonly?: boolean; mustExist?: boolean } = {}): Promise<Store> {
  try {
    if (mode.mustExist && !mode.readonly) {
      // A maintenance command (prune) writes, but must not create a store either.
      await (await openStore(opts.db, { cwd: storeCwd(opts), readonly: true })).close();
    }
    return await openStore(opts.db, { cwd: storeCwd(opts), readonly: mode.readonly ?? false });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The engine as the store recorded it, for a process that is not the scheduler: running attempts
 * keep their resources (they are not marked lost) and no scheduled run is created.
 */
export async function restoredEngine(config: ResolvedConfig, store: Store, now: number): Promise<Engine> {
  if (isWorkerStore(store)) {
    // Worker processes run the tasks: queues offer what their live workers do.
    const engine = new Engine(config, { now, restore: await store.loadActiveState(), recover: false, workers: "workers", rateBudget: "external" });
    await offerStoredTokens(config, store, engine, now);
    const live = (await store.listWorkers()).filter((w) => w.stoppedAt === null && now - w.heartbeatAt < WORKER_DEFAULTS.leaseTtlMs);
    for (const [queue, c] of queueCapacity(config, live)) engine.setQueueCapacity(queue, c.slots, c.memoryMb);
    const closed = closedDefinitions(config, live);
    const tooBig = tooBigTasks(config, live);
    for (const p of config.pipelines) for (const t of p.tasks) if (closed.has(t.key) || tooBig.has(t.key)) engine.setDefinitionAccepted(t.key, !closed.has(t.key), tooBig.get(t.key));
    engine.setWorkers(placementWorkers(live));
    engine.disableSchedules();
    return engine;
  }
  // The embedded store's worker is `sluice run` on this host: its default budget is this host's.
  // The embedded store's token buckets live in the `sluice run` process: unknown here, so none are
  // offered (tasks waiting for tokens say so, without a time for the next one).
  const engine = new Engine(config, { now, restore: await store.loadActiveState(), recover: false, workerMemoryMb: config.worker.memoryMb ?? defaultMemoryBudgetMb(), rateBudget: "external" });
  engine.disableSchedules();
  return engine;
}

/** Offers the engine what each rate limit's bucket in the store holds now (taking nothing). */
async function offerStoredTokens(config: ResolvedConfig, store: Store, engine: Engine, now: number): Promise<void> {
  if (!isTokenStore(store) || !store.peekTokens) return;
  for (const r of Object.values(config.rateLimits ?? {})) {
    const { tokens, nextTokenMs } = await store.peekTokens(`rate:${r.name}`, { emissionMs: r.perMs / r.limit, burst: r.burst });
    engine.offerTokens(r.name, tokens, tokens < r.burst ? now + nextTokenMs : undefined);
  }
}

/**
 * A read-only picture of what the scheduler sees: the engine rebuilt from the store, running
 * attempts still holding their resources, one admission pass so reservations and blocking are
 * as the live scheduler computes them. Tasks that would start in that pass are reported as
 * about to start.
 */
export async function engineView(config: ResolvedConfig, store: Store, now = Date.now()): Promise<{ engine: Engine; facts: Engine; aboutToStart: Set<string>; starts: StartCommand[] }> {
  const [engine, facts] = await Promise.all([restoredEngine(config, store, now), restoredEngine(config, store, now)]);
  const out = engine.advance(now);
  return { engine, facts, aboutToStart: new Set(out.start.map((s) => `${s.runId}/${s.task}`)), starts: out.start };
}

/**
 * Run `fn` holding the scheduler lease when no scheduler runs on this store (the change is made
 * here); returns `undefined` when a scheduler holds it (the caller sends it a request instead).
 * Other CLI commands hold the lease only for a moment: wait for them (50 parallel `trigger`s
 * with no scheduler running all create their run).
 */
export async function withLocalControl<T>(store: Store, fn: () => Promise<T>): Promise<T | undefined> {
  const owner = `${hostname()}:${process.pid}:cli`;
  const claim = () => store.acquireSchedulerLease({ owner, pid: process.pid, host: hostname(), ttlMs: 15_000, now: Date.now() });
  let lease = await claim();
  for (const deadline = Date.now() + 60_000; !lease.acquired && lease.owner.endsWith(":cli") && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
    lease = await claim();
  }
  if (!lease.acquired) return undefined;
  try {
    return await fn();
  } finally {
    await store.releaseSchedulerLease(owner);
  }
}

/**
 * Wait for the scheduler to answer a request sent through the store. If it does not answer within
 * `timeoutMs`, the request is withdrawn, so it can never take effect later; while a live scheduler
 * holds it (it took it and still holds its lease), the answer is on its way: keep waiting.
 */
export async function awaitRequest(store: Store, id: number, timeoutMs = 15_000): Promise<{ runId: number | null; error: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const req = await store.getRequest(id);
    if (req?.resolvedAt != null) return { runId: req.runId, error: req.error };
    if (Date.now() >= deadline) {
      const why = `withdrawn: the scheduler did not answer within ${Math.round(timeoutMs / 1000)}s`;
      if (await store.abandonRequest(id, Date.now(), why)) {
        throw new CliError(`the running scheduler did not answer within ${Math.round(timeoutMs / 1000)}s; the request (${id}) was withdrawn and will not take effect. Check the scheduler's log`, 1);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
