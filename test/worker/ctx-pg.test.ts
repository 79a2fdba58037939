/**
 * `ctx.pg` in a running Sluice (`start()`, in process) on the real PostgreSQL: connections named
 * after the task, capped by the slots the task holds, given back after success, failure, timeout
 * and cancel (running queries cancelled), retried on connection errors, checked and recycled.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as connectSocket, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start, type DatabaseOptions, type Sluice, type TaskContext } from "../../src/index.js";
import { TEST_DATABASE_URL, dropSchemas, freshSchema } from "../support/pg.js";
import { waitFor } from "../cli/helpers.js";
import { applicationName } from "../../src/worker/task-database.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-ctxpg-"));
const schema = freshSchema("ctxpg");
let side: pg.Client;
beforeAll(async () => {
  side = new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: "ctx-pg test observer" });
  await side.connect();
  await side.query(`CREATE SCHEMA "${schema}"`);
});
afterAll(async () => {
  await side.end();
  await dropSchemas(schema);
  rmSync(dir, { recursive: true, force: true });
});

const running: Sluice[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop({ timeout: "2s" });
});

let n = 0;
/** A pipeline id no other test (or concurrent test run) uses, so sessions can be counted by name. */
const uniqueId = (what: string) => `${what}_${process.pid}_${++n}`;

/** Sessions whose application_name starts with `prefix`, from the observer connection. */
async function sessions(prefix: string): Promise<Array<{ pid: number; name: string; state: string; query: string }>> {
  const r = await side.query<{ pid: number; name: string; state: string; query: string }>(
    "SELECT pid, application_name AS name, state, query FROM pg_stat_activity WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()",
    [prefix],
  );
  return r.rows;
}

async function run(p: ReturnType<typeof pipeline>, options: { pools?: Record<string, number>; databases?: Record<string, DatabaseOptions> } = {}) {
  const config = defineConfig({
    pools: Object.fromEntries(Object.entries(options.pools ?? { wh: 4 }).map(([k, slots]) => [k, { slots }])),
    databases: options.databases ?? { warehouse: { url: TEST_DATABASE_URL, pool: "wh" } },
    worker: { concurrency: 16 },
    pipelines: [p],
  });
  const sluice = await start({ config, db: `file:${join(dir, `${p.id}.db`)}`, logger: false, schedules: false, timeoutGrace: "500ms" });
  running.push(sluice);
  return sluice;
}

