/**
 * Who blocks whom: sessions from `pg_stat_activity` with `pg_blocking_pids`, as a tree.
 */
import type pg from "pg";

/** One session in a blocking chain. */
export interface BlockingSession {
  pid: number;
  applicationName: string;
  state: string | null;
  /** Age of its open transaction in milliseconds, null when it has none. */
  transactionAgeMs: number | null;
  query: string;
  /** The pids it waits for. */
  blockedBy: number[];
  /** Sessions waiting for it, recursively. */
  blocking: BlockingSession[];
}

const SESSIONS_SQL = `
SELECT pid, coalesce(application_name, '') AS app, state,
       (extract(epoch FROM now() - xact_start) * 1000)::float8 AS xact_ms,
       coalesce(query, '') AS query, pg_blocking_pids(pid) AS blocked_by
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`;

/**
 * The blocking forest right now: roots are sessions that block others and wait for nobody.
 *
 * @example
 * for (const root of await blockingTree(client)) console.log(root.pid, root.blocking.length);
 */
export async function blockingTree(client: pg.ClientBase): Promise<BlockingSession[]> {
  const { rows } = await client.query<{ pid: number; app: string; state: string | null; xact_ms: number | null; query: string; blocked_by: number[] }>(SESSIONS_SQL);
  const byPid = new Map<number, BlockingSession>();
  for (const r of rows) {
    byPid.set(r.pid, { pid: r.pid, applicationName: r.app, state: r.state, transactionAgeMs: r.xact_ms === null ? null : Math.round(r.xact_ms), query: r.query, blockedBy: r.blocked_by, blocking: [] });
  }
  const involved = new Set<number>();
  for (const s of byPid.values()) {
    for (const b of s.blockedBy) {
      const blocker = byPid.get(b);
      if (blocker === undefined) continue;
      blocker.blocking.push(s);
      involved.add(b);
    }
  }
  return [...byPid.values()].filter((s) => involved.has(s.pid) && s.blockedBy.every((b) => !byPid.has(b) || b === s.pid));
}

/**
 * Sessions other than ours holding a granted lock on `relation` (a quoted, qualified name), with
 * what `pg_blocking_pids` says each waits for: logged when a lock attempt on it timed out.
 *
 * @example
 * const holders = await lockHolders(client, '"app"."events"');
 */
export async function lockHolders(client: pg.ClientBase, relation: string): Promise<Omit<BlockingSession, "blocking">[]> {
  const { rows } = await client.query<{ pid: number; app: string; state: string | null; xact_ms: number | null; query: string; blocked_by: number[] }>(
    `SELECT DISTINCT a.pid, coalesce(a.application_name, '') AS app, a.state,
            (extract(epoch FROM now() - a.xact_start) * 1000)::float8 AS xact_ms,
            coalesce(a.query, '') AS query, pg_blocking_pids(a.pid) AS blocked_by
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.relation = to_regclass($1) AND l.pid <> pg_backend_pid()`,
    [relation],
  );
  return rows.map((r) => ({ pid: r.pid, applicationName: r.app, state: r.state, transactionAgeMs: r.xact_ms === null ? null : Math.round(r.xact_ms), query: r.query, blockedBy: r.blocked_by }));
}

/** Renders a blocking forest as an indented text tree. */
export function renderTree(roots: readonly BlockingSession[]): string {
  if (roots.length === 0) return "no session is blocked\n";
  let out = "";
  const walk = (s: BlockingSession, depth: number, seen: Set<number>): void => {
    const age = s.transactionAgeMs === null ? "no xact" : `xact ${(s.transactionAgeMs / 1000).toFixed(1)}s`;
    const q = s.query.replace(/\s+/g, " ").slice(0, 80);
    out += `${"  ".repeat(depth)}${depth === 0 ? "" : "└─ "}pid ${s.pid} [${s.applicationName || "-"}] ${s.state ?? "?"}, ${age}: ${q}\n`;
    if (seen.has(s.pid)) return;
    seen.add(s.pid);
    for (const c of s.blocking) walk(c, depth + 1, seen);
  };
  for (const r of roots) walk(r, 0, new Set());
  return out;
}
