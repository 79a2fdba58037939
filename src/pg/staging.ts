/**
 * A temporary staging table with the live table's column types: rows are COPYed there once, so
 * lock-taking steps can be retried without reading the source again. It lives in the session
 * only, so a crash leaves nothing behind.
 */
import { copyRows } from "./copy.js";
import type { ModeContext } from "./context.js";
import { quoteIdent } from "./identifiers.js";

/** Name of the staging table (temporary, so unqualified). */
export const STAGING = quoteIdent("__sluice_stage");

/**
 * Creates the staging table (with a `__sluice_seq` row order column) and COPYs the rows into it.
 *
 * @example
 * const n = await stage(ctx);
 */
export async function stage(ctx: ModeContext): Promise<number> {
  const cols = ctx.columns.map(quoteIdent).join(", ");
  await ctx.client.query(`DROP TABLE IF EXISTS pg_temp.${STAGING}`);
  await ctx.client.query(`CREATE TEMP TABLE ${STAGING} AS SELECT ${cols} FROM ${ctx.live} WITH NO DATA`);
  await ctx.client.query(`ALTER TABLE ${STAGING} ADD COLUMN "__sluice_seq" bigserial`);
  await ctx.step("copy");
  return copyRows(ctx.client, STAGING, ctx.columns, ctx.rows);
}

/** Drops the staging table. */
export async function unstage(ctx: ModeContext): Promise<void> {
  await ctx.client.query(`DROP TABLE IF EXISTS pg_temp.${STAGING}`);
}
