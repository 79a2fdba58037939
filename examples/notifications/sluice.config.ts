// Notifications: hooks on a pipeline and its tasks, and a webhook target.
//
//   npx tsx examples/notifications/receiver.ts --fail 3     # in one terminal
//   npx sluice run examples/notifications/sluice.config.ts  # in another: hooks print, the receiver gets JSON
//   npx tsx examples/notifications/run.ts                   # or both in one process, for 10 seconds
//
// Hooks run in the scheduler's process (`sluice run`, or `sluice scheduler` when workers run the
// tasks), after each event is recorded, never holding up scheduling.
import { defineConfig, pipeline, type Notification } from "sluice";

/** A hook that prints what it was told, saying whose hook it is. */
const say = (whose: string) => (n: Notification) => console.log(`hook of ${whose}: ${n.type} (run ${n.runId ?? "-"}): ${n.message}`);

let calls = 0;
export const nightly = pipeline("nightly_import", {
  // Every 3 s, with runs taking ~4 s: the overlap policy skips ticks (onSkip).
  schedule: { every: "3s" },
  onSuccess: say("the pipeline"),
  onFailure: say("the pipeline"),
  onRetry: say("the pipeline"),
  onSkip: say("the pipeline"),
});
const download = nightly.task("download", { onSuccess: say("download") }, async () => {
  await new Promise((r) => setTimeout(r, 1000));
  return { files: 3 };
});
nightly.task(
  "parse",
  // Fails its first attempt of every other run: a retry (onRetry), then success.
  { dependsOn: [download], retries: 1, retryDelay: "500ms", onRetry: say("parse"), onFailure: say("parse") },
  async (ctx) => {
    await new Promise((r) => setTimeout(r, 2500));
    if (ctx.attempt === 1 && ++calls % 2 === 1) throw new Error("the upstream file is still being written");
    return { rows: 1200 };
  },
);

export default defineConfig({
  pipelines: [nightly],
  notify: {
    hookTimeout: "5s",
    webhooks: [
      {
        url: process.env.SLUICE_WEBHOOK_URL ?? "http://127.0.0.1:8787/sluice",
        events: ["run.success", "run.failed", "run.skipped", "task.retry", "task.failed"],
        headers: { authorization: `Bearer ${process.env.SLUICE_WEBHOOK_TOKEN ?? "dev-token"}` },
        retryDelay: "500ms",
        maxRetryDelay: "5s",
        queueSize: 100,
      },
    ],
  },
});
