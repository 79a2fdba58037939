/** The three backends for a test file: each with its own schema / key prefix, cleaned up by `drop()`. */
import { postgresBackend, redisBackend, memoryBackend, type CoordBackend } from "../../src/coord/index.js";
import { TEST_DATABASE_URL, dropSchemas, freshSchema } from "../support/pg.js";
import { TEST_REDIS_URL, dropPrefixes, freshPrefix } from "../support/redis.js";

export interface BackendFixture {
  kind: "memory" | "postgres" | "redis";
  /** Where a child process (children/holder.mjs) finds the same backend: `memory`, `postgres <url> <schema>`, `redis <url> <prefix>`. */
  where: string[];
  open(): CoordBackend;
  drop(): Promise<void>;
}

export function backendFixture(kind: BackendFixture["kind"], name: string): BackendFixture {
  switch (kind) {
    case "memory": {
      let shared: CoordBackend | null = null;
      return { kind, where: ["memory"], open: () => (shared ??= memoryBackend()), drop: async () => {} };
    }
    case "postgres": {
      const schema = freshSchema(`coord_${name}`);
      return { kind, where: ["postgres", TEST_DATABASE_URL, schema], open: () => postgresBackend({ pool: TEST_DATABASE_URL, schema }), drop: () => dropSchemas(schema) };
    }
    case "redis": {
      const prefix = freshPrefix(name);
      return { kind, where: ["redis", TEST_REDIS_URL, prefix], open: () => redisBackend({ redis: TEST_REDIS_URL, prefix }), drop: () => dropPrefixes(prefix) };
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown backend ${String(never)}`);
    }
  }
}
