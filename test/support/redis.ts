/**
 * Redis for tests: the server at `SLUICE_TEST_REDIS_URL` (default the local one), a key prefix per
 * test file, deleted after.
 */
import { Redis } from "ioredis";

/** The test server. */
export const TEST_REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let counter = 0;

/** A key prefix no other test (file, process, run) uses. */
export function freshPrefix(name = "t"): string {
  return `sluice-test:${name}:${process.pid}:${Date.now().toString(36)}:${++counter}`;
}

/** Deletes every key under the prefixes. */
export async function dropPrefixes(...prefixes: string[]): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    for (const prefix of prefixes) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
  } finally {
    await redis.quit();
  }
}
