/**
 * `databases`: PostgreSQL databases tasks reach through `ctx.pg(name)`, each tied to a pool so
 * that the connections of all tasks together never exceed the pool's slots. Checked here like
 * every other option; opened lazily by `worker/databases.ts` in the process that runs the task.
 */
import { z } from "zod";
import { durationMs } from "./duration.js";
import { duration, isRecord, name, strict, wholeNumber } from "./fields.js";
import { problemAt } from "./issues.js";
import type { ConfigProblem, ResolvedDatabase } from "./resolved.js";
import type { DatabaseOptions, Duration } from "./types.js";
import { describe, didYouMean, quoteList } from "./words.js";

/** The shape of {@link DATABASE_DEFAULTS}. */
export type DatabaseDefaults = Required<Pick<DatabaseOptions, "connectTimeout" | "idleTimeout" | "maxLifetime" | "checkoutTimeout" | "retries" | "retryDelay">>;

/**
 * Defaults of each entry of `databases`.
 *
 * @example
 * import { DATABASE_DEFAULTS } from "sluice";
 * console.log(DATABASE_DEFAULTS.maxLifetime); // "30m"
 */
export const DATABASE_DEFAULTS = {
  /** Give up opening one connection after this long (then retry, see `retries`). @defaultValue `"10s"` */
  connectTimeout: "10s",
  /** Close a connection nobody used for this long. @defaultValue `"30s"` */
  idleTimeout: "30s",
  /** Close a connection this old once it is back in the pool (recycling: failovers, memory growth of long sessions). @defaultValue `"30m"` */
  maxLifetime: "30m",
  /** A task asking for more connections than its slots waits this long for one of its own to come back, then fails. @defaultValue `"30s"` */
  checkoutTimeout: "30s",
  /** Retries of a checkout that failed to connect (refused, timed out, too many connections). @defaultValue 3 */
  retries: 3,
  /** Delay before the first retry; doubled each time, with full jitter. @defaultValue `"250ms"` */
  retryDelay: "250ms",
} as const satisfies DatabaseDefaults;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `url`: a postgres:// URL, or `{ env: "NAME" }` read where the database is used. */
const urlSchema = z.unknown().transform((v, ctx): ResolvedDatabase["url"] => {
  if (typeof v === "string" && /^postgres(ql)?:\/\/./.test(v)) {
    try {
      new URL(v);
      return { kind: "url", url: v };
    } catch {
      // reported below
    }
  }
  if (isRecord(v) && Object.keys(v).length === 1 && typeof v.env === "string" && ENV_NAME.test(v.env)) return { kind: "env", env: v.env };
  const got =
    typeof v === "string"
      ? v === "" ? "an empty string" : "a string that is not a postgres:// URL"
      : isRecord(v) && "env" in v ? `{ env: ${describe(v.env)} }, which is not an environment variable name (letters, digits and _, not starting with a digit)` : describe(v);
  ctx.addIssue({
    code: "custom",
    message:
      `must be a connection URL like "postgres://user@host:5432/db", or { env: "WAREHOUSE_URL" } to read it from an environment variable ` +
      `where the task runs (got ${got}).` + (v === undefined ? " A value read from process.env at config load may be unset." : ""),
  });
  return z.NEVER;
});

/** One entry of `databases`. */
export const databaseSchema = strict({
  url: urlSchema,
  pool: name("pool name"),
  connectTimeout: duration(true).optional(),
  idleTimeout: duration(true).optional(),
  maxLifetime: duration(true).optional(),
  checkoutTimeout: duration(true).optional(),
  retries: wholeNumber(0, "use 0 to fail at the first connection error").optional(),
  retryDelay: duration().optional(),
  description: z.string().optional(),
});

/** `databases`: name → database. */
export const databasesSchema = z.record(name("database name"), databaseSchema, {
  error: (iss) => (iss.code === "invalid_type" ? `must be an object of name → { url, pool } (got ${describe(iss.input)}).` : undefined),
});

/** Reports databases naming a pool that is not declared. */
export function checkDatabasePools(raw: unknown, pools: ReadonlySet<string>, problems: ConfigProblem[]): void {
  if (!isRecord(raw)) return;
  const known = [...pools];
  for (const [db, entry] of Object.entries(raw)) {
    if (!isRecord(entry) || typeof entry.pool !== "string" || pools.has(entry.pool)) continue;
    const pool = entry.pool;
    problems.push(
      problemAt(
        { path: `databases.${db}` },
        "pool",
        `database ${JSON.stringify(db)} is tied to pool ${JSON.stringify(pool)}, which is not declared.${didYouMean(pool, known)} ` +
          `Declared pools: ${quoteList(known)}. Its connections are capped by that pool's slots, so declare it: ` +
          `defineConfig({ pools: { ${pool}: { slots: 4 } } }), or name a declared pool.`,
      ),
    );
  }
}

const ms = (value: Duration): number => (durationMs(value) as { ms: number }).ms;

/** A checked entry with its defaults applied. */
export function buildDatabase(dbName: string, d: z.output<typeof databaseSchema>): ResolvedDatabase {
  return {
    name: dbName,
    url: d.url,
    pool: d.pool,
    connectTimeoutMs: d.connectTimeout ?? ms(DATABASE_DEFAULTS.connectTimeout),
    idleTimeoutMs: d.idleTimeout ?? ms(DATABASE_DEFAULTS.idleTimeout),
    maxLifetimeMs: d.maxLifetime ?? ms(DATABASE_DEFAULTS.maxLifetime),
    checkoutTimeoutMs: d.checkoutTimeout ?? ms(DATABASE_DEFAULTS.checkoutTimeout),
    retries: d.retries ?? DATABASE_DEFAULTS.retries,
    retryDelayMs: d.retryDelay ?? ms(DATABASE_DEFAULTS.retryDelay),
    description: d.description,
  };
}