describe("ctx.pg", () => {
  it("names each connection sluice:pipeline/run/task while it is used, and hands it back to the pool under the pool's idle name", async () => {
    const id = uniqueId("named");
    const p = pipeline(id);
    p.task("load", { pools: { wh: 1 } }, async (ctx) => {
      const db = ctx.pg();
      const r = await db.query<{ name: string }>("SELECT current_setting('application_name') AS name, pg_sleep(0.6)");
      return { name: r.rows[0]!.name, applicationName: db.applicationName, max: db.maxConnections };
    });
    const sluice = await run(p);
    const runId = await sluice.trigger(id);
    const seen = await waitFor(async () => (await sessions(`sluice:${id}/`)).find((s) => s.state === "active"), "the task's session in pg_stat_activity");
    expect(seen.name).toBe(`sluice:${id}/${runId}/load`);
    expect(seen.query).toContain("pg_sleep(0.6)");
    const done = await sluice.waitForRun(runId);
    expect(done.state).toBe("success");
    const [task] = await sluice.listTasks(runId);
    expect(task!.output).toEqual({ name: `sluice:${id}/${runId}/load`, applicationName: `sluice:${id}/${runId}/load`, max: 1 });
    expect(await sessions(`sluice:${id}/`)).toEqual([]);
  });

  it("lets a task holding 2 slots have 2 connections at once, across the databases of its pool: a third waits, then fails with a clear error; queries beyond 2 wait their turn", async () => {
    const id = uniqueId("twoslots");
    const p = pipeline(id);
    const errors: unknown[] = [];
    p.task("two", { pools: { wh: 2 } }, async (ctx) => {
      const db = ctx.pg("warehouse");
      const other = ctx.pg("same_pool");
      const a = await db.connect();
      const b = await db.connect();
      const both = await a.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [db.applicationName]);
      await db.connect().catch((err: unknown) => errors.push(err));
      // Another database tied to the same pool shares the 2 connections: this one waits for a.
      const third = other.connect();
      const waited = await Promise.race([third.then(() => "got one"), new Promise((r) => setTimeout(() => r("still waiting"), 200))]);
      a.release();
      const c = await third;
      b.release();
      c.release();
      // Six queries at once, two at a time.
      await Promise.all([1, 2, 3, 4, 5, 6].map(() => other.query("SELECT pg_sleep(0.15)")));
      return { both: both.rows[0]!.n, waited };
    });
    const sluice = await run(p, {
      databases: { warehouse: { url: TEST_DATABASE_URL, pool: "wh", checkoutTimeout: "300ms" }, same_pool: { url: TEST_DATABASE_URL, pool: "wh" } },
    });
    const runId = await sluice.trigger(id);
    let max = 0;
    while (!(await sluice.getRun(runId).then((r) => r && ["success", "failed", "cancelled"].includes(r.state)))) {
      max = Math.max(max, (await sessions(`sluice:${id}/`)).length);
      await new Promise((r) => setTimeout(r, 10));
    }
    const done = await sluice.waitForRun(runId);
    expect(done.state, JSON.stringify((await sluice.listAttempts({ runId }))[0]?.error)).toBe("success");
    expect((await sluice.listTasks(runId))[0]!.output).toEqual({ both: 2, waited: "still waiting" });
    expect(max).toBeLessThanOrEqual(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: "SLUICE_DB_CHECKOUT_TIMEOUT",
      message: expect.stringContaining('holds 2 slot(s) of pool "wh", so it may have 2 connection(s) at once'),
    });
    expect((errors[0] as Error).message).toContain("pools: { wh: 3 }");
  });

  it("refuses a task that holds no slot of the database's pool, an unknown name, and a nameless call among several databases, each saying what to write", async () => {
    const id = uniqueId("refused");
    const p = pipeline(id);
    const attempt = (f: () => unknown) => {
      try {
        f();
        return "no error";
      } catch (err) {
        return `${(err as { code: string }).code}: ${(err as Error).message}`;
      }
    };
    p.task("noslot", { pools: { other: 1 } }, (ctx: TaskContext) => ({
      noSlot: attempt(() => ctx.pg("warehouse")),
      unknown: attempt(() => ctx.pg("warehuose")),
      nameless: attempt(() => ctx.pg()),
    }));
    const sluice = await run(p, {
      pools: { wh: 2, other: 1 },
      databases: { warehouse: { url: TEST_DATABASE_URL, pool: "wh" }, reports: { url: TEST_DATABASE_URL, pool: "other" } },
    });
    const runId = await sluice.trigger(id);
    await sluice.waitForRun(runId);
    const out = (await sluice.listTasks(runId))[0]!.output as Record<string, string>;
    expect(out.noSlot).toBe(
      `SLUICE_DB_NO_SLOTS: task "noslot" of pipeline "${id}" uses database "warehouse", whose connections are capped by pool "wh", but it holds no slot of that pool; add pools: { wh: 1 } to the task's options (one slot per connection it uses at once).`,
    );
    expect(out.unknown).toMatch(/^SLUICE_DB_UNKNOWN: ctx\.pg\("warehuose"\): no database of that name; declared databases: "warehouse", "reports"/);
    expect(out.nameless).toMatch(/^SLUICE_DB_UNKNOWN: ctx\.pg\(\): the config declares 2 databases \("warehouse", "reports"\); name the one you want, e\.g\. ctx\.pg\("warehouse"\)\.$/);
  });

  it("closes a connection a failed task left checked out in a transaction: its lock goes, nothing is left under the task's name", async () => {
    const id = uniqueId("fails");
    const table = `"${schema}".locked_${n}`;
    await side.query(`CREATE TABLE ${table} (id int)`);
    const p = pipeline(id);
    p.task("boom", { pools: { wh: 1 } }, async (ctx) => {
      const client = await ctx.pg().connect();
      await client.query("BEGIN");
      await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      throw new Error("transform failed halfway");
    });
    const sluice = await run(p);
    const done = await sluice.waitForRun(await sluice.trigger(id));
    expect(done.state).toBe("failed");
    await waitFor(async () => ((await sessions(`sluice:${id}/`)).length === 0 ? true : undefined), "the failed task's session to go");
    await side.query("BEGIN");
    await side.query("SET LOCAL lock_timeout = '2s'");
    await side.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    await side.query("ROLLBACK");
  });

  it("cancels the running query of a task that timed out, and closes its connection", async () => {
    const id = uniqueId("timeout");
    const p = pipeline(id);
    const errors: string[] = [];
    // 3 s: time to connect and start the query on a loaded machine before the timeout fires.
    p.task("sleepy", { pools: { wh: 1 }, timeout: "3s" }, async (ctx) => {
      // Ignores its signal on purpose: only ctx.pg's own cancel can stop the query.
      await ctx
        .pg()
        .query("SELECT pg_sleep(30)")
        .catch((err: Error) => errors.push(err.message));
    });
    const sluice = await run(p);
    const runId = await sluice.trigger(id);
    await waitFor(async () => ((await sessions(`sluice:${id}/`)).some((s) => s.query.includes("pg_sleep(30)") && s.state === "active") ? true : undefined), "pg_sleep(30) to run");
    const done = await sluice.waitForRun(runId);
    expect(done.state).toBe("failed");
    expect((await sluice.listAttempts({ runId }))[0]!.state).toBe("timed_out");
    await waitFor(async () => ((await sessions(`sluice:${id}/`)).length === 0 ? true : undefined), "the timed-out task's session to go", { timeoutMs: 10_000 });
    expect(errors).toEqual([expect.stringMatching(/canceling statement due to user request|Connection terminated/)]);
  });

  it("cancels the running query of a cancelled run at once and closes its connection", async () => {
    const id = uniqueId("cancel");
    const p = pipeline(id);
    p.task("sleepy", { pools: { wh: 1 } }, async (ctx) => {
      const client = await ctx.pg().connect();
      await client.query("SELECT pg_sleep(30)");
    });
    const sluice = await run(p, { pools: { wh: 1 } });
    const runId = await sluice.trigger(id);
    const before = await waitFor(async () => (await sessions(`sluice:${id}/`)).find((s) => s.query.includes("pg_sleep(30)") && s.state === "active"), "pg_sleep(30) to run");
    expect(await sluice.cancel(runId)).toBe(true);
    await waitFor(async () => ((await side.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [before.pid])).rowCount === 0 ? true : undefined), "the cancelled task's backend to end", { timeoutMs: 10_000 });
    expect((await sluice.waitForRun(runId)).state).toBe("cancelled");
    expect(await sessions(`sluice:${id}/`)).toEqual([]);
  });

  it("retries a checkout whose connection fails (with backoff), uses the connection that works, and tells an adaptive pool it was overloaded", async () => {
    const id = uniqueId("retry");
    const proxy = await flakyProxy(2);
    try {
      const p = pipeline(id);
      p.task("q", { pools: { wh: 1 } }, async (ctx) => (await ctx.pg().query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one);
      const url = new URL(TEST_DATABASE_URL);
      url.host = `127.0.0.1:${proxy.port}`;
      const config = defineConfig({
        pools: { wh: { slots: { min: 1, max: 4, initial: 4, adapt: "aimd" } } },
        databases: { warehouse: { url: url.toString(), pool: "wh", retries: 3, retryDelay: "20ms" } },
        pipelines: [p],
      });
      const sluice = await start({ config, db: `file:${join(dir, `${id}.db`)}`, logger: false, schedules: false });
      running.push(sluice);
      const runId = await sluice.trigger(id);
      expect((await sluice.waitForRun(runId)).state).toBe("success");
      expect((await sluice.listTasks(runId))[0]!.output).toBe(1);
      expect(proxy.connections()).toBe(3);
      expect(sluice.usage().find((u) => u.name === "wh" && u.kind === "pool")?.capacity).toBeLessThan(4);
    } finally {
      proxy.server.close();
    }
  });

  it("gives up after `retries` with the connection error, and reads an { env } URL where the task runs (a clear error when unset)", async () => {
    const id = uniqueId("giveup");
    const proxy = await flakyProxy(100);
    try {
      const p = pipeline(id);
      p.task("q", { pools: { wh: 1 } }, async (ctx) => ctx.pg("warehouse").query("SELECT 1"));
      const p2 = pipeline(`${id}_env`);
      p2.task("q", { pools: { wh: 1 } }, async (ctx) => ctx.pg("unset").query("SELECT 1"));
      const url = new URL(TEST_DATABASE_URL);
      url.host = `127.0.0.1:${proxy.port}`;
      const config = defineConfig({
        pools: { wh: { slots: 2 } },
        databases: {
          warehouse: { url: url.toString(), pool: "wh", retries: 2, retryDelay: "10ms" },
          unset: { url: { env: "SLUICE_TEST_NOT_SET_ANYWHERE" }, pool: "wh" },
        },
        pipelines: [p, p2],
      });
      const sluice = await start({ config, db: `file:${join(dir, `${id}.db`)}`, logger: false, schedules: false });
      running.push(sluice);
      const [a, b] = await Promise.all([sluice.trigger(id), sluice.trigger(`${id}_env`)]);
      expect((await sluice.waitForRun(a)).state).toBe("failed");
      expect((await sluice.listAttempts({ runId: a }))[0]!.error?.message).toMatch(/Connection terminated/);
      expect(proxy.connections()).toBe(3);
      expect((await sluice.waitForRun(b)).state).toBe("failed");
      expect((await sluice.listAttempts({ runId: b }))[0]!.error).toMatchObject({
        code: "SLUICE_DB_URL",
        message: expect.stringContaining("reads its URL from the environment variable SLUICE_TEST_NOT_SET_ANYWHERE, which is not set in this process"),
      });
    } finally {
      proxy.server.close();
    }
  });

  it("checks a pooled connection before use (one killed on the server is replaced) and recycles connections past maxLifetime", async () => {
    const id = uniqueId("valid");
    const p = pipeline(id);
    p.task("pid", { pools: { wh: 1 } }, async (ctx) => (await ctx.pg().query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid);
    const sluice = await run(p, { pools: { wh: 1 }, databases: { warehouse: { url: TEST_DATABASE_URL, pool: "wh", maxLifetime: "4s" } } });
    const pidOf = async () => {
      const runId = await sluice.trigger(id);
      expect((await sluice.waitForRun(runId)).state).toBe("success");
      return (await sluice.listTasks(runId))[0]!.output as number;
    };
    const first = await pidOf();
    expect(await pidOf()).toBe(first); // reused while young
    await side.query("SELECT pg_terminate_backend($1)", [first]);
    const second = await pidOf();
    expect(second).not.toBe(first);
    // Recycled once older than maxLifetime (4 s).
    await waitFor(async () => ((await side.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [second])).rowCount === 0 ? true : undefined), "the connection to be recycled", { timeoutMs: 15_000 });
    expect(await pidOf()).not.toBe(second);
  });

  it("closes a connection idle past idleTimeout, and gives up on a server that never answers after connectTimeout (retried)", async () => {
    const id = uniqueId("timeouts");
    const blackhole = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    let tries = 0;
    blackhole.on("connection", () => tries++);
    try {
      const p = pipeline(id);
      p.task("pid", { pools: { wh: 1 } }, async (ctx) => (await ctx.pg("warehouse").query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid);
      p.task("silent", { pools: { wh: 1 } }, async (ctx) => ctx.pg("silent").query("SELECT 1"));
      const silent = new URL(TEST_DATABASE_URL);
      silent.host = `127.0.0.1:${(blackhole.address() as { port: number }).port}`;
      const sluice = await run(p, {
        databases: {
          warehouse: { url: TEST_DATABASE_URL, pool: "wh", idleTimeout: "300ms" },
          silent: { url: silent.toString(), pool: "wh", connectTimeout: "300ms", retries: 1, retryDelay: "10ms" },
        },
      });
      const runId = await sluice.trigger(id);
      await sluice.waitForRun(runId);
      const tasks = Object.fromEntries((await sluice.listTasks(runId)).map((t) => [t.task, t]));
      expect(tasks.pid?.state).toBe("success");
      const pid = tasks.pid!.output as number;
      await waitFor(async () => ((await side.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid])).rowCount === 0 ? true : undefined), "the idle connection to be closed", { timeoutMs: 10_000 });
      expect(tasks.silent?.state).toBe("failed");
      const attempt = (await sluice.listAttempts({ runId })).find((a) => a.task === "silent");
      expect(attempt?.error?.message).toMatch(/timeout/i);
      expect(tries).toBe(2);
    } finally {
      blackhole.close();
    }
  });

  it("reuses a client released cleanly (its settings reset), and closes one released inside a transaction", async () => {
    const id = uniqueId("release");
    const p = pipeline(id);
    p.task("t", { pools: { wh: 1 } }, async (ctx) => {
      const db = ctx.pg();
      const pidOf = async (c: { query: typeof db.query }) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const a = await db.connect();
      const first = await pidOf(a);
      await a.query("SET lock_timeout = '1234ms'");
      a.release();
      const b = await db.connect();
      const reused = (await pidOf(b)) === first;
      const setting = (await b.query<{ v: string }>("SELECT current_setting('lock_timeout') AS v")).rows[0]!.v;
      await b.query("BEGIN");
      b.release();
      const c = await db.connect();
      const afterTx = await pidOf(c);
      const inTx = (await c.query<{ tx: boolean }>("SELECT now() <> statement_timestamp() AS tx")).rows[0]!.tx;
      c.release();
      return { reused, setting, closedAfterTx: afterTx !== first, inTx };
    });
    const sluice = await run(p, { pools: { wh: 1 } });
    const runId = await sluice.trigger(id);
    expect((await sluice.waitForRun(runId)).state).toBe("success");
    expect((await sluice.listTasks(runId))[0]!.output).toEqual({ reused: true, setting: "0", closedAfterTx: true, inTx: false });
  });

  it("loads with `db.load` (sluice/pg's load on one of the task's connections)", async () => {
    const id = uniqueId("load");
    const table = `${schema}.daily_${n}`;
    await side.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    const p = pipeline(id);
    p.task("load", { pools: { wh: 1 } }, async (ctx) => {
      const r = await ctx.pg().load(table, [[1, "a"], [2, "b"]], { mode: "replace", columns: ["id", "v"], onEvent: () => undefined });
      return r.rowsWritten;
    });
    const sluice = await run(p);
    const runId = await sluice.trigger(id);
    expect((await sluice.waitForRun(runId)).state).toBe("success");
    expect((await sluice.listTasks(runId))[0]!.output).toBe(2);
    expect((await side.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]).toEqual({ n: 2 });
  });
});

