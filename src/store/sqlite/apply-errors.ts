/** Turns SQLite constraint failures inside `apply` into the store's own errors. */
import Database from "better-sqlite3";
import type { StoreWrite } from "../types.js";
import { StoreConflictError, StoreWriteError } from "../errors.js";
import { describeWrite, iso } from "../writes.js";

/**
 * Maps an error thrown by write `index` of a batch: unique/primary-key violations become
 * {@link StoreConflictError}, other constraint failures {@link StoreWriteError}; anything else
 * (disk full, busy, our own errors) is returned unchanged.
 */
export function translateWriteError(error: unknown, write: StoreWrite, index: number): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  const what = describeWrite(write);
  const at = `batch write ${index}, ${write.type}`;
  const options = { cause: error };
  switch (error.code) {
    case "SQLITE_CONSTRAINT_UNIQUE":
    case "SQLITE_CONSTRAINT_PRIMARYKEY": {
      if (write.type === "createRun" && error.message.includes("runs.scheduled_for")) {
        return new StoreConflictError(
          index,
          write.type,
          `A run of pipeline "${write.run.pipeline}" for the schedule tick ${iso(write.run.scheduledFor)} already exists ` +
            `(${at}): a tick creates at most one run. Nothing of the batch was applied.`,
          options,
        );
      }
      return new StoreConflictError(index, write.type, `Cannot create ${what}: it already exists (${at}; ${error.message}). Nothing of the batch was applied.`, options);
    }
    case "SQLITE_CONSTRAINT_FOREIGNKEY":
      return new StoreWriteError(index, write.type, `Cannot create ${what}: its run or task instance does not exist (${at}). Nothing of the batch was applied.`, options);
    default:
      if (error.code.startsWith("SQLITE_CONSTRAINT")) {
        return new StoreWriteError(index, write.type, `Invalid ${what} (${at}): ${error.message}. Nothing of the batch was applied.`, options);
      }
      return error;
  }
}
