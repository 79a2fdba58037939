/**
 * `ctx.pg(name)` for one attempt: at most k connections at once for a task holding k slots of the
 * database's pool; each named after the task in `application_name` by the statement that also
 * checks it is alive before use; connection errors at checkout retried with backoff; everything
 * given back when the attempt ends — and when it ends by cancel or timeout, running queries are
 * cancelled and the connections closed.
 */
import type pg from "pg";
import type { ResolvedDatabase } from "../define/resolved.js";
import type { TaskDatabase, TaskLoadOptions, TaskLoadResult, TaskPgClient, TaskQueryResult, TaskRows } from "../define/types.js";
import { DatabaseAttemptEndedError, DatabaseCheckoutTimeoutError, DatabaseSlotsError, UnknownDatabaseError } from "./database-errors.js";
import { cancelQuery, type Databases } from "./databases.js";
import { SlotGate } from "./slot-gate.js";
import type { LoadMode, LoadResult } from "../pg/load.js";

// The task-facing types mirror sluice/pg's (define/ cannot import them): these fail to compile if
// the two drift apart.
const _modesFit = (m: LoadMode): TaskLoadOptions["mode"] => m;
const _resultFits = (r: LoadResult): TaskLoadResult => r;
void _modesFit;
void _resultFits;

/** Who the attempt is, for `application_name`. */
export interface AttemptIdentity {
  pipeline: string;
  runId: number;
  task: string;
}

/** PostgreSQL keeps the first 63 bytes of `application_name`. */
const MAX_APPLICATION_NAME_BYTES = 63;

/**
 * `sluice:pipeline/run/task`, at most 63 bytes: long pipeline and task names are shortened
 * (pipeline first, each to no less than 12 bytes) so the run id always survives.
 *
 * @example
 * applicationName({ pipeline: "daily_sales", runId: 17, task: "load" }); // "sluice:daily_sales/17/load"
 */
export function applicationName(who: AttemptIdentity): string {
  let { pipeline, task } = who;
  const full = () => `sluice:${pipeline}/${who.runId}/${task}`;
  const over = () => Buffer.byteLength(full()) - MAX_APPLICATION_NAME_BYTES;
  if (over() > 0) pipeline = cut(pipeline, Math.max(12, Buffer.byteLength(pipeline) - over()));
  if (over() > 0) task = cut(task, Math.max(12, Buffer.byteLength(task) - over()));
  return cut(full(), MAX_APPLICATION_NAME_BYTES);
}

function cut(s: string, bytes: number): string {
  let out = s;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}

/** Connection errors worth another checkout: refused, reset, timed out, terminated by the server, server starting or full. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "EPIPE", "57P01", "57P02", "57P03", "53300"].includes(code)) return true;
  if (code.startsWith("08")) return true;
  const message = typeof e?.message === "string" ? e.message : "";
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout/i.test(message);
}

/** The databases one attempt uses: handles made on first `ctx.pg(name)`, all ended with the attempt. */
export class AttemptDatabases {
  private readonly handles = new Map<string, AttemptDatabase>();
  private readonly gates = new Map<string, SlotGate>();
  private readonly onAbort = () => void this.end();

