import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { openStore, resolveStoreUrl } from "../../src/store/open.js";
import { listMigrations, pendingMigrations } from "../../src/store/migrate.js";
import { SQLITE_MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import type { Store } from "../../src/store/types.js";
import { describeStoreConformance } from "./conformance.js";
import { createRun } from "./fixtures.js";

let dir: string;
let fileNo = 0;
const nextFile = (): string => join(dir, `store-${++fileNo}.db`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-store-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeStoreConformance("sqlite", () => SqliteStore.open(nextFile()), {
  exclusiveLease: true,
  openPeer: (store) => {
    if (!(store instanceof SqliteStore)) throw new Error("expected a SqliteStore");
    return SqliteStore.open(store.path);
  },
});

describe("SqliteStore", () => {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  const track = <S extends Store>(s: S): S => (stores.push(s), s);

  it("records applied migrations in sluice_migrations, once", async () => {
    const path = nextFile();
    const store = track(await SqliteStore.open(path));
    await store.migrate();
    track(await SqliteStore.open(path));
    const db = new Database(path, { readonly: true });
    const rows = db.prepare("SELECT version, name, applied_at AS appliedAt FROM sluice_migrations").all();
    db.close();
    const files = await listMigrations(SQLITE_MIGRATIONS);
    expect(files.map((f) => f.fileName)).toContain("0001_init.sql");
    expect(rows).toEqual(files.map((f) => ({ version: f.version, name: f.name, appliedAt: expect.any(Number) })));
  });

  it("lets processes opening a new file at once migrate it once, and create a schedule tick's run once", async () => {
    const path = nextFile();
    const script = fileURLToPath(new URL("./helpers/race-schedule-tick.ts", import.meta.url));
    const run = promisify(execFile);
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(async (id) => (await run(process.execPath, ["--import", "tsx", script, path, String(id)])).stdout),
    );
    expect(outputs.sort()).toEqual(["SLUICE_STORE_CONFLICT", "SLUICE_STORE_CONFLICT", "SLUICE_STORE_CONFLICT", "created"]);
    const store = track(await SqliteStore.open(path));
    expect(await store.listRuns()).toHaveLength(1);
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM sluice_migrations").pluck().get()).toBe((await listMigrations(SQLITE_MIGRATIONS)).length);
    db.close();
  });

  it("opens in WAL mode, creating the parent folder", async () => {
    const path = join(dir, "nested", "deeper", "sluice.db");
    const store = track(await SqliteStore.open(path));
    await store.apply([createRun(1)]);
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("refuses to work on an unmigrated file, saying what to do", async () => {
    const store = track(await SqliteStore.open(nextFile(), { migrate: false }));
    await expect(store.listRuns()).rejects.toMatchObject({ code: "SLUICE_STORE_MIGRATION", message: expect.stringContaining("migrate") });
    await store.migrate();
    expect(await store.listRuns()).toEqual([]);
  });

  it("refuses a database migrated by a newer Sluice", async () => {
    const path = nextFile();
    const store = track(await SqliteStore.open(path));
    const db = new Database(path);
    db.prepare("INSERT INTO sluice_migrations (version, name, applied_at) VALUES (9999, 'future', 0)").run();
    db.close();
    await expect(store.migrate()).rejects.toMatchObject({ code: "SLUICE_STORE_MIGRATION", message: expect.stringContaining("9999") });
  });

  it("close is idempotent", async () => {
    const store = await SqliteStore.open(":memory:");
    await store.close();
    await store.close();
  });
});

describe("pendingMigrations", () => {
  const file = (version: number) => ({ version, name: `m${version}`, fileName: `${version}_m${version}.sql`, url: new URL(`file:///m${version}`) });
  it("returns the files not applied yet, in order", () => {
    expect(pendingMigrations([file(1), file(2), file(3)], [1]).map((f) => f.version)).toEqual([2, 3]);
    expect(pendingMigrations([file(1)], [1])).toEqual([]);
  });
});

describe("openStore", () => {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    vi.unstubAllEnvs();
  });

  it("defaults to .sluice/sluice.db under cwd", async () => {
    vi.stubEnv("SLUICE_DATABASE_URL", "");
    const cwd = join(dir, "project");
    expect(resolveStoreUrl(undefined, { cwd })).toEqual({ kind: "sqlite", path: join(cwd, ".sluice", "sluice.db") });
    const store = await openStore(undefined, { cwd });
    stores.push(store);
    expect(store.kind).toBe("sqlite");
    expect((store as SqliteStore).path).toBe(join(cwd, ".sluice", "sluice.db"));
  });

  it("honours SLUICE_DATABASE_URL when no URL is given", () => {
    vi.stubEnv("SLUICE_DATABASE_URL", "file:data/env.db");
    expect(resolveStoreUrl(undefined, { cwd: "/p" })).toEqual({ kind: "sqlite", path: "/p/data/env.db" });
    expect(resolveStoreUrl("other.db", { cwd: "/p" })).toEqual({ kind: "sqlite", path: "/p/other.db" });
  });

  it("accepts file: URLs, plain paths and :memory:", async () => {
    const abs = join(dir, "abs.db");
    const resolveStoreUrlPath = (url: string, opts?: { cwd: string }) => {
      const location = resolveStoreUrl(url, opts);
      return location.kind === "sqlite" ? location : { path: undefined };
    };
    expect(resolveStoreUrlPath("file:rel/x.db", { cwd: "/p" }).path).toBe("/p/rel/x.db");
    expect(resolveStoreUrlPath(`file:${abs}`).path).toBe(abs);
    expect(resolveStoreUrlPath(pathToFileURL(abs).href).path).toBe(abs);
    expect(resolveStoreUrlPath("rel/y.db", { cwd: "/p" }).path).toBe("/p/rel/y.db");
    expect(resolveStoreUrlPath(abs).path).toBe(abs);
    expect(resolveStoreUrlPath(":memory:").path).toBe(":memory:");
    const mem = await openStore(":memory:");
    stores.push(mem);
    await mem.apply([createRun(1)]);
    expect(await mem.listRuns()).toHaveLength(1);
  });

  it("reads postgres:// URLs: the schema parameter is Sluice's, the password never shows", () => {
    expect(resolveStoreUrl("postgres://u:secret@db:5433/etl?schema=ops&sslmode=disable")).toEqual({
      kind: "postgres",
      url: "postgres://u:secret@db:5433/etl?sslmode=disable",
      schema: "ops",
      display: "postgres://u:***@db:5433/etl?sslmode=disable",
    });
    expect(resolveStoreUrl("postgresql://db/etl")).toMatchObject({ kind: "postgres", schema: "sluice" });
    const error: unknown = (() => {
      try {
        return resolveStoreUrl("postgres://u:secret@db/etl?schema=bad-name");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ code: "SLUICE_STORE_URL" });
    expect((error as Error).message).not.toContain("secret");
  });

  it("names the URL and the accepted forms for anything else", () => {
    for (const url of ["mysql://db/x", "", "file:"]) {
      expect(() => resolveStoreUrl(url)).toThrow(expect.objectContaining({ code: "SLUICE_STORE_URL", message: expect.stringContaining(":memory:") }));
    }
    expect(() => resolveStoreUrl("mysql://db/x")).toThrow(/mysql:\/\/db\/x/);
  });
});

describe("scheduler lease on one host", () => {
  it("is taken over at once when its holder's process no longer exists (restart after kill -9)", async () => {
    const { hostname } = await import("node:os");
    const { spawnSync } = await import("node:child_process");
    // A pid that existed and is gone now.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    const store = await SqliteStore.open(nextFile());
    try {
      const now = Date.now();
      expect(await store.acquireSchedulerLease({ owner: "crashed", pid: dead, host: hostname(), ttlMs: 60_000, now })).toEqual({ acquired: true });
      expect(await store.acquireSchedulerLease({ owner: "next", pid: process.pid, host: hostname(), ttlMs: 60_000, now: now + 1 })).toEqual({ acquired: true });
      // A live holder on this host keeps it.
      const held = await store.acquireSchedulerLease({ owner: "third", pid: process.pid, host: hostname(), ttlMs: 60_000, now: now + 2 });
      expect(held.acquired).toBe(false);
    } finally {
      await store.close();
    }
  });
});
