/**
 * Reading a sandbox's store from the test process, for values a test waits on or checks that are
 * not about a read command's output: a `sluice runs --json` or `sluice history --json` child costs
 * a Node process and a config load (0.3–2 s on a loaded CI machine) per look, this a query.
 *
 * Kept apart from test/cli/helpers.ts on purpose: the fixture configs import that module inside
 * the CLI's process, which must not load the store's code a second time.
 */
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { openStore } from "../../src/store/open.js";
import { isWorkerStore, type AttemptQuery, type RunQuery, type Store, type WorkerInfo } from "../../src/store/types.js";

/** Opens the store at `db` read-only (as the read commands do), runs `read`, closes it. */
export async function readStore<T>(db: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(db, { readonly: true });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** What `sluice runs --json` lists (without the skipped ticks), newest first; `limit` 50 as there. */
export function storeRuns(db: string, query: RunQuery = {}): Promise<RunRecord[]> {
  return readStore(db, (s) => s.listRuns({ limit: 50, ...query }));
}

/** What `sluice history --json` lists, newest first; `limit` 100 as there. */
export function storeAttempts(db: string, query: AttemptQuery = {}): Promise<AttemptRecord[]> {
  return readStore(db, (s) => s.listAttempts({ limit: 100, ...query }));
}

/** One run, or undefined. */
export function storeRun(db: string, id: number): Promise<RunRecord | undefined> {
  return readStore(db, (s) => s.getRun(id));
}

/** The worker processes recorded in a PostgreSQL store (what `sluice workers --json` is made from). */
export function storeWorkers(db: string): Promise<WorkerInfo[]> {
  return readStore(db, async (s) => {
    if (!isWorkerStore(s)) throw new Error(`the ${s.kind} store has no worker processes`);
    return s.listWorkers();
  });
}

/** Creates (and migrates) the store at `db`, as `sluice migrate` does, without a child process. */
export async function migrateStore(db: string): Promise<void> {
  const store = await openStore(db);
  await store.close();
}
