/**
 * `partition`: load a new table (`LIKE parent`), add a CHECK matching its bounds (so ATTACH needs
 * no validation scan), ATTACH PARTITION under lock_timeout, drop the now redundant CHECK, and
 * optionally DETACH an old partition CONCURRENTLY. A crashed run leaves an unattached table with
 * the partition's name; the next run drops it (an attached partition is never dropped).
 */
import type { ModeContext, ModeResult } from "../context.js";
import { copyRows } from "../copy.js";
import { PgOptionsError } from "../errors.js";
import { qualified, quoteIdent, sibling } from "../identifiers.js";
import { inLockedTransaction } from "../retry.js";

/** The partition to load, and an old one to detach. */
export interface PartitionOptions {
  /** Name of the new partition (same schema as the parent). */
  name: string;
  /** The bounds, SQL after `FOR VALUES`, e.g. `FROM ('2026-01-01') TO ('2026-02-01')`. Trusted SQL. */
  bounds: string;
  /** A CHECK expression equal to the bounds, e.g. `day >= '2026-01-01' AND day < '2026-02-01'`. Trusted SQL. */
  check: string;
  /** An old partition to detach after the attach (its table is kept, detached). */
  detach?: string;
  /** Detach with CONCURRENTLY (PostgreSQL 14+; no ACCESS EXCLUSIVE on the parent). Default true. */
  concurrently?: boolean;
}

/**
 * Runs a partition load.
 *
 * @example
 * await load({ db, table: "events", mode: "partition", columns, rows,
 *   partition: { name: "events_2026_01", bounds: "FROM ('2026-01-01') TO ('2026-02-01')", check: "day >= '2026-01-01' AND day < '2026-02-01'" } });
 */
export async function partition(ctx: ModeContext, p: PartitionOptions | undefined): Promise<ModeResult> {
  if (p === undefined) throw new PgOptionsError(`mode "partition" needs partition: { name, bounds, check }`);
  const part = sibling({ ...ctx.table, name: p.name }, "");
  const partQ = qualified(part);
  await ctx.step("cleanup");
  const { rows } = await ctx.client.query<{ attached: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1)) AS attached`,
    [partQ],
  );
  if (rows[0]?.attached) throw new PgOptionsError(`${partQ} is already attached to a partitioned table; load into a new partition name`);
  await inLockedTransaction(ctx.client, "cleanup", partQ, ctx.retry, ctx.stats, async () => {
    await ctx.client.query(`DROP TABLE IF EXISTS ${partQ}`);
  });
  await ctx.step("create");
  await ctx.client.query(`CREATE TABLE ${partQ} (LIKE ${ctx.live} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  await ctx.client.query(`ALTER TABLE ${partQ} ADD CONSTRAINT ${quoteIdent("__sluice_bounds")} CHECK (${p.check})`);
  await ctx.step("copy");
  const rowsWritten = await copyRows(ctx.client, partQ, ctx.columns, ctx.rows);
  await ctx.step("analyze");
  await ctx.client.query(`ANALYZE ${partQ}`);
  await ctx.step("attach");
  await inLockedTransaction(ctx.client, "attach", ctx.live, ctx.retry, ctx.stats, async () => {
    await ctx.client.query(`ALTER TABLE ${ctx.live} ATTACH PARTITION ${partQ} FOR VALUES ${p.bounds}`);
    await ctx.client.query(`ALTER TABLE ${partQ} DROP CONSTRAINT ${quoteIdent("__sluice_bounds")}`);
  });
  if (p.detach !== undefined) {
    await ctx.step("detach");
    const oldQ = qualified({ ...ctx.table, name: p.detach });
    const concurrently = p.concurrently ?? true;
    await inLockedTransaction(
      ctx.client,
      "detach",
      ctx.live,
      ctx.retry,
      ctx.stats,
      async () => {
        await ctx.client.query(`ALTER TABLE ${ctx.live} DETACH PARTITION ${oldQ}${concurrently ? " CONCURRENTLY" : ""}`);
      },
      !concurrently,
    );
  }
  return { rowsWritten };
}