  /**
   * @param held - slots the attempt holds, by pool name.
   * @param signal - the attempt's signal: when it aborts (cancel, timeout, shutdown), queries are cancelled and connections closed.
   * @param overloaded - called when a checkout meets a connection error (even one a retry got past): adaptive pools lower their limit, as for `ctx.overloaded()`.
   */
  constructor(
    private readonly databases: Databases,
    private readonly who: AttemptIdentity,
    private readonly held: Readonly<Record<string, number>>,
    private readonly signal: AbortSignal,
    private readonly overloaded: () => void = () => undefined,
  ) {
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** `ctx.pg(name)`: throws at once for an unknown database or a pool the task holds no slot of. */
  get(name?: string): TaskDatabase {
    const declared = this.databases.declared;
    const names = Object.keys(declared);
    if (name === undefined) {
      if (names.length !== 1) {
        throw new UnknownDatabaseError(
          names.length === 0
            ? `ctx.pg(): the config declares no databases; add one: defineConfig({ databases: { warehouse: { url: "postgres://…", pool: "warehouse_db" } } }).`
            : `ctx.pg(): the config declares ${names.length} databases (${names.map((n) => JSON.stringify(n)).join(", ")}); name the one you want, e.g. ctx.pg(${JSON.stringify(names[0])}).`,
        );
      }
      name = names[0]!;
    }
    const existing = this.handles.get(name);
    if (existing) return existing;
    const db = declared[name];
    if (!db) {
      throw new UnknownDatabaseError(
        `ctx.pg(${JSON.stringify(name)}): no database of that name; declared databases: ${names.length === 0 ? "(none)" : names.map((n) => JSON.stringify(n)).join(", ")}. Declare it in defineConfig({ databases: { ${name}: { url, pool } } }).`,
      );
    }
    const slots = this.held[db.pool] ?? 0;
    if (slots < 1) {
      throw new DatabaseSlotsError(
        `task ${JSON.stringify(this.who.task)} of pipeline ${JSON.stringify(this.who.pipeline)} uses database ${JSON.stringify(name)}, whose connections are capped by pool ${JSON.stringify(db.pool)}, ` +
          `but it holds no slot of that pool; add pools: { ${db.pool}: 1 } to the task's options (one slot per connection it uses at once).`,
      );
    }
    let gate = this.gates.get(db.pool);
    if (!gate) this.gates.set(db.pool, (gate = new SlotGate(db.pool, slots)));
    const handle = new AttemptDatabase(this.databases, db, gate, applicationName(this.who), this.signal, this.overloaded);
    this.handles.set(name, handle);
    return handle;
  }

  /** The attempt is over: cancel running queries, close connections still checked out, refuse new ones. */
  async end(): Promise<void> {
    this.signal.removeEventListener("abort", this.onAbort);
    const ended = new DatabaseAttemptEndedError("the attempt has ended, so its connections are closed; a task must not use ctx.pg after it returns or is aborted.");
    for (const gate of this.gates.values()) gate.close(ended);
    await Promise.all([...this.handles.values()].map((h) => h.end()));
  }
}

/** One database for one attempt. */
class AttemptDatabase implements TaskDatabase {
  /** Connections checked out, with pg-pool's own `release` of each; and checkouts under way (each counts against the slots). */
  private readonly out = new Map<pg.PoolClient, pg.PoolClient["release"]>();
  /** Being given back (a second `release()` while the first resets the session does nothing). */
  private readonly returning = new Set<pg.PoolClient>();
  private ended = false;

  constructor(
    private readonly databases: Databases,
    private readonly db: ResolvedDatabase,
    private readonly gate: SlotGate,
    readonly applicationName: string,
    private readonly signal: AbortSignal,
    private readonly overloaded: () => void,
  ) {}

  get maxConnections(): number {
    return this.gate.slots;
  }

  get name(): string {
    return this.db.name;
  }

  async query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<TaskQueryResult<Row>> {
    const client = await this.checkout();
    let broken: unknown;
    try {
      return (await client.query(text, values as unknown[] | undefined)) as unknown as TaskQueryResult<Row>;
    } catch (err) {
      broken = err;
      throw err;
    } finally {
      await this.giveBack(client, broken !== undefined && isConnectionError(broken));
    }
  }

  async connect<Client extends TaskPgClient = TaskPgClient>(): Promise<Client> {
    const client = await this.checkout();
    // pg-pool sets `release` on each checkout (kept in `out`); ours gives the connection back through the attempt.
    client.release = (destroy?: boolean | Error) => void this.giveBack(client, destroy === true || destroy instanceof Error);
    return client as unknown as Client;
  }

  async load(table: string | { schema?: string; name: string }, rows: TaskRows, options: TaskLoadOptions): Promise<TaskLoadResult> {
    const { load } = await import("../pg/load.js");
    const client = await this.checkout();
    let broken = false;
    try {
      return await load({ ...(options as unknown as Omit<Parameters<typeof load>[0], "db" | "table" | "rows">), db: client, table, rows });
    } catch (err) {
      broken = isConnectionError(err);
      throw err;
    } finally {
      await this.giveBack(client, broken);
    }
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const clients = [...this.out];
    this.out.clear();
    // A connection still checked out may be running a query (`SELECT pg_sleep(30)`): cancel it,
    // then close the connection (its transaction, if any, rolls back).
    await Promise.all(
      clients.map(async ([c, release]) => {
        await cancelQuery(c);
        release.call(c, true);
        this.gate.release();
      }),
    );
  }

