/**
 * Identifier quoting: every table and column name goes through {@link quoteIdent}, so a name can
 * never inject SQL; names PostgreSQL could not store are refused with {@link PgIdentifierError}.
 */
import pg from "pg";
import { PgIdentifierError } from "./errors.js";

/** A table, optionally schema-qualified. */
export interface TableName {
  schema?: string;
  name: string;
}

/**
 * Quotes one identifier (pg's `escapeIdentifier`), refusing names PostgreSQL cannot hold.
 *
 * @example
 * quoteIdent('a"b'); // '"a""b"'
 */
export function quoteIdent(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw new PgIdentifierError(`identifier must be a non-empty string, got ${JSON.stringify(name)}`);
  if (name.includes("\0")) throw new PgIdentifierError(`identifier ${JSON.stringify(name)} contains a NUL byte, which PostgreSQL cannot store`);
  if (Buffer.byteLength(name, "utf8") > 63) throw new PgIdentifierError(`identifier ${JSON.stringify(name)} is longer than 63 bytes; PostgreSQL would truncate it silently`);
  return pg.escapeIdentifier(name);
}

/**
 * The quoted, schema-qualified name of a table.
 *
 * @example
 * qualified({ schema: "app", name: "events" }); // '"app"."events"'
 */
export function qualified(t: TableName): string {
  return t.schema === undefined ? quoteIdent(t.name) : `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/** The same table with another name (a shadow or old table), refusing names over 63 bytes. */
export function sibling(t: TableName, suffix: string): TableName {
  const name = t.name + suffix;
  quoteIdent(name);
  return t.schema === undefined ? { name } : { schema: t.schema, name };
}

/** Parses `"schema.table"` or a {@link TableName}; a dot inside a name needs the object form. */
export function tableName(t: string | TableName): TableName {
  if (typeof t !== "string") return t;
  const dot = t.indexOf(".");
  return dot < 0 ? { name: t } : { schema: t.slice(0, dot), name: t.slice(dot + 1) };
}
