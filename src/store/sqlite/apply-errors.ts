/** Turns SQLite constraint failures inside `apply` into the store's own errors. */
import Database from "better-sqlite3";
import type { StoreWrite } from "../types.js";
import { StoreConflictError, StoreWriteError } from "../errors.js";

const iso = (ms: number): string => new Date(ms).toISOString();

/** The record a write is about, in words, for error messages. */
export function describeWrite(write: StoreWrite): string {
  switch (write.type) {
    case "createRun":
      return `run ${write.run.id} of pipeline "${write.run.pipeline}" (${write.run.trigger}, scheduled for ${iso(write.run.scheduledFor)})`;
    case "updateRun":
      return `run ${write.id}`;
    case "updateTask":
      return `task instance "${write.task}" of run ${write.runId}`;
    case "createAttempt":
      return `attempt ${write.attempt.id} (task "${write.attempt.task}" of run ${write.attempt.runId})`;
    case "endAttempt":
    case "releaseAttempt":
      return `attempt ${write.id}`;
    case "recordSchedule":
      return `schedule state of pipeline "${write.pipeline}"`;
    case "appendEvent":
      return `event "${write.event.type}"`;
    case "resolveRequest":
      return `request ${write.id}`;
    default: {
      const unknown: never = write;
      return JSON.stringify(unknown);
    }
  }
}

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
