/**
 * `swap`: COPY into `<table>__sluice_new` (LIKE … INCLUDING ALL), ANALYZE, then one short
 * transaction under lock_timeout renames it into place; the old table (`<table>__sluice_old`) is
 * dropped afterwards under a lock timeout too. Leftovers of a crashed run are dropped first.
 */
import type { ModeContext, ModeResult } from "../context.js";
import { copyRows } from "../copy.js";
import { PgSwapDependentsError } from "../errors.js";
import { qualified, quoteIdent, sibling } from "../identifiers.js";
import { inLockedTransaction } from "../retry.js";

/** Suffix of the shadow table a swap loads into. */
export const SHADOW_SUFFIX = "__sluice_new";
/** Suffix the live table gets while it is being replaced. */
export const OLD_SUFFIX = "__sluice_old";

/** Views, materialized views and foreign keys that depend on `live`. */
export async function dependents(ctx: ModeContext): Promise<string[]> {
  const { rows } = await ctx.client.query<{ what: string }>(
    `SELECT DISTINCT 'view ' || v.oid::regclass::text AS what
       FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
      WHERE d.refobjid = to_regclass($1) AND d.classid = 'pg_rewrite'::regclass AND v.oid <> to_regclass($1)
     UNION
     SELECT 'foreign key ' || quote_ident(c.conname) || ' on ' || c.conrelid::regclass::text
       FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass($1) AND c.conrelid <> to_regclass($1)`,
    [ctx.live],
  );
  return rows.map((r) => r.what);
}

function qualifiedIndex(ctx: ModeContext, name: string): string {
  return qualified({ ...ctx.table, name });
}

/**
 * Pairs each index of the live table with its copy on the shadow (same columns, expressions,
 * predicate, uniqueness), so the shadow's indexes get the live names after the swap.
 */
async function indexRenames(ctx: ModeContext, shadow: string): Promise<{ live: string; liveOid: number; shadow: string }[]> {
  const { rows } = await ctx.client.query<{ live: string; live_oid: number; shadow: string }>(
    `WITH i AS (
       SELECT x.indrelid, c.relname, c.oid,
              x.indkey::text || '|' || x.indclass::text || '|' || x.indisunique || '|' ||
              coalesce(pg_get_expr(x.indexprs, x.indrelid), '') || '|' || coalesce(pg_get_expr(x.indpred, x.indrelid), '') AS sig,
              row_number() OVER (PARTITION BY x.indrelid, x.indkey::text, x.indclass::text, x.indisunique,
                                 pg_get_expr(x.indexprs, x.indrelid), pg_get_expr(x.indpred, x.indrelid) ORDER BY c.oid) AS nth
         FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
        WHERE x.indrelid IN (to_regclass($1), to_regclass($2)))
     SELECT l.relname AS live, l.oid::int AS live_oid, s.relname AS shadow
       FROM i l JOIN i s ON s.sig = l.sig AND s.nth = l.nth AND s.indrelid = to_regclass($2)
      WHERE l.indrelid = to_regclass($1)`,
    [ctx.live, shadow],
  );
  return rows.map((r) => ({ live: r.live, liveOid: r.live_oid, shadow: r.shadow }));
}

/** Drops `table` if it exists, under lock_timeout with retries. */
export async function dropStale(ctx: ModeContext, quoted: string): Promise<void> {
  await inLockedTransaction(ctx.client, "cleanup", quoted, ctx.retry, ctx.stats, async () => {
    await ctx.client.query(`DROP TABLE IF EXISTS ${quoted}`);
  });
}

/**
 * Runs a swap load.
 *
 * @example
 * await load({ db, table: "app.daily", mode: "swap", columns: ["id", "v"], rows });
 */
export async function swap(ctx: ModeContext): Promise<ModeResult> {
  const shadow = sibling(ctx.table, SHADOW_SUFFIX);
  const old = sibling(ctx.table, OLD_SUFFIX);
  await ctx.step("cleanup");
  await dropStale(ctx, qualified(shadow));
  await dropStale(ctx, qualified(old));
  await ctx.step("check");
  const deps = await dependents(ctx);
  if (deps.length > 0) throw new PgSwapDependentsError(ctx.live, deps);
  await ctx.step("create");
  await ctx.client.query(`CREATE TABLE ${qualified(shadow)} (LIKE ${ctx.live} INCLUDING ALL)`);
  await ctx.step("copy");
  const rowsWritten = await copyRows(ctx.client, qualified(shadow), ctx.columns, ctx.rows);
  await ctx.step("analyze");
  await ctx.client.query(`ANALYZE ${qualified(shadow)}`);
  await ctx.step("lock");
  await inLockedTransaction(ctx.client, "swap", ctx.live, ctx.retry, ctx.stats, async () => {
    const renames = await indexRenames(ctx, qualified(shadow));
    // serial columns: the shadow's defaults use the live table's sequences; hand them to the new
    // table, or dropping the old one would drop them (or fail on the dependency)
    const owned = await ctx.client.query<{ seq: string; col: string }>(
      `SELECT d.objid::regclass::text AS seq, a.attname AS col
         FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) AND d.deptype = 'a'`,
      [ctx.live],
    );
    await ctx.client.query(`ALTER TABLE ${ctx.live} RENAME TO ${quoteIdent(old.name)}`);
    await ctx.client.query(`ALTER TABLE ${qualified(shadow)} RENAME TO ${quoteIdent(ctx.table.name)}`);
    for (const r of renames) {
      await ctx.client.query(`ALTER INDEX ${qualifiedIndex(ctx, r.live)} RENAME TO ${quoteIdent(`__sluice_old_${r.liveOid}`)}`);
      await ctx.client.query(`ALTER INDEX ${qualifiedIndex(ctx, r.shadow)} RENAME TO ${quoteIdent(r.live)}`);
    }
    for (const o of owned.rows) await ctx.client.query(`ALTER SEQUENCE ${o.seq} OWNED BY ${ctx.live}.${quoteIdent(o.col)}`);
  });
  await ctx.step("drop-old");
  try {
    await dropStale(ctx, qualified(old));
  } catch (err) {
    ctx.emit({ type: "warning", message: `the old table ${qualified(old)} could not be dropped (${(err as Error).message}); the next run drops it` });
  }
  return { rowsWritten };
}
