/**
 * The Notifier on its own (no store, no scheduler): the hook queue is bounded and drops the oldest
 * with one warning; webhook targets get only their events and pipelines; listeners return at once.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { defineConfig, pipeline, resolveConfigOrThrow, type Notification, type NotifyHook } from "../../src/index.js";
import type { EventRecord, RunRecord } from "../../src/core/records.js";
import { HOOK_CONCURRENCY, Notifier, type NotifyLookup } from "../../src/observe/notify.js";

const run = (id: number, pipelineId: string): RunRecord => ({ id, pipeline: pipelineId, scheduledFor: 0, trigger: "manual", params: {}, state: "success", createdAt: 0, startedAt: 0, endedAt: 1 });
const lookup = (pipelineOf: (id: number) => string): NotifyLookup => ({
  getRun: (id) => Promise.resolve(run(id, pipelineOf(id))),
  listAttempts: () => Promise.resolve([]),
});
const ended = (runId: number, pipelineId: string): EventRecord => ({ at: runId, type: "run.success", level: "info", pipeline: pipelineId, runId, task: null, attemptId: null, message: `run ${runId} success`, data: {} });

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("Notifier", () => {
  it("keeps at most hookQueueSize hook calls waiting (plus the ones running): the oldest are dropped, counted, warned about once", async () => {
    const logs: Array<{ msg: string }> = [];
    const logger = pino({ level: "info" }, { write: (l: string) => void logs.push(JSON.parse(l) as { msg: string }) });
    const started: number[] = [];
    const releases: Array<() => void> = [];
    const hook: NotifyHook = (n) => {
      started.push(n.runId!);
      return new Promise<void>((resolve) => releases.push(resolve));
    };
    const p = pipeline("p", { onSuccess: hook });
    p.task("t", () => 1);
    const config = resolveConfigOrThrow(defineConfig({ pipelines: [p], notify: { hookQueueSize: 3, hookTimeout: "1m" } }));
    const notifier = new Notifier({ config, logger, lookup: lookup(() => "p") });
    for (let i = 1; i <= 20; i++) notifier.onEvent(ended(i, "p"));
    // The listener only queues: nothing of the hooks has started in the caller's turn.
    expect(notifier.stats().hooks.pending).toBe(0);
    expect(started).toEqual([]);
    await until(() => notifier.stats().hooks.pending === HOOK_CONCURRENCY + 3, "the hook queue to fill");
    expect(started).toEqual([1, 2, 3, 4]);
    expect(notifier.stats().hooks.dropped).toBe(20 - HOOK_CONCURRENCY - 3);
    expect(logs.filter((l) => /more than 3 hook calls waiting; dropping the oldest/.test(l.msg))).toHaveLength(1);
    // The newest three waited; they run once slots free up.
    for (const release of releases.splice(0)) release();
    await until(() => started.length === 7, "the waiting hooks");
    expect(started.slice(4)).toEqual([18, 19, 20]);
    for (const release of releases.splice(0)) release();
    await notifier.close(Date.now() + 1000);
    expect(notifier.stats().hooks).toMatchObject({ called: 7, failed: 0, timedOut: 0, dropped: 13, pending: 0 });
  });

  it("sends each webhook target only its events and pipelines; no listener at all when nothing is configured", async () => {
    const a = pipeline("a");
    a.task("t", () => 1);
    const b = pipeline("b");
    b.task("t", () => 1);
    const bodies: Array<{ url: string; n: Notification }> = [];
    const fakeFetch = (async (url: string, init: { body: string }) => {
      bodies.push({ url, n: JSON.parse(init.body) as Notification });
      return new Response(null, { status: 200 });
    }) as unknown as typeof fetch;
    const config = resolveConfigOrThrow(
      defineConfig({
        pipelines: [a, b],
        notify: { webhooks: [{ url: "http://x.test/only-b", pipelines: ["b"] }, { url: "http://x.test/failures", events: ["run.failed"] }] },
      }),
    );
    const notifier = new Notifier({ config, logger: pino({ level: "silent" }), lookup: lookup((id) => (id % 2 === 0 ? "b" : "a")), webhook: { fetch: fakeFetch } });
    notifier.onEvent(ended(1, "a"));
    notifier.onEvent(ended(2, "b"));
    notifier.onEvent({ ...ended(4, "b"), type: "run.failed", level: "warn" });
    notifier.onEvent({ ...ended(5, "a"), type: "run.overran" }); // not a notification type
    await notifier.close(Date.now() + 2000);
    expect(bodies.map((x) => `${x.url} ${x.n.type} ${x.n.runId}`).sort()).toEqual(["http://x.test/failures run.failed 4", "http://x.test/only-b run.failed 4", "http://x.test/only-b run.success 2"]);

    const plain = resolveConfigOrThrow(defineConfig({ pipelines: [a] }));
    expect(new Notifier({ config: plain, logger: pino({ level: "silent" }), lookup: lookup(() => "a") }).active).toBe(false);
  });
});
