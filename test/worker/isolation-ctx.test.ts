// Issue 11, isolation: what crosses between a worker and a thread or child process running an
// attempt (params, upstream outputs, log lines, progress, output, coded errors), and the peak memory
// of every attempt as history and explain show it — on both stores, through the real CLI.
import { afterAll, describe, expect, it } from "vitest";
import type { TaskExplanation } from "../../src/core/engine/types.js";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { disposeSandboxes, fixture, sandbox } from "../cli/helpers.js";
import { bothStores, dropSchemas } from "../support/pg.js";

const CONFIG = fixture("isolation");
const MB = 1024 * 1024;
const schemas: string[] = [];

afterAll(async () => {
  await disposeSandboxes();
  await dropSchemas(...schemas);
});

const byTask = (attempts: AttemptRecord[]) => Object.fromEntries(attempts.map((a) => [a.task, a]));

describe.each(bothStores("iso", schemas))("isolation on %s: the task context across the boundary, and peak memory", (_name, db) => {
  it("runs tasks in a child process and a thread with params, upstream output, log lines, progress and coded errors; history and explain show every attempt's peak memory", { timeout: 60_000 }, async () => {
    const box = await sandbox({ db: db() });
    const params = { day: "2026-11-25" };
    const r = await box.cli(["trigger", "ctx", "-c", CONFIG, "--params", JSON.stringify(params), "--wait", "--json"], { killAfterMs: 60_000 });
    expect(r.code, r.stderr).toBe(1); // ctx.fails fails, on purpose
    const run = JSON.parse(r.stdout) as RunRecord;

    const echo = box.observations().find((o) => o.task === "echo" && o.event === "start");
    expect(echo?.params).toEqual(params);
    expect(echo?.upstream).toEqual({ first: { rows: 3 } });
    expect(echo?.key).toBe(`ctx:${run.id}:echo`);
    // Its output, returned to the worker over IPC, is the next task's upstream; it ran in a process of its own.
    const verify = box.observations().find((o) => o.task === "verify");
    expect(verify?.upstream).toEqual({ echo: { day: "2026-11-25", rows: 6 } });
    expect(echo?.pid).not.toBe(verify?.pid);
    expect(r.stderr).toMatch(/"day":"2026-11-25".*"msg":"echo says hi"/); // ctx.log, through the worker's logger
    // The run has ended: the reads below all at once. Explain goes by the definitions the run
    // recorded in the store (no config to load: faster, and what an operator sees).
    type Explained = { tasks: Array<TaskExplanation & { isolation: string; peakMemoryBytes: number | null }> };
    const [logs, history, text, explained, explainText] = await Promise.all([
      box.cli(["logs", `${run.id}/echo`]), // … and kept with the attempt
      box.json<AttemptRecord[]>(["history", "--run", String(run.id)]),
      box.cli(["history", "--run", String(run.id)]),
      box.json<Explained>(["explain", String(run.id)]),
      box.cli(["explain", String(run.id)]),
    ]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/echo says hi/);

    const a = byTask(history);
    expect(a.echo?.state).toBe("success");
    expect(a.echo?.progress).toEqual({ done: 0.5 });
    expect(a.fails?.state).toBe("failed");
    expect(a.fails?.error).toMatchObject({ message: "the partner API said no", code: "E_PARTNER" });
    expect(a.fails?.error?.stack).toMatch(/the partner API said no/);
    // Every attempt's peak: a child's RSS (tens of MB at least), a thread's heap.
    expect(a.echo?.peakMemoryBytes).toBeGreaterThan(10 * MB);
    expect(a.fails?.peakMemoryBytes).toBeGreaterThan(0);
    expect(a.first?.peakMemoryBytes).toBeGreaterThanOrEqual(0); // inline: the growth of the worker's heap

    expect(text.stdout).toMatch(/peak mem/);
    expect(text.stdout).toMatch(/ctx\.echo .* \d+\.\d MB/);

    const echoTask = explained.tasks.find((t) => t.task === "echo");
    expect(echoTask).toMatchObject({ isolation: "process", peakMemoryBytes: a.echo?.peakMemoryBytes });
    expect(explained.tasks.find((t) => t.task === "fails")?.isolation).toBe("thread");
    expect(explained.tasks.find((t) => t.task === "first")?.isolation).toBe("inline");
    expect(explainText.stdout).toMatch(/echo: success · attempts 1 · process · peak \d+\.\d MB RSS/);
    expect(explainText.stdout).toMatch(/fails: failed · attempts 1 · thread · peak [\d.]+ [KM]B heap/);
    expect(explainText.stdout).toMatch(/first: success · attempts 1 · inline · peak [\d.]+ [KM]B \(heap growth, shared\)/);
  });
});

describe("isolation in simulate", () => {
  it("lists the isolated tasks with their memory limits (text and --json)", async () => {
    const box = await sandbox();
    const [r, text] = await Promise.all([box.cli(["simulate", CONFIG, "--until", "1m", "--json"], { db: false }), box.cli(["simulate", CONFIG, "--until", "1m"], { db: false })]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout) as { isolated: Array<{ task: string; isolation: string; memoryMb: number | null }> };
    expect(json.isolated).toContainEqual({ task: "hog.process_hog", isolation: "process", memoryMb: 160 });
    expect(json.isolated).toContainEqual({ task: "hog.thread_hog", isolation: "thread", memoryMb: 48 });
    expect(json.isolated.map((t) => t.task)).not.toContain("hog.neighbour");
    expect(text.stdout).toMatch(/hog\.process_hog\s+process ≤ 160 MB\s+killed past it: SLUICE_MEMORY_LIMIT/);
    expect(text.stdout).toMatch(/hog\.thread_hog\s+thread ≤ 48 MB heap\s+stopped at it: SLUICE_MEMORY_LIMIT/);
  });
});
