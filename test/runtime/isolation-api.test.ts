/**
 * Isolation from the programmatic API, with Sluice running from its TypeScript source (the child
 * program is `src/worker/isolation/child.ts`, started through tsx): `start()` needs the config's
 * file for isolated tasks, and a thread and a child process load it and report back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defineConfig, pipeline, start } from "../../src/index.js";
import { fixture } from "../cli/helpers.js";
import config from "../fixtures/runtime/isolation.config.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-iso-api-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("start() with isolated tasks", () => {
  it("refuses to start without the config's file, naming the tasks and the option", async () => {
    const etl = pipeline("etl");
    etl.task("heavy", { isolation: "process", memoryMb: 256 }, () => 1);
    await expect(start({ config: defineConfig({ pipelines: [etl] }), db: ":memory:", logger: false })).rejects.toMatchObject({
      code: "SLUICE_BAD_OPTION",
      message: expect.stringMatching(/tasks etl\.heavy \(process\) run isolated.*start\(\{ config, configFile: "path\/to\/sluice\.config\.ts" \}\)/),
    });
  });

  it("runs a child process and a thread from the source tree, with their output, errors and peak memory; a child that exits without a result fails its attempt", { timeout: 60_000 }, async () => {
    const sluice = await start({ config, configFile: fixture("isolation"), db: `file:${join(dir, "s.db")}`, logger: false, schedules: false });
    try {
      const run = await sluice.waitForRun(await sluice.trigger("ctx", { params: { day: "2026-11-25" } }));
      expect(run.state).toBe("failed");
      const attempts = Object.fromEntries((await sluice.listAttempts({ runId: run.id })).map((a) => [a.task, a]));
      expect(attempts.echo?.state).toBe("success");
      expect((await sluice.listTasks(run.id)).find((t) => t.task === "echo")?.output).toEqual({ day: "2026-11-25", rows: 6 });
      expect(attempts.fails?.error).toMatchObject({ message: "the partner API said no", code: "E_PARTNER" });
      for (const task of ["echo", "fails", "first", "verify"]) expect(attempts[task]?.peakMemoryBytes, task).toBeTypeOf("number");

      // A child that exits without a result fails its attempt; this process (the worker) goes on.
      const crashed = await sluice.waitForRun(await sluice.trigger("crash"));
      expect(crashed.state).toBe("failed");
      const [exits] = await sluice.listAttempts({ runId: crashed.id });
      expect(exits?.error).toMatchObject({ code: "SLUICE_ISOLATION_CRASHED", message: expect.stringMatching(/the child process exited \(code 3\) before reporting a result/) });
    } finally {
      await sluice.stop({ timeout: "5s" });
    }
  });
});