describe("application_name", () => {
  it("is sluice:pipeline/run/task, at most 63 bytes, keeping the run id when names are long", () => {
    expect(applicationName({ pipeline: "daily_sales", runId: 17, task: "load" })).toBe("sluice:daily_sales/17/load");
    const long = applicationName({ pipeline: "p".repeat(60), runId: 123456, task: "t".repeat(60) });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^sluice:p+\/123456\/t+$/);
  });
});

describe("loading node-postgres", () => {
  it("importing sluice does not load pg: it is imported only when a task uses a database", () => {
    const dist = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
    const hook = `data:text/javascript,${encodeURIComponent("export async function resolve(s, c, next) { if (s === 'pg' || s.startsWith('pg/')) throw new Error('pg was imported'); return next(s, c); }")}`;
    const script = `import { register } from "node:module"; register(${JSON.stringify(hook)}); const m = await import(${JSON.stringify(dist)}); console.log(typeof m.start);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("function");
  });
});

/** A TCP proxy to the test server that closes the first `failures` connections at once. */
async function flakyProxy(failures: number): Promise<{ server: Server; port: number; connections: () => number }> {
  const target = new URL(TEST_DATABASE_URL);
  let count = 0;
  const server = createServer((socket: Socket) => {
    if (++count <= failures) {
      socket.destroy();
      return;
    }
    const upstream = connectSocket(Number(target.port || 5432), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { server, port, connections: () => count };
}
