/**
 * The config's `databases` in one process that runs tasks: one node-postgres pool per database,
 * made on first use (node-postgres is imported only then), capped by the slots of the Sluice pool
 * the database is tied to. Admission already keeps the slots held by all tasks, across every
 * process, within the pool's slots, and each attempt takes at most as many connections as it
 * holds slots (`task-database.ts`): so the connections of all tasks never exceed the slots.
 */
import { connect as connectSocket } from "node:net";
import type pg from "pg";
import type { ResolvedConfig, ResolvedDatabase } from "../define/resolved.js";
import { DatabaseAttemptEndedError, DatabaseUrlError } from "./database-errors.js";

/** `application_name` of a pooled connection no task is using. */
export const IDLE_APPLICATION_NAME = "sluice (idle)";

/** The databases of one process: their pools, opened on first use, closed by {@link close}. */
export class Databases {
  private readonly pools = new Map<string, Promise<pg.Pool>>();
  private closed = false;

  constructor(private readonly config: Pick<ResolvedConfig, "databases" | "pools">) {}

  /** The declared databases, by name. */
  get declared(): Readonly<Record<string, ResolvedDatabase>> {
    return this.config.databases ?? {};
  }

  /** The node-postgres pool of `db`, made (and `pg` imported) on first call. */
  pool(db: ResolvedDatabase): Promise<pg.Pool> {
    // A task still running after its worker stopped must not open a pool nobody will close.
    if (this.closed) return Promise.reject(new DatabaseAttemptEndedError(`database ${JSON.stringify(db.name)}: this worker has stopped, so its connections are closed.`));
    let pool = this.pools.get(db.name);
    if (!pool) {
      pool = this.open(db);
      this.pools.set(db.name, pool);
      // A failed open (unset env var) is not cached: the next attempt may find it set.
      pool.catch(() => this.pools.delete(db.name));
    }
    return pool;
  }

  /** Closes every pool (connections still checked out are closed as they come back). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(async (p) => (await p.catch(() => undefined))?.end().catch(() => undefined)));
  }

  private async open(db: ResolvedDatabase): Promise<pg.Pool> {
    const url = urlOf(db);
    const { default: pgModule } = await import("pg");
    const pool = this.config.pools[db.pool];
    const pool_ = new pgModule.Pool({
      connectionString: url,
      // The most slots the pool can ever have (an adaptive pool's max): admission keeps the
      // attempts of this process within it anyway; this only guards against a bug here.
      max: pool?.adaptive?.max ?? pool?.slots ?? 1,
      connectionTimeoutMillis: db.connectTimeoutMs,
      idleTimeoutMillis: db.idleTimeoutMs,
      maxLifetimeSeconds: Math.max(1, Math.ceil(db.maxLifetimeMs / 1000)),
      // Idle connections do not keep a finished `sluice run` (or a user's service) alive.
      allowExitOnIdle: true,
      application_name: IDLE_APPLICATION_NAME,
    });
    // An idle connection that breaks (server restart, failover) is dropped by the pool; without a
    // listener the error would crash the process.
    pool_.on("error", () => undefined);
    return pool_;
  }
}

function urlOf(db: ResolvedDatabase): string {
  if (db.url.kind === "url") return db.url.url;
  const value = process.env[db.url.env];
  if (!value) {
    throw new DatabaseUrlError(
      `database ${JSON.stringify(db.name)} reads its URL from the environment variable ${db.url.env}, which is not set in this process (pid ${process.pid}); ` +
        `set ${db.url.env}=postgres://… where tasks run (every \`sluice worker\` too), or give databases.${db.name}.url as a string.`,
    );
  }
  return value;
}

/**
 * Asks the server to cancel whatever `client` is running (the protocol's CancelRequest, what
 * psql's Ctrl-C sends): it opens no session and needs no slot. Resolves when the server has read
 * it (or after 2 s); never throws.
 */
export function cancelQuery(client: pg.PoolClient): Promise<void> {
  const c = client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
  if (c.processID === null || c.secretKey === null) return Promise.resolve();
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(c.processID, 8);
  packet.writeInt32BE(c.secretKey, 12);
  return new Promise((resolve) => {
    const socket = c.host.startsWith("/") ? connectSocket(`${c.host}/.s.PGSQL.${c.port}`) : connectSocket(c.port, c.host);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 2000);
    socket.once("connect", () => socket.write(packet));
    // The server closes the connection once it has the request.
    socket.once("close", done);
    socket.once("error", done);
  });
}
