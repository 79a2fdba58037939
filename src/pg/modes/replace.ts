/**
 * `replace`: rows are staged once; then one transaction under lock_timeout DELETEs the window
 * (or everything) and inserts the staged rows. Only ROW EXCLUSIVE: readers keep reading their
 * snapshot. Reports the dead tuples it leaves (the deleted rows) for autovacuum to reclaim.
 */
import type { ModeContext, ModeResult } from "../context.js";
import { quoteIdent } from "../identifiers.js";
import { inLockedTransaction } from "../retry.js";
import { STAGING, stage, unstage } from "../staging.js";

/** A window to delete: a SQL condition on the live table with `$1…` parameters. */
export interface ReplaceWhere {
  sql: string;
  params?: readonly unknown[];
}

/**
 * Runs a replace load.
 *
 * @example
 * await load({ db, table: "events", mode: "replace", where: { sql: "day = $1", params: ["2026-01-01"] }, columns, rows });
 */
export async function replace(ctx: ModeContext, where: ReplaceWhere | undefined): Promise<ModeResult> {
  await ctx.step("cleanup");
  const staged = await stage(ctx);
  const cols = ctx.columns.map(quoteIdent).join(", ");
  await ctx.step("lock");
  const deadTuples = await inLockedTransaction(ctx.client, "replace", ctx.live, ctx.retry, ctx.stats, async () => {
    const del = await ctx.client.query(`DELETE FROM ${ctx.live}${where ? ` WHERE ${where.sql}` : ""}`, where?.params ? [...where.params] : []);
    await ctx.client.query(`INSERT INTO ${ctx.live} (${cols}) SELECT ${cols} FROM ${STAGING} ORDER BY "__sluice_seq"`);
    return del.rowCount ?? 0;
  });
  await unstage(ctx);
  return { rowsWritten: staged, deadTuples };
}
