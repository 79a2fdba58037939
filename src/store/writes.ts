/** Words for the writes of a `Store.apply` batch, shared by every store's error messages. */
import type { StoreWrite } from "./types.js";

export const iso = (ms: number): string => new Date(ms).toISOString();

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
    case "controlPipeline":
      return `settings of pipeline "${write.pipeline}"`;
    case "appendEvent":
      return `event "${write.event.type}"`;
    case "dispatch":
      return `work for attempt ${write.attemptId} (queue ${write.queue})`;
    case "resolveRequest":
      return `request ${write.id}`;
    default: {
      const unknown: never = write;
      return JSON.stringify(unknown);
    }
  }
}

