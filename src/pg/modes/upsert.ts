/**
 * `upsert`: rows are COPYed into a temporary staging table (no bind-parameter limit), then one
 * `INSERT … SELECT DISTINCT ON (key) … ORDER BY key … ON CONFLICT DO UPDATE` under lock_timeout.
 * Duplicate keys within one call: the LAST row given wins. Rows are written in key order, so
 * concurrent upserters lock rows in the same order and do not deadlock. With `skipUnchanged`,
 * an `IS DISTINCT FROM` guard skips no-op updates (no dead tuple, no trigger).
 */
import type { ModeContext, ModeResult } from "../context.js";
import { PgOptionsError } from "../errors.js";
import { quoteIdent } from "../identifiers.js";
import { inLockedTransaction } from "../retry.js";
import { STAGING, stage, unstage } from "../staging.js";

/**
 * Runs an upsert load.
 *
 * @example
 * await load({ db, table: "users", mode: "upsert", key: ["id"], columns: ["id", "name"], rows });
 */
export async function upsert(ctx: ModeContext, key: readonly string[], skipUnchanged: boolean): Promise<ModeResult> {
  if (key.length === 0) throw new PgOptionsError(`mode "upsert" needs key: the column(s) of a unique index on ${ctx.live}`);
  for (const k of key) if (!ctx.columns.includes(k)) throw new PgOptionsError(`upsert key column ${JSON.stringify(k)} is not among columns ${JSON.stringify(ctx.columns)}`);
  await ctx.step("cleanup");
  const staged = await stage(ctx);
  const cols = ctx.columns.map(quoteIdent).join(", ");
  const keys = key.map(quoteIdent).join(", ");
  const rest = ctx.columns.filter((c) => !key.includes(c)).map(quoteIdent);
  const action =
    rest.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${rest.map((c) => `${c} = EXCLUDED.${c}`).join(", ")}` +
        (skipUnchanged ? ` WHERE (${rest.map((c) => `${ctx.live}.${c}`).join(", ")}) IS DISTINCT FROM (${rest.map((c) => `EXCLUDED.${c}`).join(", ")})` : "");
  await ctx.step("lock");
  const written = await inLockedTransaction(ctx.client, "upsert", ctx.live, ctx.retry, ctx.stats, async () => {
    const r = await ctx.client.query(
      `INSERT INTO ${ctx.live} (${cols})
       SELECT ${cols} FROM (SELECT DISTINCT ON (${keys}) ${cols} FROM ${STAGING} ORDER BY ${keys}, "__sluice_seq" DESC) s ORDER BY ${keys}
       ON CONFLICT (${keys}) ${action}`,
    );
    return r.rowCount ?? 0;
  });
  await unstage(ctx);
  void staged;
  return { rowsWritten: written };
}
