// A tiny local "warehouse" for the quickstart: a SQLite file plus a folder of incoming files,
// under .sluice/quickstart/ of the directory you run from. Each task opens its own connection,
// as a real ETL task would open one to its database.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

export const dataDir = join(process.cwd(), ".sluice", "quickstart");
export const incomingDir = join(dataDir, "incoming");
mkdirSync(incomingDir, { recursive: true });

export function openWarehouse(): Database.Database {
  const db = new Database(join(dataDir, "warehouse.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 10000");
  db.exec(`
    CREATE TABLE IF NOT EXISTS sales (order_id TEXT PRIMARY KEY, customer_id INTEGER, sku TEXT, qty INTEGER, amount REAL, day TEXT);
    CREATE TABLE IF NOT EXISTS daily_totals (day TEXT PRIMARY KEY, orders INTEGER, revenue REAL, updated_at TEXT);
    CREATE TABLE IF NOT EXISTS inventory (sku TEXT PRIMARY KEY, on_hand INTEGER, synced_at TEXT);
    CREATE TABLE IF NOT EXISTS customer_stats (customer_id INTEGER PRIMARY KEY, orders INTEGER, revenue REAL, last_day TEXT);
  `);
  return db;
}

/** A deterministic pseudo-random generator, so every run produces plausible, varied data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolve after `ms`, or reject when the signal aborts (cancel, timeout, shutdown). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
