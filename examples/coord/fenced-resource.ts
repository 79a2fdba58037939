/**
 * The fenced resource from docs/coord.md: a store that refuses writes carrying a fencing token
 * older than one it has already seen. A holder whose lease lapsed (a long GC pause, a network
 * partition) still believes it holds the mutex; its late write arrives with its old token and is
 * refused, so it cannot overwrite the work of the holder that came after it.
 *
 * Run: node --import tsx examples/coord/fenced-resource.ts
 */
import { memoryBackend, Mutex } from "sluice/coord";

/** A write refused because a newer holder has written since. */
export class StaleFencingTokenError extends Error {
  readonly code = "SLUICE_STALE_FENCING_TOKEN";
  override readonly name = "StaleFencingTokenError";
  constructor(
    readonly key: string,
    readonly token: number,
    readonly highest: number,
  ) {
    super(`refused write to "${key}" with fencing token ${token}: token ${highest} already wrote; this holder's lease lapsed, stop and re-acquire`);
  }
}

/**
 * A key-value store guarded by fencing tokens. In production this check lives where the data is:
 * `UPDATE t SET v = $1, fence = $2 WHERE k = $3 AND fence <= $2` does the same in one statement.
 */
export class FencedStore {
  readonly #values = new Map<string, { value: string; token: number }>();

  write(key: string, value: string, token: number): void {
    const current = this.#values.get(key);
    if (current && token < current.token) throw new StaleFencingTokenError(key, token, current.token);
    this.#values.set(key, { value, token });
  }

  read(key: string): string | undefined {
    return this.#values.get(key)?.value;
  }
}

/** Blocks the event loop, the way a long GC pause or a CPU-bound step does: no lease renewal can run. */
export function pause(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

async function main(): Promise<void> {
  const backend = memoryBackend();
  const mutex = new Mutex({ backend, name: "report", leaseMs: 100 });
  const store = new FencedStore();

  const old = await mutex.acquire();
  pause(300); // longer than the lease: it lapses, and the mutex is free for someone else
  const current = await mutex.acquire({ timeout: 1_000 });
  store.write("report", "from the current holder", current.fencingToken);

  try {
    // The old holder wakes up and, unaware, writes with its old token.
    store.write("report", "late write from the old holder", old.fencingToken);
  } catch (error) {
    console.log(`refused: ${(error as Error).message}`);
  }
  console.log(`report = ${store.read("report")}`);
  await current.release();
  await old.release();
  await backend.close();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
