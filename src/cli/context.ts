import { hostname } from "node:os";
import { Engine } from "../core/engine/engine.js";
import type { ResolvedConfig } from "../define/resolved.js";
import { openStore } from "../store/open.js";
import type { Store } from "../store/types.js";
import { CliError } from "./errors.js";

export interface StoreOption {
  db?: string;
}

/** Open the store named by `--db` / `SLUICE_DATABASE_URL` / `.sluice/sluice.db`. */
export async function storeFrom(opts: StoreOption): Promise<Store> {
  try {
    return await openStore(opts.db);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/** Parse a whole number option. */
export function intOption(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${value}" must be a whole number ≥ ${min}`);
  return n;
}

/**
 * The engine as the store recorded it, for a process that is not the scheduler: running attempts
 * keep their resources (they are not marked lost) and no scheduled run is created.
 */
export async function restoredEngine(config: ResolvedConfig, store: Store, now: number): Promise<Engine> {
  const engine = new Engine(config, { now, restore: await store.loadActiveState(), recover: false });
  engine.disableSchedules();
  return engine;
}

/**
 * A read-only picture of what the scheduler sees: the engine rebuilt from the store, running
 * attempts still holding their resources, one admission pass so reservations and blocking are
 * as the live scheduler computes them. Tasks that would start in that pass are reported as
 * about to start.
 */
export async function engineView(config: ResolvedConfig, store: Store, now = Date.now()): Promise<{ engine: Engine; aboutToStart: Set<string> }> {
  const engine = await restoredEngine(config, store, now);
  const out = engine.advance(now);
  return { engine, aboutToStart: new Set(out.start.map((s) => `${s.runId}/${s.task}`)) };
}

/**
 * Run `fn` holding the scheduler lease when no scheduler runs on this store (the change is made
 * here); returns `undefined` when a scheduler holds it (the caller sends it a request instead).
 */
export async function withLocalControl<T>(store: Store, fn: () => Promise<T>): Promise<T | undefined> {
  const owner = `${hostname()}:${process.pid}:cli`;
  const lease = await store.acquireSchedulerLease({ owner, pid: process.pid, host: hostname(), ttlMs: 15_000, now: Date.now() });
  if (!lease.acquired) return undefined;
  try {
    return await fn();
  } finally {
    await store.releaseSchedulerLease(owner);
  }
}

/** Wait for the scheduler to answer a request sent through the store. */
export async function awaitRequest(store: Store, id: number, timeoutMs = 15_000): Promise<{ runId: number | null; error: string | null }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const req = await store.getRequest(id);
    if (req?.resolvedAt != null) return { runId: req.runId, error: req.error };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CliError(`the running scheduler did not answer within ${Math.round(timeoutMs / 1000)}s (request ${id}); check its log`, 1);
}
