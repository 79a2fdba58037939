/**
 * Streams rows into a table with COPY FROM STDIN (pg-copy-streams), with backpressure: rows are
 * encoded in COPY text format as they arrive and never held whole in memory.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { quoteIdent } from "./identifiers.js";

/** Rows as arrays (one value per column, in `columns` order). */
export type RowSource = Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]> | Readable;

/** One value in COPY text format (`\N` for null; backslash, tab, newline, CR escaped). */
export function copyValue(v: unknown): string {
  if (v === null || v === undefined) return "\\N";
  let s: string;
  if (typeof v === "string") s = v;
  else if (typeof v === "number" || typeof v === "bigint") return String(v);
  else if (typeof v === "boolean") return v ? "t" : "f";
  else if (v instanceof Date) return v.toISOString();
  else if (Buffer.isBuffer(v)) return "\\\\x" + v.toString("hex");
  else s = JSON.stringify(v);
  return s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

async function* encode(rows: RowSource, width: number, counter: { rows: number }): AsyncGenerator<string> {
  let buf = "";
  for await (const row of rows as AsyncIterable<readonly unknown[]>) {
    if (!Array.isArray(row) || row.length !== width) {
      throw new TypeError(`row ${counter.rows + 1} has ${Array.isArray(row) ? row.length : typeof row} value(s); expected an array of ${width} (one per column)`);
    }
    let line = "";
    for (let i = 0; i < width; i++) line += (i === 0 ? "" : "\t") + copyValue(row[i]);
    buf += line + "\n";
    counter.rows++;
    if (buf.length >= 65_536) {
      yield buf;
      buf = "";
    }
  }
  if (buf.length > 0) yield buf;
}

/**
 * COPYs `rows` into `target` (already quoted) on `client`; resolves with the number of rows.
 *
 * @example
 * const n = await copyRows(client, '"app"."events"', ["id", "name"], [[1, "a"], [2, "b"]]);
 */
export async function copyRows(client: pg.ClientBase, target: string, columns: readonly string[], rows: RowSource): Promise<number> {
  const counter = { rows: 0 };
  const sql = `COPY ${target} (${columns.map(quoteIdent).join(", ")}) FROM STDIN`;
  const sink = client.query(copyFrom(sql));
  await pipeline(Readable.from(encode(rows, columns.length, counter), { objectMode: false }), sink);
  return counter.rows;
}
