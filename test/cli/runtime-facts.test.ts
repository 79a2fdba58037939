// Issue 7, items 7–9, 11, 11b: what the CLI shows is a fact, or labelled as a prediction; commands
// that name a run need only --db; signals after a drain began force the exit; small untruths.
import { afterAll, describe, expect, it } from "vitest";
import type { ResourceUsage, WaitReason } from "../../src/core/admission/types.js";
import type { TaskExplanation } from "../../src/core/engine/types.js";
import type { AttemptRecord, RunRecord } from "../../src/core/records.js";
import { DEFS, sluice } from "./spawn.js";
import { disposeSandboxes, fixture, sandbox, sleep } from "./helpers.js";

afterAll(disposeSandboxes);

const CONTROL = fixture("control");

describe("facts, not predictions", () => {
  it("with no scheduler running: runs are queued, pools hold nothing, the would-be start is labelled", async () => {
    const box = await sandbox();
    const hog = JSON.parse((await box.cli(["trigger", "hog", "-c", CONTROL, "--json"])).stdout) as RunRecord;
    const blocked = JSON.parse((await box.cli(["trigger", "blocked", "-c", CONTROL, "--json"])).stdout) as RunRecord;
    expect(hog).toMatchObject({ state: "queued", startedAt: null });
    // The reads, all at once.
    const [runs, [pool], explain] = await Promise.all([
      box.json<RunRecord[]>(["runs"]),
      box.json<Array<ResourceUsage & { wouldStart: unknown[] }>>(["pools", "-c", CONTROL]),
      box.json<{ tasks: TaskExplanation[] }>(["explain", String(blocked.id), "-c", CONTROL]),
    ]);
    expect(runs.map((r) => [r.id, r.state, r.startedAt])).toEqual([
      [blocked.id, "queued", null],
      [hog.id, "queued", null],
    ]);
    expect(pool).toMatchObject({ name: "one_slot", used: 0, holders: [] });
    for (const t of explain.tasks) {
      expect(t.holding).toEqual([]);
      for (const r of t.reasons as Array<WaitReason & { holders?: unknown[] }>) expect(r.holders ?? []).toEqual([]);
    }
  });

  it("explain of a finished run gives each task's weight from the definitions, in DAG order", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "priority_demo", "-c", fixture("priority"), "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    // By the definitions trigger --wait recorded (its in-process scheduler records them, as sluice run does).
    const explain = await box.json<{ tasks: TaskExplanation[] }>(["explain", "1"]);
    expect(explain.tasks.map((t) => [t.task, t.weight, t.state])).toEqual([
      ["A", 7, "success"],
      ["B", 3, "success"],
      ["C", 4, "success"],
      ["D", 1, "success"],
    ]);
  });
});

describe("commands that name a run need only --db", () => {
  it("explain, pools, cancel and trigger work from a folder with no config, with and without a scheduler", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONTROL]);
    // The sandbox folder has no config: everything below comes from the store.
    const hog = await box.cli(["trigger", "hog", "--json"]);
    expect(hog.code, hog.stderr).toBe(0);
    const hogRun = JSON.parse(hog.stdout) as RunRecord;
    await box.waitForObservation((o) => o.find((x) => x.task === "hold" && x.event === "start"), "hog.hold to start");
    const [explain, pools] = await Promise.all([box.json<{ tasks: TaskExplanation[] }>(["explain", String(hogRun.id)]), box.json<ResourceUsage[]>(["pools"])]);
    expect(explain.tasks[0]).toMatchObject({ task: "hold", state: "running" });
    expect(pools[0]).toMatchObject({ name: "one_slot", used: 1 });
    const cancel = await box.cli(["cancel", String(hogRun.id)]);
    expect(cancel.code, cancel.stderr).toBe(0);
    run.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    // No scheduler now: trigger and cancel still work from the recorded definitions.
    const queued = JSON.parse((await box.cli(["trigger", "quick", "--json"])).stdout) as RunRecord;
    expect(queued).toMatchObject({ pipeline: "quick", state: "queued" });
    expect((await box.cli(["cancel", String(queued.id)])).code).toBe(0);
    const unknown = await box.cli(["trigger", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown pipeline "nope"; the store's recorded definitions have: hog, blocked, quick/);
    const wait = await box.cli(["trigger", "quick", "--wait"]);
    expect(wait.code).toBe(2);
    expect(wait.stderr).toMatch(/without the config \(-c\) this process cannot run the run itself/);
  });

  it("with neither a config nor recorded definitions, says how to get them", async () => {
    const box = await sandbox();
    expect((await box.cli(["trigger", "quick", "-c", CONTROL])).code).toBe(0);
    const r = await box.cli(["explain", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no sluice\.config\.ts here or in a parent folder, and the store has no recorded definitions/);
  });
});

describe("trigger --wait with no scheduler says what else it runs", () => {
  it("names the runs already waiting in the store", async () => {
    const box = await sandbox();
    expect((await box.cli(["trigger", "blocked", "-c", CONTROL])).code).toBe(0);
    const r = await box.cli(["trigger", "quick", "-c", CONTROL, "--wait"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/this process runs the new run and also 1 run\(s\) already waiting in the store: 1 \(blocked\)/);
    expect(r.stderr).not.toMatch(/"pipeline":null/);
  });
});

describe("signals", () => {
  it("once a drain has begun (--for), the first Ctrl-C exits at once", async () => {
    const box = await sandbox();
    expect((await box.cli(["trigger", "hog", "-c", CONTROL])).code).toBe(0);
    const run = box.start(["run", CONTROL, "--for", "1s", "--shutdown-timeout", "30s"]);
    await run.waitForLog((l) => l.msg.startsWith("--for 1s: stopping"), "the drain to begin");
    const at = Date.now();
    run.kill("SIGINT");
    const r = await run.exited;
    expect(r.code).toBe(130);
    expect(Date.now() - at).toBeLessThan(5_000);
  });
});

describe("small untruths", () => {
  it("a task's own log field named like a bound one goes under `fields`, never twice in one line", async () => {
    const box = await sandbox();
    const r = await box.cli(["trigger", "logs", "-c", fixture("logs"), "--wait"]);
    expect(r.code, r.stderr).toBe(0);
    const line = r.stderr.split("\n").find((l) => l.includes('"own fields"'));
    expect(line).toBeDefined();
    expect(line?.replace(/"fields":\{[^}]*\}/, "").match(/"attempt":/g)).toHaveLength(1);
    expect(JSON.parse(line as string)).toMatchObject({ attempt: 1, rows: 3, fields: { attempt: "mine" } });
  });

  it("history --run and runs --pipeline name what does not exist (exit 2)", async () => {
    const box = await sandbox();
    expect((await box.cli(["trigger", "quick", "-c", CONTROL, "--wait"])).code).toBe(0);
    // Read-only, all three at once.
    const [h, r, one] = await Promise.all([box.cli(["history", "--run", "4"]), box.cli(["runs", "--pipeline", "nope"]), box.json<AttemptRecord[]>(["history", "--run", "1"])]);
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/^sluice: run 4 does not exist/);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice: no runs of a pipeline "nope" in this store; it knows: quick/);
    expect(one).toHaveLength(1);
  });

  it("a config with no pipelines is valid but warned about", async () => {
    const r = await sluice(["inspect", `${DEFS}empty.config.ts`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: pipelines: the config has no pipelines, so Sluice has nothing to run/);
    await sleep(1);
  });
});
