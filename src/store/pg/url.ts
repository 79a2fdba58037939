/**
 * A PostgreSQL store's URL: where it lives and in which schema. Apart from connect.ts so that
 * reading a `--db` URL does not load the driver (node-postgres costs ~100 ms to import).
 */
import { StoreUrlError } from "../errors.js";

/** Where a PostgreSQL store lives: the connection URL (without Sluice's own parameters) and the schema. */
export interface PgLocation {
  /** The URL handed to node-postgres. */
  url: string;
  /** The schema holding Sluice's tables. @defaultValue "sluice" */
  schema: string;
}

/** The schema used when the URL names none. */
export const DEFAULT_PG_SCHEMA = "sluice";

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Reads `postgres://user:pass@host:port/db?schema=name`: `schema` is Sluice's own parameter (the
 * schema for its tables) and is taken out of the URL given to the driver.
 *
 * @throws StoreUrlError for a schema that is not a plain identifier.
 */
export function parsePgUrl(given: string): PgLocation {
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new StoreUrlError(redactUrl(given), `${redactUrl(given)} is not a valid URL; expected postgres://user:password@host:5432/database?schema=sluice`);
  }
  const schema = url.searchParams.get("schema") ?? DEFAULT_PG_SCHEMA;
  url.searchParams.delete("schema");
  if (!SCHEMA_NAME.test(schema)) {
    throw new StoreUrlError(redactUrl(given), `schema=${JSON.stringify(schema)} in ${redactUrl(given)} is not a plain PostgreSQL identifier (letters, digits and _, not starting with a digit, at most 63)`);
  }
  return { url: url.toString(), schema };
}

/** Hides the password of a URL quoted in an error message. */
export function redactUrl(text: string): string {
  return text.trim().replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@/]*@/i, "$1:***@");
}
