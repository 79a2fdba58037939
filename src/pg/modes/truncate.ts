/**
 * `truncate`: only when asked for by name. Rows are staged first; then TRUNCATE + insert in one
 * transaction under lock_timeout. TRUNCATE takes ACCESS EXCLUSIVE and is not MVCC-safe (a
 * REPEATABLE READ reader sees an empty table), so this warns when other sessions use the table.
 */
import type { ModeContext, ModeResult } from "../context.js";
import { lockHolders } from "../blockers.js";
import { quoteIdent } from "../identifiers.js";
import { inLockedTransaction } from "../retry.js";
import { STAGING, stage, unstage } from "../staging.js";

/**
 * Runs a truncate load.
 *
 * @example
 * await load({ db, table: "scratch", mode: "truncate", columns, rows });
 */
export async function truncate(ctx: ModeContext): Promise<ModeResult> {
  await ctx.step("check");
  const users = await lockHolders(ctx.client, ctx.live);
  if (users.length > 0) {
    ctx.emit({
      type: "warning",
      message: `TRUNCATE of ${ctx.live} while ${users.length} other session(s) use it (pids ${users.map((u) => u.pid).join(", ")}): it waits for them and every new reader waits behind it; prefer mode "swap" or "replace"`,
    });
  }
  const staged = await stage(ctx);
  const cols = ctx.columns.map(quoteIdent).join(", ");
  await ctx.step("lock");
  await inLockedTransaction(ctx.client, "truncate", ctx.live, ctx.retry, ctx.stats, async () => {
    await ctx.client.query(`TRUNCATE ${ctx.live}`);
    await ctx.client.query(`INSERT INTO ${ctx.live} (${cols}) SELECT ${cols} FROM ${STAGING} ORDER BY "__sluice_seq"`);
  });
  await unstage(ctx);
  return { rowsWritten: staged };
}