  /** One connection of the attempt's own: waits while it has all its slots' worth out. */
  private async checkout(): Promise<pg.PoolClient> {
    this.assertOpen();
    await this.gate.acquire(this.db.checkoutTimeoutMs, () => this.checkoutTimeoutError());
    let taken = false;
    try {
      const pool = await this.databases.pool(this.db);
      // After a failover every pooled connection may be dead: each may fail its check once.
      let invalid = 0;
      for (let attempt = 0; ; ) {
        this.assertOpen();
        let client: pg.PoolClient | undefined;
        try {
          client = await pool.connect();
        } catch (err) {
          if (isConnectionError(err)) this.overloaded();
          if (!isConnectionError(err) || attempt >= this.db.retries) throw err;
          await this.backoff(attempt++);
          continue;
        }
        try {
          // Names the connection after the task, and is the validity check: a pooled connection
          // that died while idle (terminated, failover) fails here, whatever the error, and is
          // replaced at once — the pool may still hold healthy ones or open a new one.
          await client.query("SELECT set_config('application_name', $1, false)", [this.applicationName]);
        } catch (err) {
          client.release(true);
          if (++invalid > pool.options.max) throw err;
          continue;
        }
        if (this.ended) {
          client.release(true);
          this.assertOpen();
        }
        this.out.set(client, client.release);
        taken = true;
        return client;
      }
    } finally {
      // A failed checkout frees its turn for the next one waiting.
      if (!taken) this.gate.release();
    }
  }

  private async giveBack(client: pg.PoolClient, destroy: boolean): Promise<void> {
    if (!this.out.has(client) || this.returning.has(client)) return;
    this.returning.add(client);
    try {
      await this.reset(client, destroy);
    } finally {
      this.returning.delete(client);
    }
  }

  private async reset(client: pg.PoolClient, destroy: boolean): Promise<void> {
    let broken = destroy;
    const status = (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    // A connection left in a transaction is closed, not handed to the next task.
    if (status !== undefined && status !== null && status !== "I") broken = true;
    if (!broken) {
      try {
        // Back to the pool's own name (and settings): pg_stat_activity names only tasks that have a connection.
        await client.query("RESET ALL");
      } catch {
        broken = true;
      }
    }
    const release = this.out.get(client);
    if (!release || !this.out.delete(client)) return; // the attempt ended meanwhile and closed it
    release.call(client, broken);
    this.gate.release();
  }

  private checkoutTimeoutError(): DatabaseCheckoutTimeoutError {
    const k = this.gate.slots;
    return new DatabaseCheckoutTimeoutError(
      `database ${JSON.stringify(this.db.name)}: this attempt holds ${k} slot(s) of pool ${JSON.stringify(this.db.pool)}, so it may have ${k} connection(s) at once, ` +
        `and all of them stayed checked out for ${this.db.checkoutTimeoutMs} ms while it asked for another; release a client (client.release()) before taking the next, ` +
        `or hold more slots: pools: { ${this.db.pool}: ${k + 1} }.`,
    );
  }

  private backoff(attempt: number): Promise<void> {
    const delay = Math.random() * this.db.retryDelayMs * 2 ** attempt;
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.signal.addEventListener("abort", done, { once: true });
    });
  }

  private assertOpen(): void {
    if (this.ended || this.signal.aborted) throw this.endedError();
  }

  private endedError(): DatabaseAttemptEndedError {
    const why = this.signal.aborted ? ` (${this.signal.reason instanceof Error ? this.signal.reason.message : String(this.signal.reason)})` : "";
    return new DatabaseAttemptEndedError(`database ${JSON.stringify(this.db.name)}: the attempt has ended${why}, so its connections are closed; a task must not use ctx.pg after it returns or is aborted.`);
  }
}
