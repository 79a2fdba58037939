/** Turning a store URL (flag, config or `SLUICE_DATABASE_URL`) into an open {@link Store}. */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Store } from "./types.js";
import { StoreUrlError } from "./errors.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { parsePgUrl } from "./pg/url.js";

/** Where the embedded store lives when nothing else is said, relative to the project folder. */
export const DEFAULT_STORE_PATH = ".sluice/sluice.db";

const ACCEPTED = `Use a file: URL (file:.sluice/sluice.db, file:///abs/path.db), a plain file path, :memory:, or postgres://user:password@host:5432/database[?schema=sluice].`;

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /**
   * Folder that relative paths (and the default `.sluice/sluice.db`) are resolved against.
   * @defaultValue `process.cwd()`
   */
  cwd?: string;
  /**
   * Open for reading only (read commands, dashboards): the store must exist (else
   * `StoreNotFoundError`), nothing is created or migrated.
   * @defaultValue false
   */
  readonly?: boolean;
  /**
   * Apply pending migrations when opening for writing. `false`: the store must have been migrated
   * (`sluice migrate`), as an operator may require where the app's database user cannot create tables.
   * @defaultValue true
   */
  migrate?: boolean;
}

/** What a store URL points at. */
export type StoreLocation =
  | { kind: "sqlite"; path: string }
  | {
      kind: "postgres";
      /** The connection URL given to node-postgres (Sluice's `schema` parameter taken out). */
      url: string;
      /** The schema holding Sluice's tables. */
      schema: string;
      /** The URL with its password hidden, for messages and logs. */
      display: string;
    };

/** How a location reads in messages: a file path, or the URL (password hidden) and schema. */
export function describeLocation(location: StoreLocation): string {
  return location.kind === "sqlite" ? location.path : `${location.display} (schema ${location.schema})`;
}

/**
 * Resolves a store URL without opening anything.
 *
 * | URL | Store |
 * | --- | --- |
 * | `undefined` | `SLUICE_DATABASE_URL` if set, else `.sluice/sluice.db` under `cwd` |
 * | `file:path`, `file:///abs/path`, plain path | SQLite file (relative to `cwd`) |
 * | `:memory:` | SQLite in memory, gone on close |
 * | `postgres://…`, `postgresql://…` | PostgreSQL; `?schema=name` picks the schema (default `sluice`) |
 *
 * @throws StoreUrlError for any other URL.
 */
export function resolveStoreUrl(url?: string, opts: OpenStoreOptions = {}): StoreLocation {
  const cwd = opts.cwd ?? process.cwd();
  const env = process.env.SLUICE_DATABASE_URL;
  const given = url ?? (env !== undefined && env.trim() !== "" ? env : undefined);
  if (given === undefined) return { kind: "sqlite", path: resolve(cwd, DEFAULT_STORE_PATH) };

  const text = given.trim();
  if (text === "") throw new StoreUrlError(given, `The store URL is empty. ${ACCEPTED}`);
  if (text === ":memory:" || text === "file::memory:") return { kind: "sqlite", path: ":memory:" };

  // A scheme is two or more letters before ":", so a Windows path like C:\data\sluice.db stays a path.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(text)?.[1]?.toLowerCase();
  switch (scheme) {
    case undefined:
      return { kind: "sqlite", path: resolve(cwd, text) };
    case "file":
      return { kind: "sqlite", path: fileUrlPath(given, text, cwd) };
    case "postgres":
    case "postgresql": {
      const { url, schema } = parsePgUrl(text);
      return { kind: "postgres", url, schema, display: redact(url) };
    }
    default:
      throw new StoreUrlError(redact(given), `Unsupported store URL ${redact(text)}. ${ACCEPTED}`);
  }
}

/**
 * Opens (and migrates) the store a URL points at.
 *
 * @example
 * const store = await openStore();                        // .sluice/sluice.db of the project
 * const mem = await openStore(":memory:");                // tests
 * const other = await openStore("file:/var/lib/sluice/etl.db");
 */
export async function openStore(url?: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const location = resolveStoreUrl(url, opts);
  if (location.kind === "postgres") {
    // Loaded only for PostgreSQL: a laptop on the embedded store never loads the driver.
    const { PgStore } = await import("./pg/pg-store.js");
    return PgStore.open({ url: location.url, schema: location.schema }, { readonly: opts.readonly ?? false, ...(opts.migrate === false ? { migrate: false } : {}) });
  }
  return SqliteStore.open(location.path, { readonly: opts.readonly ?? false, ...(opts.migrate === false ? { migrate: false } : {}) });
}

function fileUrlPath(given: string, text: string, cwd: string): string {
  const rest = text.slice("file:".length);
  if (rest.startsWith("//")) {
    try {
      return fileURLToPath(text); // file:///abs/path.db (or file://localhost/…)
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new StoreUrlError(given, `Cannot read ${text} as a file URL: ${reason}. ${ACCEPTED}`);
    }
  }
  if (rest === "") throw new StoreUrlError(given, `The file: URL names no file. ${ACCEPTED}`);
  return isAbsolute(rest) ? rest : resolve(cwd, rest);
}

/** Hides a password in URLs quoted by error messages, which end up in logs. */
function redact(text: string): string {
  return text.trim().replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@/]*@/i, "$1:***@");
}
